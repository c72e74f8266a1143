//! The agent as a process, end to end: `fotad --once` against the DM test
//! server (in this process), packages on the real nginx, file slots, the
//! boot scripts' rule as the reboot (`fotad-update simulate-boot`) and
//! `fotad-update mark-good` as the boot-complete service. Includes kill -9 of
//! the agent at 30 points of a DownloadAndUpdate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{ExitStatus, Stdio};

use fotad::dm::notification::UiMode;
use fotad::dm::syncml::{Command, Item, ItemCmd, Loc};
use fotad_tests::agent_rig::{AgentRig, DEVICE_ID};

const MIB: u64 = 1 << 20;

fn run(rig: &AgentRig, args: &[&str]) -> (ExitStatus, String) {
    let out = rig.fotad().args(args).output().unwrap();
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn get(rig: &AgentRig, uri: &str) {
    let item = Item { target: Some(Loc::uri(uri)), ..Item::default() };
    rig.server.queue(DEVICE_ID, Command::Get(ItemCmd { items: vec![item], ..Default::default() }));
}

/// The values the server read with Get, by URI.
fn results(rig: &AgentRig) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for c in rig.server.received() {
        if let Command::Results(r) = c {
            for i in r.items {
                let uri = i.source.map(|l| l.uri).unwrap_or_default();
                out.push((uri, String::from_utf8_lossy(&i.data.unwrap_or_default()).into_owned()));
            }
        }
    }
    out
}

#[test]
fn a_check_downloads_installs_reboots_confirms_and_reports_200_once() {
    let dir = tempfile::tempdir().unwrap();
    let rig = AgentRig::new(dir.path(), 4 * MIB).unwrap();
    rig.order("v2.fota", "c-1");
    let (status, log) = run(&rig, &["--check"]);
    assert!(status.success(), "{log}");
    assert!(rig.update_requests().iter().any(|t| t.ends_with("devicerequest")), "no devicerequest alert");
    assert_eq!(rig.booted().unwrap(), "B", "the reboot command did not boot the new slot");
    assert_eq!(rig.jobs(), [("awaiting-boot".to_string(), "c-1".to_string())], "{log}");
    assert_eq!(rig.slot_image("B").unwrap(), rig.images[1]);
    assert!(rig.reports().is_empty(), "reported before the new slot was confirmed");

    // The new slot runs unconfirmed: nothing is reported yet.
    let (status, log) = run(&rig, &[]);
    assert!(status.success(), "{log}");
    assert_eq!(rig.jobs(), [("awaiting-boot".to_string(), "c-1".to_string())], "{log}");
    assert!(rig.reports().is_empty());

    rig.mark_good().unwrap();
    let (status, log) = run(&rig, &[]);
    assert!(status.success() && rig.idle(), "{log}");
    let reports = rig.reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let (correlator, result, type_) = &reports[0];
    assert_eq!((correlator.as_str(), result.as_str()), ("c-1", "200"));
    assert_eq!(type_, "org.openmobilealliance.dm.firmwareupdate.downloadandupdate");

    // The server checks the running version; a further run reports nothing again.
    for uri in ["./DevDetail/FwV", "./DevDetail/SwV", "./FUMO/fotad/PkgVersion", "./FUMO/fotad/State"] {
        get(&rig, uri);
    }
    let (status, log) = run(&rig, &["--check"]);
    assert!(status.success(), "{log}");
    let got = results(&rig);
    for (uri, want) in [
        ("./DevDetail/FwV", "2.0"),
        ("./DevDetail/SwV", "2.0"),
        ("./FUMO/fotad/PkgVersion", "2.0"),
        ("./FUMO/fotad/State", "100"),
    ] {
        assert!(got.contains(&(uri.to_string(), want.to_string())), "{uri} != {want}: {got:?}");
    }
    assert_eq!(rig.reports().len(), 1, "a report was sent twice");
}

#[test]
fn a_notified_update_that_never_confirms_falls_back_and_reports_410() {
    let dir = tempfile::tempdir().unwrap();
    let rig = AgentRig::new(dir.path(), 2 * MIB).unwrap();
    rig.order("v2.fota", "c-f");
    let package0 = rig.path("package0.bin");
    std::fs::write(&package0, rig.server.notification(0x2a, UiMode::Background)).unwrap();
    let (status, log) = run(&rig, &["--notify", package0.to_str().unwrap()]);
    assert!(status.success(), "{log}");
    assert_eq!(rig.session_alerts(), [1200], "not one server-initiated session");
    assert_eq!(rig.booted().unwrap(), "B");
    // No mark-good: the trial boots run out and the bootloader falls back.
    rig.power_cycle().unwrap();
    rig.power_cycle().unwrap();
    assert_eq!(rig.booted().unwrap(), "A", "the bootloader did not fall back");
    let (status, log) = run(&rig, &[]);
    assert!(status.success(), "{log}");
    let reports = rig.reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!((reports[0].0.as_str(), reports[0].1.as_str()), ("c-f", "410"));
    assert_eq!(rig.slot_image("A").unwrap(), rig.images[0], "the booted slot was written");
}

#[test]
fn a_package_with_an_untrusted_signature_is_reported_404_and_nothing_is_activated() {
    let dir = tempfile::tempdir().unwrap();
    let rig = AgentRig::new(dir.path(), 2 * MIB).unwrap();
    rig.order("rogue.fota", "c-r");
    let (status, log) = run(&rig, &["--check"]);
    assert!(status.success() && rig.idle(), "{log}");
    assert_eq!(rig.booted().unwrap(), "A");
    let out = rig.fotad_update(&["status", "--json"]).output().unwrap();
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["primary"], "A", "a refused package changed the boot order: {status}");
    let reports = rig.reports();
    assert_eq!(reports.len(), 1, "{reports:?}\n{log}");
    assert_eq!((reports[0].0.as_str(), reports[0].1.as_str()), ("c-r", "404"));
}

/// How a run of the agent under the kill schedule ended.
enum Ended {
    /// Killed; with the installer's checkpoint present (mid-download) or not.
    Killed {
        downloading: bool,
    },
    Exited(ExitStatus),
}

/// Runs the agent (logging at debug: a line per percent of the download);
/// `kill_at(n)` decides whether to kill it with SIGKILL right after its
/// output line that is kill point `n` (counted over all runs). Kill points
/// are the lines while the agent has an accepted job in its store: the
/// download, the install, the activation, the reboot and the outcome after
/// the boot, until the job ended and its report is queued. (A kill inside
/// the report session, after the server got the alert and before the agent
/// stored the server's acknowledgement, makes the agent send it again:
/// at-least-once there, as in every DM client.)
fn run_until_killed(
    rig: &AgentRig,
    check: bool,
    points: &mut usize,
    kill_at: &dyn Fn(usize) -> bool,
    lines: &mut Vec<String>,
) -> Ended {
    let mut cmd = rig.fotad();
    if check {
        cmd.arg("--check");
    }
    cmd.env("FOTAD_LOG", "debug");
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    for line in stderr.lines() {
        let line = line.unwrap();
        lines.push(line.clone());
        if rig.jobs().is_empty() {
            continue;
        }
        *points += 1;
        if kill_at(*points) {
            let downloading = rig.path("dev/state/install/checkpoint.json").exists();
            child.kill().unwrap();
            child.wait().unwrap();
            return Ended::Killed { downloading };
        }
    }
    Ended::Exited(child.wait().unwrap())
}

#[test]
fn kill_9_at_30_points_of_a_download_and_update_still_updates_and_reports_once() {
    let dir = tempfile::tempdir().unwrap();
    let rig = AgentRig::new(dir.path(), 8 * MIB).unwrap();
    rig.order("v2-full.fota", "c-k");
    let (mut kills, mut runs, mut points, mut marked, mut lines) = (0, 0, 0, false, Vec::new());
    let mut downloading_kills = 0;
    let done = loop {
        runs += 1;
        assert!(runs < 200, "no end after {runs} runs; output:\n{}", lines.join("\n"));
        // Every second kill point until 30 kills: each run gets past its
        // first line (the state it resumes in) and makes progress.
        let kill_at = |n: usize| kills < 30 && n % 2 == 0;
        let ended = run_until_killed(&rig, runs == 1, &mut points, &kill_at, &mut lines);
        if let Ended::Killed { downloading } = ended {
            kills += 1;
            downloading_kills += usize::from(downloading);
            lines.push(format!("---- killed (kill {kills}, downloading: {downloading})"));
            std::thread::sleep(std::time::Duration::from_millis(20)); // a running reboot command finishes
        }
        if rig.booted().unwrap() == "B" && !marked {
            rig.mark_good().unwrap(); // the new slot booted: fotad-mark-good.service
            marked = true;
        }
        if let Ended::Exited(status) = ended {
            assert!(status.success(), "fotad failed:\n{}", lines.join("\n"));
            if rig.idle() && !rig.reports().is_empty() {
                break runs;
            }
        }
    };
    assert_eq!(
        kills,
        30,
        "only {kills} kill points ({downloading_kills} past a download checkpoint) were reached in {done} runs:\n{}",
        lines.join("\n")
    );
    // Not asserted (yet): how many kills hit the download past one of the
    // installer's checkpoints. Killed on every second line, a resumed
    // download dies before its next checkpoint reaches the disk (they are
    // written on a clock), again and again: the kill log says
    // `downloading: false`, and the kills land at the same point.
    assert_eq!(rig.booted().unwrap(), "B");
    assert_eq!(rig.slot_image("B").unwrap(), rig.images[1], "slot B does not hold v2 exactly");
    assert_eq!(rig.slot_image("A").unwrap(), rig.images[0], "the booted slot was written");
    let reports = rig.reports();
    assert_eq!(reports.len(), 1, "the server got {} reports: {reports:?}", reports.len());
    assert_eq!((reports[0].0.as_str(), reports[0].1.as_str()), ("c-k", "200"));
}
