//! The shipped `grub.cfg` run by real GRUB (`grub-emu`, the GRUB emulator) on an
//! ext4 image holding the environment block: from every boot state, GRUB picks the
//! slot the simulator picks and saves the same spent try.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{run_tool, s};
use fotad_updater::boot::grub::Grub;
use fotad_updater::boot::sim::{select, Selection};
use fotad_updater::boot::{Backend, BootState, SlotState};
use fotad_updater::slot::Slot;

const GRUB_CFG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../yocto/meta-fotad/recipes-bsp/grub/files/grub.cfg");

/// Boots grub-emu once over `dir/disk.img`; returns the slot grub.cfg chose.
fn grub_boot(dir: &Path) -> String {
    grub_eval(dir, "", "${fotad_slot}")
}

/// Runs grub.cfg in grub-emu over `dir/disk.img` after `preamble`, then prints
/// `expr` and halts before booting.
fn grub_eval(dir: &Path, preamble: &str, expr: &str) -> String {
    std::fs::write(dir.join("device.map"), format!("(hd0) {}\n", s(&dir.join("disk.img")))).unwrap();
    let cfg = format!(
        "set fotad_env=(hd0)/grubenv\n{preamble}\nsource (host){GRUB_CFG}\necho \"FOTAD_SLOT={expr}|\"\nhalt\n"
    );
    std::fs::write(dir.join("grub.cfg"), cfg).unwrap();
    let out = Command::new("grub-emu")
        .args(["-d", s(dir), "-m", s(&dir.join("device.map"))])
        .stdin(Stdio::null())
        .output()
        .expect("cannot run grub-emu: install the Debian package grub-emu (scripts/test does)");
    let text = String::from_utf8_lossy(&out.stdout);
    let at = text.find("FOTAD_SLOT=").unwrap_or_else(|| panic!("grub.cfg printed no slot: {text:?}"));
    let rest = &text[at + "FOTAD_SLOT=".len()..];
    rest[..rest.find('|').unwrap()].to_string()
}

/// Puts `state` (written by our GRUB backend) on an ext4 image, boots GRUB on it,
/// returns GRUB's choice and the state it saved (read back with our backend).
fn boot_from(state: Option<BootState>) -> (String, BootState, BootState) {
    let d = disk_with(state);
    let chosen = grub_boot(d.path());
    let after_env = d.path().join("grubenv.after");
    run_tool(
        "debugfs",
        &["-R", &format!("dump /grubenv {}", s(&after_env)), s(&d.path().join("disk.img"))],
        "e2fsprogs",
    );
    let before = Grub::new(d.path().join("fs/grubenv")).read().unwrap();
    (chosen, before, Grub::new(&after_env).read().unwrap())
}

/// A directory with `disk.img`: an ext4 image holding `grubenv` (`state` written by our backend).
fn disk_with(state: Option<BootState>) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let fs = d.path().join("fs");
    std::fs::create_dir(&fs).unwrap();
    let env = fs.join("grubenv");
    run_tool("grub-editenv", &[s(&env), "create"], "grub-common");
    if let Some(st) = state {
        Grub::new(&env).write(&st).unwrap();
    }
    let img = d.path().join("disk.img");
    run_tool("mkfs.ext4", &["-q", "-F", "-d", s(&fs), s(&img), "8M"], "e2fsprogs");
    d
}

/// GRUB's variables cannot tell a trial with no tries left from bad (`OK=0
/// TRY=0` both): both never boot.
fn as_grub_encodes(mut st: BootState) -> BootState {
    for slot in Slot::ALL {
        if st.get(slot) == (SlotState::Trial { tries_left: 0 }) {
            st.set(slot, SlotState::Bad);
        }
    }
    st
}

const SLOT_STATES: &[SlotState] = &[
    SlotState::Good,
    SlotState::Bad,
    SlotState::Trial { tries_left: 1 },
    SlotState::Trial { tries_left: 2 },
    SlotState::Trial { tries_left: 9 },
];

#[test]
fn real_grub_selects_like_the_simulator_from_every_state() {
    for state in common::all_states(SLOT_STATES) {
        let (chosen, before, after) = boot_from(Some(state));
        let mut expected = before;
        let want = match select(&mut expected) {
            Selection::Boot(s) | Selection::Rescue(s) => s,
        };
        assert_eq!(chosen, want.name(), "slot chosen from {before:?}");
        assert_eq!(after, as_grub_encodes(expected), "state saved by GRUB from {before:?}");
    }
}

#[test]
fn real_grub_boots_a_from_the_factory_environment_without_writing() {
    let (chosen, before, after) = boot_from(None);
    assert_eq!(chosen, "A");
    assert_eq!((before, after), (BootState::FACTORY, BootState::FACTORY));
}

#[test]
fn real_grub_boots_the_slot_partition_by_number_on_the_disk_grub_came_from() {
    let d = disk_with(Some(BootState { primary: Some(Slot::B), a: SlotState::Good, b: SlotState::Good }));
    let dev = "${fotad_dev} ${fotad_kernel} [${fotad_initrd}]";
    // The disk from ${cmdpath} (EFI: the ESP's device), partitions 2 and 3 by default.
    // /boot/vmlinuz by default, with /boot/initrd.img only when the slot has
    // one: this disk has no partition 3, so none (the QEMU tests boot Debian's
    // kernel with its initramfs through the same default).
    let got = grub_eval(d.path(), "set cmdpath=(hd0,gpt1)/EFI/BOOT", dev);
    assert_eq!(got, "(hd0,3) /boot/vmlinuz []", "the default kernel, and no initramfs where the slot has none");
    let got = grub_eval(d.path(), "set cmdpath=(hd0,gpt1)/EFI/BOOT\nset fotad_part_b=5", "${fotad_dev}");
    assert_eq!(got, "(hd0,5)");
    let yocto = "set fotad_disk=hd0\nset fotad_kernel=/boot/bzImage";
    let got = grub_eval(d.path(), yocto, "${fotad_dev} ${fotad_kernel} [${fotad_initrd}]");
    assert_eq!(got, "(hd0,3) /boot/bzImage []", "a kernel without initramfs");
}

#[test]
fn real_grub_reboots_when_the_chosen_slot_cannot_be_loaded() {
    // The disk has no partition 3: loading slot B fails. GRUB must not sit at
    // its menu (it spent B's try before booting): it says so and reboots, which
    // ends grub-emu.
    let trial = BootState { primary: Some(Slot::B), a: SlotState::Good, b: SlotState::Trial { tries_left: 2 } };
    let d = disk_with(Some(trial));
    let dir = d.path();
    std::fs::write(dir.join("device.map"), format!("(hd0) {}\n", s(&dir.join("disk.img")))).unwrap();
    let cfg = format!("set fotad_env=(hd0)/grubenv\nset cmdpath=(hd0,gpt1)/EFI/BOOT\nsource (host){GRUB_CFG}\n");
    std::fs::write(dir.join("grub.cfg"), cfg).unwrap();
    let out_path = dir.join("out.txt");
    let mut child = Command::new("grub-emu")
        .args(["-d", s(dir), "-m", s(&dir.join("device.map"))])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot run grub-emu: install the Debian package grub-emu (scripts/test does)");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let exited = loop {
        if child.try_wait().unwrap().is_some() {
            break true;
        }
        if std::time::Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let out = String::from_utf8_lossy(&std::fs::read(&out_path).unwrap()).into_owned();
    assert!(exited, "GRUB did not reboot within 30 s after failing to load slot B: {out:?}");
    assert!(out.contains("fotad: cannot boot slot B from (hd0,3)/boot/vmlinuz; rebooting"), "{out:?}");
}
