//! fotad in a real virtual machine: OVMF and GRUB (the shipped A/B script) pick
//! the slot, a Debian kernel and systemd run fotad, its units and the boot
//! assessment, and real reboots happen in between. `fotad-testserver` and nginx
//! run on the host; the guest reaches them through QEMU's user-mode network.
//!
//! Every test starts from a fresh copy of the test disk (slot A: image v1,
//! booted and confirmed; slot B empty) and checks three things: what the DM
//! server received, GRUB's environment block read back from the disk after the
//! VM stopped (`mcopy` + `grub-editenv list`), and the bytes in the slots.
//! A boot under TCG takes most of a minute, so each test runs several of the
//! issue's scenarios on one VM, one after the other (a power cut is one more
//! boot of the same disk). Serial consoles and control-shell transcripts:
//! `target/qemu-logs/`; times: `target/qemu-logs/times.txt`. The tests run one
//! at a time (2 cores).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use fotad::dm::syncml::Command as DmCommand;
use fotad_tests::agent_rig::DEVICE_ID;
use fotad_tests::qemu::image::TestImage;
use fotad_tests::qemu::vm::{booted_slots, boots, Vm};
use fotad_tests::qemu::Scenario;
use fotad_tests::testserver::script;

/// Generous for TCG on a loaded 2-core machine (a boot takes ~30 s there).
const BOOT: Duration = Duration::from_secs(420);
const SHORT: Duration = Duration::from_secs(60);
const LONG: Duration = Duration::from_secs(600);

/// `fotactl ARGS` as the UI account `ui` (group fotad-ui).
fn ui(args: &str) -> String {
    format!("runuser -u ui -- fotactl {args}")
}

fn status(vm: &Vm) -> Result<serde_json::Value> {
    let out = vm.sh(&ui("status --json"), SHORT)?;
    serde_json::from_str(&out).with_context(|| format!("fotactl status --json printed {out:?}"))
}

/// Polls `fotactl status --json` until `done` holds; returns that status.
fn status_until(vm: &Vm, timeout: Duration, done: impl Fn(&serde_json::Value) -> bool) -> Result<serde_json::Value> {
    let out = vm.sh_until(&ui("status --json"), timeout, |o| serde_json::from_str(o).is_ok_and(|v| done(&v)))?;
    Ok(serde_json::from_str(&out)?)
}

/// The installer's checkpoint in the VM (fotad's state directory).
const CHECKPOINT: &str = "/var/lib/fotad/install/checkpoint.json";

/// The synced package offset a checkpoint records (0 when there is none yet).
fn durable_offset(checkpoint: &str) -> u64 {
    let value: serde_json::Value = serde_json::from_str(checkpoint).unwrap_or_default();
    value["durable_offset"].as_u64().unwrap_or_default()
}

/// Waits until fotad.service is up (after a boot it starts after the control shell).
fn wait_agent(vm: &Vm) -> Result<()> {
    vm.sh_until("systemctl is-active fotad.service", LONG, |o| o.trim() == "active")?;
    Ok(())
}

/// Starts `fotactl check` as the UI user in the background, its output in
/// /run/fotad-test/check.log, and waits until the agent took the job.
fn start_check(vm: &Vm) -> Result<()> {
    wait_agent(vm)?;
    vm.sh(&format!("mkdir -p /run/fotad-test && ({} >/run/fotad-test/check.log 2>&1 &)", ui("check")), SHORT)?;
    let log = vm
        .sh_until("sleep 1; cat /run/fotad-test/check.log", LONG, |o| o.contains("state:") || o.contains("fotactl:"))?;
    ensure!(log.contains("state:"), "fotactl check did not start a check: {log}");
    Ok(())
}

/// Once the agent asks for consent to reboot into the new slot, gives it.
fn accept_when_asked(vm: &Vm, timeout: Duration) -> Result<()> {
    status_until(vm, timeout, |s| s["state"] == "awaiting-consent")?;
    vm.sh(&ui("accept"), SHORT)?;
    Ok(())
}

/// After a boot into a new slot: waits until fotad-mark-good.service confirmed it.
fn wait_confirmed(vm: &Vm) -> Result<()> {
    vm.sh_until("systemctl is-active fotad-mark-good.service", LONG, |o| o.trim() == "active")?;
    Ok(())
}

fn grubenv(s: &Scenario) -> Result<BTreeMap<String, String>> {
    s.disk.grubenv(s.dir())
}

fn assert_env(env: &BTreeMap<String, String>, want: &[(&str, &str)]) {
    for (k, v) in want {
        assert_eq!(env.get(*k).map(String::as_str), Some(*v), "grubenv {k} (all: {env:?})");
    }
}

fn reports(s: &Scenario) -> Vec<(String, String)> {
    s.reports().into_iter().map(|(c, r, _)| (c, r)).collect()
}

fn pair(c: &str, r: &str) -> (String, String) {
    (c.to_string(), r.to_string())
}

/// The values of `uri`s the device sent in Results, over every session.
fn results(s: &Scenario, uri: &str) -> Vec<String> {
    let mut out = Vec::new();
    for c in s.server.received() {
        if let DmCommand::Results(r) = c {
            for i in r.items.iter().filter(|i| i.source.as_ref().is_some_and(|l| l.uri == uri)) {
                out.push(String::from_utf8_lossy(i.data.as_deref().unwrap_or_default()).into_owned());
            }
        }
    }
    out
}

/// Waits for boots until one comes up in `slot` (boots that fail before the
/// control shell print no banner; one that fails after it does); returns the
/// slots of the banners seen, `slot` last.
fn wait_boot_into(vm: &mut Vm, slot: &str, timeout: Duration) -> Result<Vec<String>> {
    let until = Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        let left = until.saturating_duration_since(Instant::now());
        ensure!(!left.is_zero(), "no boot into slot {slot} within {timeout:?} (banners: {seen:?})");
        let got = vm.wait_boot(left)?;
        seen.push(got.clone());
        if got == slot {
            return Ok(seen);
        }
    }
}

/// DownloadAndUpdate A→B with a delta built from the VM's own root images
/// (v1 → v2), installed while the booted slot A is mounted (read-only, ext4
/// with a live journal: the case that failed before the installer read the
/// source with O_DIRECT), through two power cuts (SIGKILL of QEMU), driven
/// from inside the VM over D-Bus as a member of fotad-ui.
///
/// `fotactl check` shows the server's confirm prompt and the progress; the
/// power is cut once the download began and again once the resumed download
/// went on (the slot is written as the package arrives: the second cut is in
/// the middle of the slot write);
/// after each boot into A fotad resumes from its checkpoint (a Range request);
/// `fotactl watch` shows the consent prompt; after `fotactl accept` fotad
/// reboots, GRUB boots B, fotad-mark-good confirms it, and the server gets
/// exactly one 1226 with 200 and reads version 2.0 from DevDetail. Slot B is
/// byte-identical to image v2. A user outside fotad-ui may read but not check.
#[test]
fn delta_update_a_to_b_through_two_power_cuts_from_a_mounted_journaled_root() -> Result<()> {
    let package = "v2.fota";
    let size = std::fs::metadata(TestImage::get()?.www().join(package))?.len();
    // About 30 s for the whole package: room to cut the power where we want.
    let s = Scenario::new("update-a-to-b", Some((size / 30).max(64 << 10)))?;
    let mut vm = s.boot()?;
    assert_eq!(vm.wait_boot(BOOT)?, "A");

    let root = vm.sh("findmnt -n -o SOURCE,FSTYPE,OPTIONS /; ls /proc/fs/jbd2", SHORT)?;
    let words: Vec<&str> = root.split_whitespace().collect();
    assert_eq!(words[..2], ["/dev/vda2", "ext4"], "the root is not slot A's ext4: {root}");
    assert!(words[2].split(',').any(|o| o == "ro"), "the root is not read-only: {root}");
    assert!(words.contains(&"vda2-8"), "slot A's journal is not live (no /proc/fs/jbd2/vda2-8): {root}");
    wait_agent(&vm)?;
    // On the read-only root, fotad still has a private, writable /tmp and /var/tmp.
    let probe = "touch /tmp/t /var/tmp/t && findmnt -n -o FSTYPE -M /tmp && findmnt -n -o FSTYPE -M /var/tmp";
    let tmp = vm.sh(&format!("nsenter -t $(systemctl show -P MainPID fotad) -m sh -c '{probe}'"), SHORT)?;
    assert_eq!(tmp.split_whitespace().collect::<Vec<_>>(), ["tmpfs", "tmpfs"], "{tmp}");
    let st = status(&vm)?;
    assert_eq!((st["state"].as_str(), st["booted_slot"].as_str()), (Some("idle"), Some("A")), "{st}");
    assert_eq!(st["current_version"], "1.0", "{st}");
    let (code, out) = vm.sh_status("runuser -u nobody -- fotactl check --no-wait", SHORT)?;
    assert_ne!(code, 0, "a user outside fotad-ui started a check: {out}");
    assert!(out.contains("AccessDenied") || out.contains("denied"), "{out}");

    s.server.apply(
        DEVICE_ID,
        script::parse("alert 1101 MAXDT=600 Install the QEMU test update?").map_err(anyhow::Error::msg)?,
    );
    s.order(package, "qemu-v2");
    start_check(&vm)?;
    let log = vm.sh_until("cat /run/fotad-test/check.log", LONG, |o| o.contains("(confirm)"))?;
    let id = log.split("prompt ").nth(1).and_then(|r| r.split_whitespace().next()).context("prompt id")?;
    assert!(log.contains("Install the QEMU test update?"), "{log}");
    vm.sh(&ui(&format!("respond {id} accept")), SHORT)?;

    // The installer writes slot B as the package arrives, reading slot A for
    // the operations that copy or patch its blocks: between a delta's data
    // the download waits for the slot writes (and nginx's average rate then
    // lets it catch up at once), so the cuts are placed by the bytes consumed:
    // the first once 2% of the package is in, the second as soon as the
    // resumed install consumed more (it is then copying slot A's blocks into
    // slot B), both before the end. Each cut waits until the installer's
    // checkpoint passed the synced point it had at the cut before (or the
    // start): the first sync of an install makes its checkpoint durable.
    let mut at = size / 50;
    let mut synced = 0;
    for cut in ["mid-download", "mid-write"] {
        let st = status_until(&vm, LONG, |v| v["progress"]["bytes_done"].as_u64().is_some_and(|d| d >= at))?;
        let done = st["progress"]["bytes_done"].as_u64().unwrap_or_default();
        assert!(done < size, "{cut}: the download ended before the cut: {st}");
        let checkpoint = vm.sh_until(&format!("cat {CHECKPOINT}"), LONG, |o| durable_offset(o) > synced)?;
        synced = durable_offset(&checkpoint);
        if cut == "mid-download" {
            let log = vm.sh("cat /run/fotad-test/check.log", SHORT)?;
            assert!(log.contains("% Writing the update"), "no progress shown by fotactl check: {log}");
        }
        vm.kill()?;
        vm = s.boot()?;
        assert_eq!(vm.wait_boot(BOOT)?, "A", "after the power cut {cut}");
        at = done + 1;
    }
    // fotad resumes by itself; a UI that follows it sees the consent prompt.
    wait_agent(&vm)?;
    vm.sh(&format!("mkdir -p /run/fotad-test && ({} >/run/fotad-test/watch.log 2>&1 &)", ui("watch")), SHORT)?;
    let log = vm.sh_until("cat /run/fotad-test/watch.log", LONG, |o| o.contains("(consent)"))?;
    assert!(log.contains("answer: fotactl accept"), "{log}");
    // The whole package is in.
    let st = status(&vm)?;
    assert_eq!(st["progress"]["bytes_done"].as_u64(), Some(size), "{st}");
    vm.sh(&ui("accept"), SHORT)?;

    assert_eq!(vm.wait_boot(BOOT)?, "B");
    wait_confirmed(&vm)?;
    s.wait_reports(1, LONG)?;
    assert_eq!(reports(&s), [pair("qemu-v2", "200")]);
    let gets = script::parse("get ./DevDetail/SwV\nget ./DevDetail/Ext/fotad/Slots/B/Version\n");
    s.server.apply(DEVICE_ID, gets.map_err(anyhow::Error::msg)?);
    vm.sh(&ui("check"), LONG)?;
    assert_eq!(results(&s, "./DevDetail/SwV").last().map(String::as_str), Some("2.0"));
    assert_eq!(results(&s, "./DevDetail/Ext/fotad/Slots/B/Version").last().map(String::as_str), Some("2.0"));
    let st = status(&vm)?;
    assert_eq!((st["booted_slot"].as_str(), st["current_version"].as_str()), (Some("B"), Some("2.0")), "{st}");
    assert_eq!(reports(&s), [pair("qemu-v2", "200")], "the result was reported more than once");
    vm.poweroff(SHORT)?;

    let gets: Vec<_> = s.package_requests().into_iter().filter(|(r, ..)| r.contains(package)).collect();
    let statuses: Vec<u16> = gets.iter().map(|g| g.1).collect();
    assert_eq!(statuses, [200, 206, 206], "expected one download and two resumes: {gets:?}");
    // Each resume asks for the bytes after its checkpoint: past the start, never
    // behind the resume before it, and the last one is served to the end. (The
    // bytes nginx sent before a cut say little: the socket buffers held data the
    // killed VM never read.)
    let from: Vec<u64> = gets.iter().filter_map(|g| g.3).collect();
    assert_eq!(from.len(), 2, "the resumes did not ask for a range: {gets:?}");
    assert!(from[0] > 0 && from[1] >= from[0], "the resumes did not start from the checkpoint: {gets:?}");
    assert_eq!(gets[2].2, size - from[1], "the last resume was not served to the end: {gets:?}");
    assert_env(&grubenv(&s)?, &[("ORDER", "B A"), ("B_OK", "1"), ("B_TRY", "0"), ("A_OK", "1")]);
    s.disk.assert_holds("rootfs_b", &s.image.image("v2"))?;
    s.disk.assert_holds("rootfs_a", &s.image.image("v1"))?;
    assert_eq!(booted_slots(&s.console()?), ["A", "A", "A", "B"]);
    s.finish()?;
    Ok(())
}

/// Installs `package` from A into B, consents, and waits until the device
/// is back in A after B's trial boots.
fn install_and_fall_back(s: &Scenario, vm: &mut Vm, package: &str, correlator: &str) -> Result<()> {
    s.order(package, correlator);
    start_check(vm)?;
    accept_when_asked(vm, LONG)?;
    wait_boot_into(vm, "A", BOOT * 3)?;
    Ok(())
}

/// After a fallback: B bad, A confirmed and primary, the reports so far.
fn assert_fell_back(s: &Scenario, vm: &Vm, want: &[(String, String)]) -> Result<()> {
    wait_agent(vm)?;
    s.wait_reports(want.len(), LONG)?;
    assert_eq!(reports(s), want);
    let st = status_until(vm, LONG, |v| v["slots"]["B"] == "bad")?;
    assert_eq!((st["booted_slot"].as_str(), st["slots"]["A"].as_str()), (Some("A"), Some("good")), "{st}");
    Ok(())
}

/// Two packages whose slot B fails, one after the other on the same device:
///
/// - `broken`: B cannot boot (its init exits at once): the kernel panics and
///   reboots (panic=5 from the shipped grub.cfg), GRUB spends B's two tries
///   and falls back to A;
/// - `unhealthy`: B boots but fails its health check (a unit required by
///   boot-complete.target exits 1), so fotad-mark-good.service does not run
///   and the check unit's `FailureAction=reboot` reboots; after B's two tries
///   GRUB falls back to A.
///
/// Each time fotad reports 410 once (a restart of fotad and a new session do
/// not repeat it), B is bad, A stays confirmed and primary.
#[test]
fn slots_that_cannot_boot_or_fail_the_health_check_fall_back_to_a_and_report_410_once() -> Result<()> {
    let s = Scenario::new("failed-slots-fall-back", None)?;
    let mut vm = s.boot()?;
    assert_eq!(vm.wait_boot(BOOT)?, "A");
    wait_agent(&vm)?;

    install_and_fall_back(&s, &mut vm, "broken.fota", "qemu-broken")?;
    assert_fell_back(&s, &vm, &[pair("qemu-broken", "410")])?;
    install_and_fall_back(&s, &mut vm, "unhealthy.fota", "qemu-unhealthy")?;
    let both = [pair("qemu-broken", "410"), pair("qemu-unhealthy", "410")];
    assert_fell_back(&s, &vm, &both)?;
    vm.sh("systemctl restart fotad.service", SHORT)?;
    wait_agent(&vm)?;
    vm.sh(&ui("check"), LONG)?;
    assert_eq!(reports(&s), both, "a failure was reported again");
    vm.poweroff(SHORT)?;

    let boots = boots(&s.console()?);
    let slots: Vec<&str> = boots.iter().map(|(slot, _)| slot.as_str()).collect();
    assert_eq!(slots, ["A", "B", "B", "A", "B", "B", "A"], "GRUB did not spend B's two tries each time");
    for (_, text) in &boots[1..3] {
        assert!(text.contains("this slot's init fails on purpose"), "{text}");
        assert!(text.contains("Kernel panic"), "{text}");
    }
    for (_, text) in &boots[4..6] {
        assert!(text.contains("fotad-qemu: health check failed on purpose"), "{text}");
        assert!(
            !text.lines().any(|l| l.contains("Finished") && l.contains("fotad-mark-good")),
            "mark-good ran: {text}"
        );
    }
    assert_env(&grubenv(&s)?, &[("ORDER", "A B"), ("A_OK", "1"), ("B_OK", "0"), ("B_TRY", "0")]);
    s.disk.assert_holds("rootfs_a", &s.image.image("v1"))?;
    s.disk.assert_holds("rootfs_b", &s.image.image("unhealthy"))?;
    s.finish()?;
    Ok(())
}
