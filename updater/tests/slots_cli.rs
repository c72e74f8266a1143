//! `fotad-update` slot subcommands end to end on plain files: a GRUB environment
//! block checked with the real `grub-editenv`, a config root in a temporary
//! directory, and `simulate-boot` standing in for the reboots.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{run_tool, s};
use fotad_updater::cli::slots::load_settings;
use fotad_updater::lifecycle::Lifecycle;
use fotad_updater::slot::record::SlotContent;
use serde_json::Value;

struct Device {
    _dir: tempfile::TempDir,
    root: PathBuf,
    grubenv: PathBuf,
}

fn device() -> Device {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let p = |n: &str| root.join(n);
    std::fs::create_dir_all(p("etc/fotad")).unwrap();
    std::fs::write(p("cmdline"), "console=ttyS0 fotad.slot=A\n").unwrap();
    for img in ["slot-a.img", "slot-b.img"] {
        std::fs::write(p(img), vec![0u8; 4096]).unwrap();
    }
    let grubenv = p("grubenv");
    run_tool("grub-editenv", &[s(&grubenv), "create"], "grub-common");
    let toml = format!(
        "[updater]\nstate_dir = {:?}\ncmdline = {:?}\ntries = 2\n\n[bootloader]\nbackend = \"grub\"\ngrubenv = {:?}\n\n\
         [slots.A]\nrootfs = {:?}\n[slots.B]\nrootfs = {:?}\n",
        p("state"), p("cmdline"), grubenv, p("slot-a.img"), p("slot-b.img")
    );
    std::fs::write(p("etc/fotad/fotad.toml"), toml).unwrap();
    Device { _dir: dir, root, grubenv }
}

fn cli(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fotad-update")).arg("--config-root").arg(root).args(args).output().unwrap()
}

fn ok(root: &Path, args: &[&str]) -> String {
    let out = cli(root, args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn status(root: &Path) -> Value {
    serde_json::from_str(&ok(root, &["status", "--json"])).unwrap()
}

fn grub_list(dev: &Device) -> String {
    run_tool("grub-editenv", &[s(&dev.grubenv), "list"], "grub-common")
}

#[test]
fn status_shows_factory_state_and_activate_refuses_a_bad_slot() {
    let dev = device();
    let st = status(&dev.root);
    assert_eq!(st["booted"], "A");
    assert_eq!(st["primary"], "A");
    assert_eq!(st["slots"][0]["state"]["state"], "good");
    assert_eq!(st["slots"][1]["state"]["state"], "bad");
    let text = ok(&dev.root, &["status"]);
    assert!(text.contains("booted:     A") && text.contains("slot B:     bad"), "{text}");
    let out = cli(&dev.root, &["activate"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("activating slot B") && err.contains("marked bad"), "{err}");
}

#[test]
fn install_boot_mark_good_then_roll_back_with_mark_bad() {
    let dev = device();
    // What `fotad-update install` will do around the installer.
    let settings = load_settings(&dev.root).unwrap();
    let mut lc = Lifecycle::open(&settings).unwrap();
    let target = lc.prepare_target().unwrap();
    assert_eq!(target.images["rootfs"].target, dev.root.join("slot-b.img"));
    assert_eq!(target.images["rootfs"].source, Some(dev.root.join("slot-a.img")));
    assert!(grub_list(&dev).contains("B_OK=0\nB_TRY=0"));
    lc.activate(target.slot, settings.tries, Some(&SlotContent::new("2.0", 1))).unwrap();
    assert!(grub_list(&dev).contains("ORDER=B A"));
    assert_eq!(ok(&dev.root, &["check-boot"]).trim(), "update to slot B activated, not booted yet");

    assert_eq!(ok(&dev.root, &["simulate-boot"]).trim(), "booted slot B");
    assert!(grub_list(&dev).contains("B_TRY=1"), "one try spent");
    let check: Value = serde_json::from_str(&ok(&dev.root, &["check-boot", "--json"])).unwrap();
    assert_eq!(check["boot"], "booted-new");
    let out = ok(&dev.root, &["mark-good"]);
    assert!(out.contains("slot B marked good") && out.contains("Updated"), "{out}");
    let st = status(&dev.root);
    assert_eq!((st["booted"].as_str(), st["primary"].as_str()), (Some("B"), Some("B")));
    assert_eq!(st["slots"][1]["version"], "2.0");
    assert_eq!(st["last_outcome"]["result"], "updated");

    // Roll back by hand: mark the booted slot bad; A (still good) boots next.
    ok(&dev.root, &["mark-bad"]);
    assert!(grub_list(&dev).contains("ORDER=A B"));
    assert_eq!(ok(&dev.root, &["simulate-boot"]).trim(), "booted slot A");
    let out = cli(&dev.root, &["mark-bad", "B"]);
    assert!(out.status.success(), "B is already bad, A is good: allowed");
    let out = cli(&dev.root, &["mark-bad", "A"]);
    assert!(!out.status.success(), "marking the only good slot bad must be refused");
}
