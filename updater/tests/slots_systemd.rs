//! `systemd/fotad-mark-good.service` passes the real `systemd-analyze verify`
//! (with ExecStart pointed at the binary built here), and has the shape systemd's
//! boot assessment needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

const UNIT: &str = include_str!("../../systemd/fotad-mark-good.service");

#[test]
fn unit_is_a_oneshot_running_mark_good_after_boot_complete() {
    assert!(UNIT.contains("\nType=oneshot\n"));
    assert!(UNIT.contains("\nExecStart=/usr/bin/fotad-update mark-good\n"));
    assert!(UNIT.contains("\nRequires=boot-complete.target\n"));
    assert!(UNIT.contains("\nAfter=local-fs.target boot-complete.target\n"));
    assert!(UNIT.contains("\nRequiredBy=boot-complete.target\n"));
}

#[test]
fn systemd_analyze_verify_passes() {
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("fotad-mark-good.service");
    let bin = env!("CARGO_BIN_EXE_fotad-update");
    std::fs::write(&unit, UNIT.replace("/usr/bin/fotad-update", bin)).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .expect("cannot run systemd-analyze: install the Debian package systemd (scripts/test does)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify failed: {stderr}");
    assert!(!stderr.contains("fotad-mark-good"), "warnings about the unit: {stderr}");
}
