//! `fotad-update install PKG` into the configured inactive slot, end to end on
//! file slots with a GRUB environment read by the real `grub-editenv`: the
//! order of writes (target bad → install → verify → primary in trial), the
//! copy of image classes the package does not carry, a refused package never
//! activating anything, then boots (simulated by the shipped scripts' rule),
//! mark-good, and a fallback when the new slot never confirms.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{evolve, image, run_tool, s, Device};
use fotad_updater::delta::ImageInput;

struct Rig {
    dev: Device,
    root: PathBuf,
    v1: Vec<u8>,
    v2: Vec<u8>,
    boot: Vec<u8>,
    pkg: PathBuf,
}

fn rig() -> Rig {
    let dev = Device::new();
    let root = dev.path("root");
    std::fs::create_dir_all(root.join("etc/fotad")).unwrap();
    let (v1, boot) = (image(1 << 20, 41), image(300_000, 42));
    let v2 = evolve(&v1, 43);
    dev.write("rootfs-a.img", &v1);
    dev.write("boot-a.img", &boot);
    dev.write("rootfs-b.img", &common::noise(1 << 20, 44));
    dev.write("boot-b.img", &common::noise(300_000, 45));
    dev.write("cmdline", b"console=ttyS0 fotad.slot=A\n");
    run_tool("grub-editenv", &[s(&dev.path("grubenv")), "create"], "grub-common");
    let p = |n: &str| dev.path(n);
    let toml = format!(
        "[updater]\ncompatible = \"acme,gw-1\"\nkeys_dir = {:?}\nstate_dir = {:?}\ncmdline = {:?}\ntries = 2\n\n\
         [bootloader]\nbackend = \"grub\"\ngrubenv = {:?}\n\n\
         [slots.A]\nrootfs = {:?}\nboot = {:?}\n[slots.B]\nrootfs = {:?}\nboot = {:?}\n",
        p("keys"),
        p("state"),
        p("cmdline"),
        p("grubenv"),
        p("rootfs-a.img"),
        p("boot-a.img"),
        p("rootfs-b.img"),
        p("boot-b.img")
    );
    std::fs::write(root.join("etc/fotad/fotad.toml"), toml).unwrap();
    let new_path = dev.write("v2.img", &v2);
    let spec = dev.spec(vec![("rootfs", ImageInput::Delta { target: new_path, source: p("rootfs-a.img") })]);
    let pkg = dev.pack(&spec, "v2.fota");
    Rig { dev, root, v1, v2, boot, pkg }
}

fn cli(root: &Path, args: &[&str]) -> Output {
    let out =
        Command::new(env!("CARGO_BIN_EXE_fotad-update")).arg("--config-root").arg(root).args(args).output().unwrap();
    eprintln!("{args:?}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    out
}

fn ok(root: &Path, args: &[&str]) -> String {
    let out = cli(root, args);
    assert!(out.status.success(), "{args:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

fn grub(r: &Rig) -> String {
    run_tool("grub-editenv", &[s(&r.dev.path("grubenv")), "list"], "grub-common")
}

fn status(r: &Rig) -> serde_json::Value {
    serde_json::from_str(&ok(&r.root, &["status", "--json"])).unwrap()
}

#[test]
fn install_activates_the_inactive_slot_then_boot_and_mark_good_confirm_it() {
    let r = rig();
    let out = ok(&r.root, &["install", s(&r.pkg)]);
    assert!(out.contains("slot B is primary for 2 trial boots"), "{out}");
    assert_eq!(std::fs::read(r.dev.path("rootfs-b.img")).unwrap(), r.v2);
    assert_eq!(std::fs::read(r.dev.path("boot-b.img")).unwrap(), r.boot, "boot image not copied to slot B");
    assert_eq!(std::fs::read(r.dev.path("rootfs-a.img")).unwrap(), r.v1, "booted slot written");
    let env = grub(&r);
    assert!(env.contains("ORDER=B A") && env.contains("B_OK=0") && env.contains("B_TRY=2"), "{env}");
    assert!(env.contains("A_OK=1"), "{env}");

    ok(&r.root, &["simulate-boot"]);
    assert!(std::fs::read_to_string(r.dev.path("cmdline")).unwrap().contains("fotad.slot=B"));
    ok(&r.root, &["mark-good"]);
    let st = status(&r);
    assert_eq!(st["booted"], "B");
    assert_eq!(st["last_outcome"]["result"], "updated", "{st}");
    assert!(grub(&r).contains("B_OK=1"));
}

#[test]
fn new_slot_that_never_confirms_falls_back_and_is_reported() {
    let r = rig();
    ok(&r.root, &["install", s(&r.pkg)]);
    for _ in 0..3 {
        ok(&r.root, &["simulate-boot"]); // the new slot comes up but never reaches mark-good
    }
    assert!(std::fs::read_to_string(r.dev.path("cmdline")).unwrap().contains("fotad.slot=A"));
    let check: serde_json::Value = serde_json::from_str(&ok(&r.root, &["check-boot", "--json"])).unwrap();
    assert_eq!(check["result"], "fell-back", "{check}");
}

#[test]
fn refused_package_activates_nothing() {
    let r = rig();
    let mut bytes = std::fs::read(&r.pkg).unwrap();
    let at = bytes.len() - 50;
    bytes[at] ^= 0xff;
    let bad = r.dev.write("bad.fota", &bytes);
    let out = cli(&r.root, &["install", s(&bad)]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("install failed (corrupt)"));
    let env = grub(&r);
    assert!(env.contains("ORDER=A") && !env.contains("ORDER=B"), "{env}");
    assert!(env.contains("B_OK=0") && env.contains("B_TRY=0"), "slot B not left bad: {env}");
    assert_eq!(status(&r)["primary"], "A");
}
