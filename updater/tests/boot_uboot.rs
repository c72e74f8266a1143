//! The U-Boot backend against the real `fw_printenv` / `fw_setenv` (libubootenv),
//! single and redundant environments, torn writes, both ways.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use common::{run_tool, s};
use fotad_updater::boot::uboot::UBoot;
use fotad_updater::boot::{Backend, BootState, SlotState};
use fotad_updater::slot::Slot;

const SIZE: usize = 0x4000;

/// A blank environment device (one file) and its fw_env.config.
fn setup(dir: &Path, redundant: bool) -> (PathBuf, PathBuf) {
    let dev = dir.join("uboot-env.bin");
    std::fs::write(&dev, vec![0xffu8; 2 * SIZE]).unwrap();
    let mut config = format!("{} 0x0 {SIZE:#x}\n", s(&dev));
    if redundant {
        config.push_str(&format!("{} {SIZE:#x} {SIZE:#x}\n", s(&dev)));
    }
    let cfg = dir.join("fw_env.config");
    std::fs::write(&cfg, config).unwrap();
    (dev, cfg)
}

fn printenv(cfg: &Path) -> BTreeMap<String, String> {
    run_tool("fw_printenv", &["-c", s(cfg)], "libubootenv-tool")
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn trial_b() -> BootState {
    BootState { primary: Some(Slot::B), a: SlotState::Good, b: SlotState::Trial { tries_left: 3 } }
}

fn assert_vars(vars: &BTreeMap<String, String>, want: &[(&str, &str)]) {
    for (k, v) in want {
        assert_eq!(vars.get(*k).map(String::as_str), Some(*v), "{k} in {vars:?}");
    }
}

#[test]
fn fw_printenv_reads_our_single_and_redundant_environments() {
    for redundant in [false, true] {
        let d = tempfile::tempdir().unwrap();
        let (_, cfg) = setup(d.path(), redundant);
        let ub = UBoot::new(&cfg);
        ub.write(&trial_b()).unwrap();
        let vars = printenv(&cfg);
        assert_vars(&vars, &[("BOOT_ORDER", "B A"), ("BOOT_A_OK", "1"), ("BOOT_B_OK", "0"), ("BOOT_B_LEFT", "3")]);
        let bad_a = BootState { primary: Some(Slot::B), a: SlotState::Bad, b: SlotState::Good };
        ub.write(&bad_a).unwrap();
        assert_vars(&printenv(&cfg), &[("BOOT_ORDER", "B"), ("BOOT_A_LEFT", "0"), ("BOOT_B_OK", "1")]);
        assert_eq!(ub.read().unwrap(), bad_a, "redundant={redundant}");
    }
}

#[test]
fn torn_write_of_one_redundant_copy_leaves_the_previous_state() {
    let d = tempfile::tempdir().unwrap();
    let (dev, cfg) = setup(d.path(), true);
    let ub = UBoot::new(&cfg);
    ub.write(&BootState::FACTORY).unwrap(); // copy 0
    ub.write(&trial_b()).unwrap(); // copy 1, newer
    assert_vars(&printenv(&cfg), &[("BOOT_ORDER", "B A")]);
    // Tear the newer copy: half of its data overwritten, CRC no longer matches.
    let mut f = OpenOptions::new().write(true).open(&dev).unwrap();
    f.seek(SeekFrom::Start(SIZE as u64 + 5)).unwrap();
    f.write_all(&vec![0x55u8; SIZE / 2]).unwrap();
    drop(f);
    assert_vars(&printenv(&cfg), &[("BOOT_ORDER", "A"), ("BOOT_A_OK", "1"), ("BOOT_B_OK", "0")]);
    assert_eq!(ub.read().unwrap(), BootState::FACTORY);
    // The next write goes over the torn copy and wins again.
    ub.write(&trial_b()).unwrap();
    assert_vars(&printenv(&cfg), &[("BOOT_ORDER", "B A"), ("BOOT_B_LEFT", "3")]);
}

#[test]
fn state_set_by_fw_setenv_is_read_by_us_and_our_writes_follow_its_copies() {
    for redundant in [false, true] {
        let d = tempfile::tempdir().unwrap();
        let (_, cfg) = setup(d.path(), redundant);
        let ub = UBoot::new(&cfg);
        ub.write(&BootState::FACTORY).unwrap();
        let set = |k: &str, v: &str| run_tool("fw_setenv", &["-c", s(&cfg), k, v], "libubootenv-tool");
        set("BOOT_ORDER", "B A");
        set("BOOT_B_OK", "0");
        set("BOOT_B_LEFT", "2");
        set("bootdelay", "1");
        assert_eq!(
            ub.read().unwrap(),
            BootState { primary: Some(Slot::B), a: SlotState::Good, b: SlotState::Trial { tries_left: 2 } }
        );
        ub.write(&BootState { primary: Some(Slot::B), a: SlotState::Good, b: SlotState::Good }).unwrap();
        assert_vars(&printenv(&cfg), &[("BOOT_B_OK", "1"), ("bootdelay", "1")]);
    }
}
