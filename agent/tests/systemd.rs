//! systemd integration against the real tools: the daemon binary speaks the
//! notify protocol on a datagram socket the test binds as NOTIFY_SOCKET
//! (READY after the name is owned, STATUS, WATCHDOG at half WATCHDOG_USEC,
//! STOPPING on SIGTERM, in that order); `systemd-analyze verify` accepts the
//! unit; `systemd-tmpfiles` and `systemd-sysusers` apply our snippets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn receive_until(sock: &UnixDatagram, got: &mut Vec<String>, done: impl Fn(&[String]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 4096];
    while !done(got) {
        assert!(Instant::now() < deadline, "timed out; notify messages so far: {got:?}");
        if let Ok(n) = sock.recv(&mut buf) {
            got.extend(String::from_utf8_lossy(&buf[..n]).lines().map(str::to_string));
        }
    }
}

fn position(got: &[String], what: &str) -> usize {
    got.iter().position(|m| m == what).unwrap_or_else(|| panic!("no {what} in {got:?}"))
}

/// A device on file slots below `dir` with no DM account, plus `extra`.
fn device_config(dir: &std::path::Path, extra: &str) -> String {
    std::fs::write(dir.join("cmdline"), "fotad.slot=A\n").unwrap();
    let d = dir.display();
    format!(
        "[updater]\ncompatible = \"acme,gw-1\"\nstate_dir = \"{d}/state\"\nkeys_dir = \"{d}/keys\"\n\
         cmdline = \"{d}/cmdline\"\n[bootloader]\nbackend = \"file\"\n[slots.A]\nrootfs = \"{d}/a.img\"\n\
         [slots.B]\nrootfs = \"{d}/b.img\"\n[dm]\ndevice_id = \"IMEI:490154203237518\"\n{extra}"
    )
}

#[test]
fn daemon_speaks_the_notify_protocol_in_order() {
    let bus = Bus::start(true);
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    std::fs::write(dir.path().join("fotad.toml"), device_config(dir.path(), "[ui]\nlanguage = \"fr\"\n")).unwrap();
    let mut daemon = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_fotad"))
            .args(["--address", &bus.address, "--config"])
            .arg(dir.path().join("fotad.toml"))
            .env("NOTIFY_SOCKET", &sock_path)
            .env("WATCHDOG_USEC", "200000")
            .env_remove("WATCHDOG_PID")
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut got = Vec::new();
    receive_until(&sock, &mut got, |g| g.iter().any(|m| m == "READY=1"));
    // The name is owned when READY=1 arrives, and the settings were applied.
    assert_eq!(get_property(&bus, As::Nobody, "Language"), "(<'fr'>,)");
    receive_until(&sock, &mut got, |g| g.iter().filter(|m| *m == "WATCHDOG=1").count() >= 2);
    // A job moves the state: STATUS= follows it (no DM configured: it fails fast).
    ok(&gdbus_call(&bus, As::Root, "CheckForUpdate", &[]));
    receive_until(&sock, &mut got, |g| g.iter().any(|m| m.starts_with("STATUS=checking")));
    receive_until(&sock, &mut got, |g| g.iter().filter(|m| m.starts_with("STATUS=idle")).count() >= 2);
    assert!(Command::new("kill").args(["-TERM", &daemon.0.id().to_string()]).status().unwrap().success());
    receive_until(&sock, &mut got, |g| g.iter().any(|m| m == "STOPPING=1"));
    assert!(daemon.0.wait().unwrap().success(), "fotad did not exit cleanly on SIGTERM");
    let (status, ready) = (position(&got, "STATUS=idle: Ready"), position(&got, "READY=1"));
    let (watchdog, stopping) = (position(&got, "WATCHDOG=1"), position(&got, "STOPPING=1"));
    assert!(status < watchdog && ready < watchdog && watchdog < stopping, "{got:?}");
    assert_eq!(got.iter().filter(|m| *m == "READY=1").count(), 1, "{got:?}");
    assert!(got[stopping..].iter().all(|m| m != "WATCHDOG=1" && m != "READY=1"), "{got:?}");
}

#[test]
fn the_daemon_refuses_to_start_on_bad_settings() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.toml"), device_config(dir.path(), "[ui]\nconsent = \"sometimes\"\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fotad"))
        .args(["--address", "unix:path=/nonexistent", "--config"])
        .arg(dir.path().join("bad.toml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("consent = \"sometimes\" is not one of"), "{err}");
}

#[test]
fn systemd_analyze_verifies_the_unit() {
    require("systemd-analyze", "systemd");
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(repo_root().join("systemd/fotad.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/bin/fotad\n"));
    // verify checks that ExecStart exists: point it at the binary under test.
    let unit = unit.replace("ExecStart=/usr/bin/fotad", &format!("ExecStart={}", env!("CARGO_BIN_EXE_fotad")));
    let path = dir.path().join("fotad.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {err}");
    let ours: Vec<&str> = err.lines().filter(|l| l.contains("fotad.service")).collect();
    assert!(ours.is_empty(), "warnings about our unit: {ours:?}");
    let sec = Command::new("systemd-analyze").args(["security", "--offline=yes"]).arg(&path).output().unwrap();
    let report = String::from_utf8_lossy(&sec.stdout);
    assert!(report.contains("Overall exposure level"), "{report}{}", String::from_utf8_lossy(&sec.stderr));
}

#[test]
fn tmpfiles_and_sysusers_snippets_apply() {
    require("systemd-tmpfiles", "systemd");
    require("systemd-sysusers", "systemd");
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("etc")).unwrap();
    std::fs::create_dir_all(root.path().join("var/lib")).unwrap();
    std::fs::create_dir_all(root.path().join("run")).unwrap();
    let tmpfiles = repo_root().join("systemd/fotad.tmpfiles.conf");
    let out = Command::new("systemd-tmpfiles")
        .arg("--create")
        .arg(format!("--root={}", root.path().display()))
        .arg(&tmpfiles)
        .output()
        .unwrap();
    assert!(out.status.success(), "systemd-tmpfiles: {}", String::from_utf8_lossy(&out.stderr));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(root.path().join("var/lib/fotad")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    assert!(root.path().join("run/fotad").is_dir());
    let sysusers = repo_root().join("systemd/fotad.sysusers.conf");
    let out = Command::new("systemd-sysusers")
        .arg(format!("--root={}", root.path().display()))
        .arg(&sysusers)
        .output()
        .unwrap();
    assert!(out.status.success(), "systemd-sysusers: {}", String::from_utf8_lossy(&out.stderr));
    let group = std::fs::read_to_string(root.path().join("etc/group")).unwrap();
    assert!(group.lines().any(|l| l.starts_with("fotad-ui:x:")), "{group}");
}
