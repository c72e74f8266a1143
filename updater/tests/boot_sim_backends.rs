//! Every real backend follows the simulator's selection rule when a boot is
//! simulated on it (`sim::boot_once`), as the real tools read the result: a slot
//! in trial spends one try per boot, a confirmed slot none.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{run_tool, s};
use fotad_updater::boot::gpt::GptAttrs;
use fotad_updater::boot::grub::Grub;
use fotad_updater::boot::sim::{boot_once, Selection};
use fotad_updater::boot::uboot::UBoot;
use fotad_updater::boot::{Backend, BootState, SlotState};
use fotad_updater::slot::Slot;

const TRIAL_B: BootState =
    BootState { primary: Some(Slot::B), a: SlotState::Good, b: SlotState::Trial { tries_left: 2 } };

/// Boots three times from TRIAL_B: B, B, then A; `tries_b` reads B's tries with
/// the real tool after each boot.
fn assert_two_tries_then_fallback(backend: &dyn Backend, tries_b: &dyn Fn() -> String) {
    backend.write(&TRIAL_B).unwrap();
    assert_eq!(boot_once(backend).unwrap(), Selection::Boot(Slot::B));
    assert_eq!(tries_b(), "1");
    assert_eq!(boot_once(backend).unwrap(), Selection::Boot(Slot::B));
    assert_eq!(tries_b(), "0");
    for _ in 0..3 {
        assert_eq!(boot_once(backend).unwrap(), Selection::Boot(Slot::A), "confirmed A boots");
    }
    let st = backend.read().unwrap();
    assert_eq!(st.a, SlotState::Good, "confirmed slot never spends tries");
    assert!(!st.b.bootable());
}

fn grub_var(env: &Path, name: &str) -> String {
    let list = run_tool("grub-editenv", &[s(env), "list"], "grub-common");
    list.lines().find_map(|l| l.strip_prefix(&format!("{name}="))).unwrap().to_string()
}

#[test]
fn grub_backend_follows_the_rule() {
    let d = tempfile::tempdir().unwrap();
    let env = d.path().join("grubenv");
    run_tool("grub-editenv", &[s(&env), "create"], "grub-common");
    assert_two_tries_then_fallback(&Grub::new(&env), &|| grub_var(&env, "B_TRY"));
}

#[test]
fn uboot_backend_follows_the_rule() {
    let d = tempfile::tempdir().unwrap();
    let dev = d.path().join("env.bin");
    std::fs::write(&dev, vec![0u8; 0x4000]).unwrap();
    let cfg = d.path().join("fw_env.config");
    std::fs::write(&cfg, format!("{} 0x0 0x2000\n{} 0x2000 0x2000\n", s(&dev), s(&dev))).unwrap();
    let tries =
        || run_tool("fw_printenv", &["-c", s(&cfg), "-n", "BOOT_B_LEFT"], "libubootenv-tool").trim().to_string();
    assert_two_tries_then_fallback(&UBoot::new(&cfg), &tries);
}

#[test]
fn gpt_backend_follows_the_rule() {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("disk.img");
    std::fs::File::create(&img).unwrap().set_len(16 << 20).unwrap();
    let parts = ["-n", "1:2048:+4M", "-c", "1:rootfs_a", "-n", "2:0:+4M", "-c", "2:rootfs_b", s(&img)];
    run_tool("sgdisk", &parts, "gdisk");
    let tries = || run_tool("cgpt", &["show", "-i", "2", "-T", s(&img)], "cgpt").trim().to_string();
    assert_two_tries_then_fallback(&GptAttrs::discover(&img).unwrap(), &tries);
}
