//! GPT slot discovery and the ChromeOS attribute backend against the real `sgdisk`
//! and `cgpt`, both ways, on a disk image made here; and a torn table copy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use common::{run_tool, s};
use fotad_updater::boot::gpt::GptAttrs;
use fotad_updater::boot::{Backend, BootState, SlotState};
use fotad_updater::slot::{gpt, Slot};

/// A 64 MiB disk image: 1 boot_a, 2 boot_b, 3 rootfs_a, 4 rootfs_b, 5 data.
fn disk(dir: &Path) -> PathBuf {
    let img = dir.join("disk.img");
    std::fs::File::create(&img).unwrap().set_len(64 << 20).unwrap();
    run_tool(
        "sgdisk",
        &[
            "-n",
            "1:2048:+4M",
            "-c",
            "1:boot_a",
            "-n",
            "2:0:+4M",
            "-c",
            "2:boot_b",
            "-n",
            "3:0:+16M",
            "-c",
            "3:rootfs_a",
            "-n",
            "4:0:+16M",
            "-c",
            "4:rootfs_b",
            "-n",
            "5:0:+4M",
            "-c",
            "5:data",
            s(&img),
        ],
        "gdisk",
    );
    img
}

fn cgpt_attr(img: &Path, part: u32, flag: &str) -> u32 {
    let out = run_tool("cgpt", &["show", "-i", &part.to_string(), flag, s(img)], "cgpt");
    out.trim().parse().unwrap()
}

fn cgpt_triplet(img: &Path, part: u32) -> (u32, u32, u32) {
    (cgpt_attr(img, part, "-P"), cgpt_attr(img, part, "-T"), cgpt_attr(img, part, "-S"))
}

fn assert_both_copies_valid(img: &Path) {
    let out = run_tool("sgdisk", &["-v", s(img)], "gdisk");
    assert!(out.contains("No problems found"), "sgdisk -v: {out}");
}

#[test]
fn slots_are_discovered_by_partition_label() {
    let d = tempfile::tempdir().unwrap();
    let img = disk(d.path());
    let slots = gpt::discover(&img).unwrap();
    let a = slots.get(Slot::A);
    assert_eq!(a.keys().collect::<Vec<_>>(), ["boot", "rootfs"]);
    assert_eq!(a["rootfs"].device, gpt::partition_device(&img, 3));
    assert_eq!(slots.get(Slot::B)["boot"].label.as_deref(), Some("boot_b"));
    let info = run_tool("sgdisk", &["-i", "4", s(&img)], "gdisk");
    let uuid = slots.get(Slot::B)["rootfs"].partuuid.clone().unwrap();
    assert!(info.to_lowercase().contains(&uuid.to_lowercase()), "{info} lacks {uuid}");
}

#[test]
fn cgpt_reads_the_attributes_we_write_and_both_copies_stay_valid() {
    let d = tempfile::tempdir().unwrap();
    let img = disk(d.path());
    let be = GptAttrs::discover(&img).unwrap();
    assert_eq!(be.partitions, (3, 4));
    be.write(&BootState { primary: Some(Slot::B), a: SlotState::Good, b: SlotState::Trial { tries_left: 3 } }).unwrap();
    assert_eq!(cgpt_triplet(&img, 3), (1, 0, 1));
    assert_eq!(cgpt_triplet(&img, 4), (2, 3, 0));
    assert_both_copies_valid(&img);
    let sg = run_tool("sgdisk", &["-i", "4", s(&img)], "gdisk");
    assert!(sg.contains("Attribute flags: 0032000000000000"), "{sg}");
    be.write(&BootState { primary: Some(Slot::A), a: SlotState::Good, b: SlotState::Bad }).unwrap();
    assert_eq!(cgpt_triplet(&img, 3), (2, 0, 1));
    assert_eq!(cgpt_triplet(&img, 4), (0, 0, 0));
    assert_both_copies_valid(&img);
}

#[test]
fn attributes_set_by_cgpt_are_read_by_us() {
    let d = tempfile::tempdir().unwrap();
    let img = disk(d.path());
    run_tool("cgpt", &["add", "-i", "3", "-P", "1", "-T", "0", "-S", "1", s(&img)], "cgpt");
    run_tool("cgpt", &["add", "-i", "4", "-P", "2", "-T", "5", "-S", "0", s(&img)], "cgpt");
    let st = GptAttrs::discover(&img).unwrap().read().unwrap();
    assert_eq!(st, BootState { primary: Some(Slot::B), a: SlotState::Good, b: SlotState::Trial { tries_left: 5 } });
    run_tool("cgpt", &["add", "-i", "4", "-P", "0", "-T", "0", "-S", "0", s(&img)], "cgpt");
    let st = GptAttrs::discover(&img).unwrap().read().unwrap();
    assert_eq!((st.primary, st.b), (Some(Slot::A), SlotState::Bad));
}

#[test]
fn torn_primary_table_falls_back_to_the_backup_and_is_repaired_by_the_next_write() {
    let d = tempfile::tempdir().unwrap();
    let img = disk(d.path());
    let be = GptAttrs::discover(&img).unwrap();
    let trial = BootState { primary: Some(Slot::B), a: SlotState::Good, b: SlotState::Trial { tries_left: 2 } };
    be.write(&trial).unwrap();
    // A torn write of the primary entry array: its CRC no longer matches.
    let mut f = OpenOptions::new().write(true).open(&img).unwrap();
    f.seek(SeekFrom::Start(2 * 512 + 3 * 128 + 40)).unwrap();
    f.write_all(&[0xaa; 100]).unwrap();
    drop(f);
    assert_eq!(be.read().unwrap(), trial, "read from the backup copy");
    be.write(&BootState { primary: Some(Slot::B), a: SlotState::Good, b: SlotState::Good }).unwrap();
    assert_both_copies_valid(&img);
    assert_eq!(cgpt_triplet(&img, 4), (2, 0, 1));
}
