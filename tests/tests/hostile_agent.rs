//! The agent as a process (`fotad --once`) against a hostile DM server and
//! download server (`fotad-testserver` with its hostile script lines): a
//! redirect to `file://` ends the job with 411 and one report instead of a
//! crash on every start, a job that makes the agent panic is ended after two
//! panics (a kill -9 is no panic: `agent_process` kills a job 30 times and
//! it still completes), an endless session is cut off.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::ExitStatus;
use std::time::{Duration, Instant};

use fotad::dm::syncml::Command;
use fotad_tests::agent_rig::{AgentRig, DEVICE_ID};
use fotad_tests::testserver::{script, Route};

const MIB: u64 = 1 << 20;

fn run(rig: &AgentRig, args: &[&str], env: &[(&str, &str)]) -> (ExitStatus, String) {
    let out = rig.fotad().args(args).envs(env.iter().copied()).output().unwrap();
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Runs `fotad --once` until it has nothing left to do (at most `n` runs).
fn run_until_idle(rig: &AgentRig, n: usize) -> String {
    let mut all = String::new();
    for _ in 0..n {
        let (status, log) = run(rig, &[], &[]);
        all.push_str(&log);
        assert!(status.success(), "fotad failed: {all}");
        if rig.idle() {
            break;
        }
    }
    all
}

#[test]
fn a_redirect_to_a_file_url_ends_the_job_with_411_and_exactly_one_report() {
    let dir = tempfile::tempdir().unwrap();
    let rig = AgentRig::new(dir.path(), MIB).unwrap();
    let evil = script::parse("route /evil.fota 302 Location: file:///etc/passwd").unwrap();
    rig.server.apply(DEVICE_ID, evil);
    rig.order_url(&rig.server.url_of("/evil.fota"), "c-redirect");
    let (status, log) = run(&rig, &["--check"], &[]);
    assert!(status.success(), "the agent did not survive the redirect ({status}):\n{log}");
    let log = run_until_idle(&rig, 3);
    let reports = rig.reports();
    assert_eq!(reports.len(), 1, "{reports:?}\n{log}");
    assert_eq!((reports[0].0.as_str(), reports[0].1.as_str()), ("c-redirect", "411"));
    assert_eq!(rig.booted().unwrap(), "A");
    // Nothing is left to retry: another start reports nothing again.
    run_until_idle(&rig, 2);
    assert_eq!(rig.reports().len(), 1, "the job ran again");
}

#[test]
fn a_job_that_made_the_agent_panic_twice_is_ended_with_one_failure_report() {
    let dir = tempfile::tempdir().unwrap();
    let rig = AgentRig::new(dir.path(), MIB).unwrap();
    rig.order("v2.fota", "c-panic");
    // The test build's failpoint panics in the job's download, every start.
    let crash = [("FOTAD_FAILPOINT", "download")];
    let (status, log) = run(&rig, &["--check"], &crash);
    assert!(!status.success(), "the failpoint did not fire:\n{log}");
    let (status, log) = run(&rig, &[], &crash);
    assert!(!status.success(), "the failpoint did not fire again:\n{log}");
    // The third start ends the job instead of running it into the panic again.
    let (status, log) = run(&rig, &[], &crash);
    assert!(status.success(), "the job was run a third time ({status}):\n{log}");
    run_until_idle(&rig, 3);
    let reports = rig.reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!((reports[0].0.as_str(), reports[0].1.as_str()), ("c-panic", "400"));
    assert_eq!(rig.booted().unwrap(), "A", "the ended job activated a slot");
}

#[test]
fn an_endless_session_is_cut_off_and_the_agent_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let rig = AgentRig::new(dir.path(), MIB).unwrap();
    rig.server.apply(DEVICE_ID, script::parse("hostile endless 400").unwrap());
    let started = Instant::now();
    let (status, log) = run(&rig, &["--check"], &[]);
    assert!(started.elapsed() < Duration::from_secs(60), "the session took {:?}", started.elapsed());
    assert!(!status.success(), "an aborted session is a failure of the run:\n{log}");
    let sent = rig.server.log();
    assert!(sent.len() <= 101, "the device sent {} messages (limit 100 + the abort)", sent.len());
    let last = &sent.last().unwrap().request;
    assert!(
        last.body.commands.iter().any(|c| matches!(c, Command::Alert(a) if a.data == 1223)),
        "the last message does not abort the session: {last:?}"
    );
    // The server behaves again: the next run talks to it normally.
    rig.server.state().config.hostile.endless = None;
    let (status, log) = run(&rig, &["--check"], &[]);
    assert!(status.success(), "{log}");
}

#[test]
fn the_routes_of_the_test_server_answer_gets() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let rig = AgentRig::new(dir.path(), MIB).unwrap();
    rig.server.route("/x", Route { status: 418, headers: vec![("X-A".into(), "b".into())], body: b"tea".to_vec() });
    let addr = rig.server.url_of("").trim_start_matches("http://").to_string();
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.write_all(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    conn.shutdown(std::net::Shutdown::Write).unwrap();
    let mut text = String::new();
    conn.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 418") && text.contains("X-A: b") && text.ends_with("tea"), "{text}");
}
