//! A package made from Debian's `bsdiff` output installs to the same bytes
//! that Debian's `bspatch` produces. Needs the real `bsdiff`/`bspatch`
//! (Debian package bsdiff; scripts/test installs it) and fails if missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::{evolve, image, Device};

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?} (install Debian's bsdiff package): {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bsdiff40_patch_installs_like_debian_bspatch() {
    let dev = Device::new();
    let old = image(3 << 20, 21);
    let mut new = evolve(&old, 22);
    new.extend(common::noise(300_000, 23));
    let (old_path, new_path) = (dev.write("old.img", &old), dev.write("new.img", &new));
    let (patch, patched) = (dev.path("p.bsdiff"), dev.path("bspatched.img"));
    run(Command::new("bsdiff").args([&old_path, &new_path, &patch]));
    run(Command::new("bspatch").args([&old_path, &patched, &patch]));

    let tool = env!("CARGO_BIN_EXE_fotad-update");
    let pkg = dev.path("from-bsdiff.fota");
    let bsdiff_arg = format!("rootfs={}", patch.display());
    let source_arg = format!("rootfs={}", old_path.display());
    run(Command::new(tool)
        .args(["pack", "--compatible", "acme,gw-1", "--version", "2.0.0", "--op-size", "262144", "--key"])
        .arg(dev.path("release.key"))
        .args(["--bsdiff40", &bsdiff_arg, "--source", &source_arg, "-o"])
        .arg(&pkg));
    let target = dev.path("slot-b.img");
    run(Command::new(tool)
        .arg("install")
        .arg(&pkg)
        .args(["--compatible", "acme,gw-1", "--keys"])
        .arg(dev.path("keys"))
        .arg("--state-dir")
        .arg(dev.path("state"))
        .arg(format!("--target=rootfs={}", target.display()))
        .arg(format!("--source=rootfs={}", old_path.display())));
    let expected = std::fs::read(&patched).unwrap();
    assert_eq!(expected, new, "Debian's bspatch did not reproduce the new image");
    assert_eq!(std::fs::read(&target).unwrap(), expected);
    let (pkg_size, patch_size) = (std::fs::metadata(&pkg).unwrap().len(), std::fs::metadata(&patch).unwrap().len());
    assert!(pkg_size < patch_size * 2 + 64 * 1024, "package {pkg_size} bytes from a {patch_size}-byte patch");
}

#[test]
fn corrupt_bsdiff40_patch_is_a_clear_error() {
    let dev = Device::new();
    let old_path = dev.write("old.img", &image(100_000, 24));
    let patch = dev.write("bad.bsdiff", b"BSDIFF40\x10\0\0\0\0\0\0\0\x10\0\0\0\0\0\0\0\x10\0\0\0\0\0\0\0garbage");
    let out = Command::new(env!("CARGO_BIN_EXE_fotad-update"))
        .args(["pack", "--compatible", "m", "--version", "1", "--key"])
        .arg(dev.path("release.key"))
        .arg(format!("--bsdiff40=rootfs={}", patch.display()))
        .arg(format!("--source=rootfs={}", old_path.display()))
        .arg("-o")
        .arg(dev.path("x.fota"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("BSDIFF40 patch") && err.contains("bad.bsdiff"), "{err}");
    assert!(!dev.path("x.fota").exists());
}
