//! Signed packages and package streams that would make `fotad-update install`
//! grow a slot file without bound, print terminal escapes, wait forever on a
//! stalled pipe, or mislead about the checkpoint (`fotad-update` as a process).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::rig::Rig;
use common::s;
use fotad_updater::package::{load_secret_key, read_header, sign, write_header};

/// `pkg` with its manifest changed by `edit` and signed again by the release key.
fn resigned(r: &Rig, pkg: &Path, name: &str, edit: impl FnOnce(&mut fotad_updater::package::Manifest)) -> PathBuf {
    let bytes = std::fs::read(pkg).unwrap();
    let header = read_header(&mut bytes.as_slice()).unwrap();
    let mut manifest = header.manifest.clone();
    edit(&mut manifest);
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let key = load_secret_key(&r.dev.path("release.key")).unwrap();
    let mut out = Vec::new();
    write_header(&mut out, manifest.format, &manifest_bytes, &[sign(&key, &manifest_bytes)]).unwrap();
    out.extend_from_slice(&bytes[header.payload_offset() as usize..]);
    r.dev.write(name, &out)
}

/// Waits for `child` at most `limit`; kills it and panics with `what` when it
/// is still running then.
fn wait_at_most(mut child: Child, limit: Duration, what: &str) -> Output {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!("{what}: still running after {limit:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_target_larger_than_the_file_slot_is_refused_before_the_slot_changes() {
    let r = Rig::new();
    let huge = resigned(&r, &r.package("2.0", 5), "huge.fota", |m| m.images[0].target.size = 8 << 40);
    let slot_b = r.dev.path("rootfs-b.img");
    let size_before = std::fs::metadata(&slot_b).unwrap().len();
    let before = r.snapshot();
    let child = Command::new(env!("CARGO_BIN_EXE_fotad-update"))
        .arg("--config-root")
        .arg(&r.root)
        .args(["install", s(&huge)])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_at_most(child, Duration::from_secs(30), "an install of an 8 TiB image into a file slot");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("install failed (no-space)") && err.contains("8796093022208"), "{err}");
    assert_eq!(std::fs::metadata(&slot_b).unwrap().len(), size_before, "the slot file was grown");
    let after = r.snapshot();
    assert_eq!(after.0, before.0, "the bootloader state changed");
    assert!(after.1 == before.1 && after.2 == before.2, "the slot or install record changed");
}

#[test]
fn versions_and_descriptions_are_printed_escaped() {
    let r = Rig::new();
    let evil_version = "2.0\u{1b}]0;owned\u{7}\nslot A:     good, version 9.9";
    let pkg = r.package_with("evil", 5, |spec| {
        spec.version = evil_version.into();
        spec.description.insert("en".into(), "Fixes\u{1b}[2J\r\nReboot now \u{202e}gnp.exe".into());
    });
    let shown = r.ok(&["inspect", s(&pkg)]);
    let installed = r.ok(&["install", s(&pkg)]);
    let status = r.ok(&["status"]);
    for (what, out) in [("inspect", &shown), ("install", &installed), ("status", &status)] {
        assert!(
            !out.contains(['\u{1b}', '\u{7}', '\r', '\u{202e}']) && !out.contains("\nslot A:     good, version 9.9"),
            "{what} printed the raw strings: {out:?}"
        );
        assert!(out.contains(r"2.0\u{1b}]0;owned\u{7}\nslot A:"), "{what} does not show the version escaped: {out}");
    }
    assert!(shown.contains(r"Fixes\u{1b}[2J\r\nReboot now \u{202e}gnp.exe"), "description: {shown}");
}

/// `fotad-update install - --target ...` writing into `target`, state in `state`.
fn stdin_install(r: &Rig, target: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fotad-update"));
    cmd.args(["install", "-", "--compatible", "acme,gw-1", "--keys"])
        .arg(r.dev.path("keys"))
        .arg("--state-dir")
        .arg(r.dev.path("target-state"))
        .arg(format!("--target=rootfs={}", target.display()))
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Writes `bytes` to the child's standard input and keeps it open (a stalled
/// sender) until the returned handle is dropped.
fn feed_and_stall(child: &mut Child, bytes: &[u8]) -> std::process::ChildStdin {
    let mut stdin = child.stdin.take().unwrap();
    // A command that refuses at once closes its end: the rest is not needed.
    let _ = stdin.write_all(bytes).and_then(|()| stdin.flush());
    stdin
}

#[test]
fn a_stalled_standard_input_times_out_resumably() {
    let r = Rig::new();
    let pkg = std::fs::read(r.package("2.0", 5)).unwrap();
    let target = r.dev.path("target.img");
    let mut child = stdin_install(&r, &target, &["--read-timeout", "1"]).spawn().unwrap();
    let stdin = feed_and_stall(&mut child, &pkg[..pkg.len() / 2]);
    let out = wait_at_most(child, Duration::from_secs(20), "install - from a stalled pipe with --read-timeout 1");
    drop(stdin);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{err}");
    assert!(err.contains("no data on standard input for 1 s"), "{err}");

    // The same from the configuration, installing into the inactive slot.
    let r = Rig::with_updater_keys("read_timeout_secs = 1");
    let pkg = std::fs::read(r.package("2.0", 5)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fotad-update"))
        .arg("--config-root")
        .arg(&r.root)
        .args(["install", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = feed_and_stall(&mut child, &pkg[..pkg.len() / 2]);
    let out = wait_at_most(child, Duration::from_secs(20), "install - from a stalled pipe with read_timeout_secs = 1");
    drop(stdin);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{err}");
    assert!(err.contains("no data on standard input for 1 s"), "{err}");
}

#[test]
fn a_wrong_offset_names_the_checkpoint_it_does_not_match() {
    let r = Rig::new();
    let pkg = std::fs::read(r.package("2.0", 5)).unwrap();
    let target = r.dev.path("target.img");
    let run = |extra: &[&str], input: &[u8]| {
        let mut child = stdin_install(&r, &target, extra).spawn().unwrap();
        let stdin = feed_and_stall(&mut child, input);
        drop(stdin);
        wait_at_most(child, Duration::from_secs(20), "install -")
    };
    assert_eq!(run(&[], &pkg[..pkg.len() * 2 / 3]).status.code(), Some(75));
    let records = fotad_updater::install::Records::new(&r.dev.path("target-state"));
    let next = records.checkpoint().unwrap().expect("a checkpoint after the cut").next_offset;
    let wrong = (next + 7).to_string();
    let out = run(&["--offset", &wrong], &pkg[next as usize + 7..]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("None"), "{err}");
    assert!(err.contains(&format!("--offset {next}")), "the message does not name the checkpoint's offset: {err}");
    let out = run(&["--offset", &next.to_string()], &pkg[next as usize..]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
