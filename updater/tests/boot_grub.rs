//! The GRUB backend against the real `grub-editenv`, both ways, and the shipped
//! grub.cfg against `grub-script-check`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{run_tool, s};
use fotad_updater::boot::grub::Grub;
use fotad_updater::boot::{Backend, BootState, Bootloader, SlotState};
use fotad_updater::slot::Slot;

fn editenv(args: &[&str]) -> String {
    run_tool("grub-editenv", args, "grub-common")
}

#[test]
fn grub_editenv_lists_what_we_write_and_keeps_its_variables() {
    let d = tempfile::tempdir().unwrap();
    let env = d.path().join("grubenv");
    editenv(&[s(&env), "create"]);
    editenv(&[s(&env), "set", "saved_entry=linux"]);
    let mut boot = Bootloader::open(Box::new(Grub::new(&env))).unwrap();
    assert_eq!(boot.state(), BootState::FACTORY, "no ORDER yet: factory state");
    boot.set_primary(Slot::B);
    boot.set_slot_state(Slot::B, SlotState::Trial { tries_left: 3 }).unwrap();
    boot.write().unwrap();
    let listed = editenv(&[s(&env), "list"]);
    let mut lines: Vec<&str> = listed.lines().collect();
    lines.sort();
    assert_eq!(lines, ["A_OK=1", "A_TRY=0", "B_OK=0", "B_TRY=3", "ORDER=B A", "saved_entry=linux"]);
    assert_eq!(std::fs::metadata(&env).unwrap().len(), 1024, "block size kept");
}

#[test]
fn state_set_by_grub_editenv_is_read_by_us() {
    let d = tempfile::tempdir().unwrap();
    let env = d.path().join("grubenv");
    editenv(&[s(&env), "create"]);
    editenv(&[s(&env), "set", "ORDER=B A", "A_OK=0", "A_TRY=0", "B_OK=1", "B_TRY=0"]);
    let st = Grub::new(&env).read().unwrap();
    assert_eq!(st, BootState { primary: Some(Slot::B), a: SlotState::Bad, b: SlotState::Good });
    editenv(&[s(&env), "set", "A_TRY=2"]);
    assert_eq!(Grub::new(&env).read().unwrap().a, SlotState::Trial { tries_left: 2 });
}

#[test]
fn shipped_grub_cfg_passes_grub_script_check() {
    let cfg = concat!(env!("CARGO_MANIFEST_DIR"), "/../yocto/meta-fotad/recipes-bsp/grub/files/grub.cfg");
    run_tool("grub-script-check", &[cfg], "grub-common");
}

#[test]
fn shipped_grub_cfg_spends_tries_only_in_trial() {
    // The decrement chain must never touch a confirmed slot: every save_env of a
    // try counter sits in a branch reached only when OK is not 1.
    let cfg = include_str!("../../yocto/meta-fotad/recipes-bsp/grub/files/grub.cfg");
    for slot in ["A", "B"] {
        let ok_check = format!("if [ \"${{{slot}_OK}}\" = \"1\" ]; then\n");
        let start = cfg.find(&ok_check).expect("OK check present");
        let next = &cfg[start + ok_check.len()..];
        let first_line = next.lines().next().unwrap().trim();
        assert_eq!(first_line, format!("set fotad_slot={slot}"), "good slot boots without spending");
        for n in 1..=9 {
            assert!(next.contains(&format!("= \"{n}\" ]; then\n                set {slot}_TRY={}", n - 1)));
        }
    }
}
