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
    std::fs::write(dir.join("device.map"), format!("(hd0) {}\n", s(&dir.join("disk.img")))).unwrap();
    let cfg =
        format!("set fotad_env=(hd0)/grubenv\nsource (host){GRUB_CFG}\necho \"FOTAD_SLOT=${{fotad_slot}}.\"\nhalt\n");
    std::fs::write(dir.join("grub.cfg"), cfg).unwrap();
    let out = Command::new("grub-emu")
        .args(["-d", s(dir), "-m", s(&dir.join("device.map"))])
        .stdin(Stdio::null())
        .output()
        .expect("cannot run grub-emu: install the Debian package grub-emu (scripts/test does)");
    let text = String::from_utf8_lossy(&out.stdout);
    let at = text.find("FOTAD_SLOT=").unwrap_or_else(|| panic!("grub.cfg printed no slot: {text:?}"));
    let rest = &text[at + "FOTAD_SLOT=".len()..];
    rest[..rest.find('.').unwrap()].to_string()
}

/// Puts `state` (written by our GRUB backend) on an ext4 image, boots GRUB on it,
/// returns GRUB's choice and the state it saved (read back with our backend).
fn boot_from(state: Option<BootState>) -> (String, BootState, BootState) {
    let d = tempfile::tempdir().unwrap();
    let fs = d.path().join("fs");
    std::fs::create_dir(&fs).unwrap();
    let env = fs.join("grubenv");
    run_tool("grub-editenv", &[s(&env), "create"], "grub-common");
    if let Some(st) = state {
        Grub::new(&env).write(&st).unwrap();
    }
    let before = Grub::new(&env).read().unwrap();
    let img = d.path().join("disk.img");
    run_tool("mkfs.ext4", &["-q", "-F", "-d", s(&fs), s(&img), "8M"], "e2fsprogs");
    let chosen = grub_boot(d.path());
    let after_env = d.path().join("grubenv.after");
    run_tool("debugfs", &["-R", &format!("dump /grubenv {}", s(&after_env)), s(&img)], "e2fsprogs");
    (chosen, before, Grub::new(&after_env).read().unwrap())
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
