//! DM sessions against a hostile `fotad-testserver`: an endless session and
//! a server that drips its replies are cut off by the session limits, a
//! message from another session (SessionID, MsgRef) executes nothing, our
//! messages never exceed the MaxMsgSize we announced however large the
//! server makes what we echo, and a TLS refusal says which check failed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;

use fotad::dm::client::{ClientError, DmClient};
use fotad::dm::config::Settings;
use fotad::dm::mo::Versions;
use fotad::dm::session::{NoExec, NoUi, SessionError, Trigger};
use fotad::dm::syncml::{Codec, Command};
use fotad_tests::testserver::harness::device_toml;
use fotad_tests::testserver::{script, ServerConfig, TestServer, TlsFiles};

/// A device whose `[dm]` section has `extra` lines, talking to a default server.
fn setup_dm(extra: &str, codec: Codec, max_msg_size: u64) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ServerConfig::default();
    let server = TestServer::start(cfg.clone(), 0, None).unwrap();
    let toml = device_toml(dir.path(), &server.url(), &cfg, codec, max_msg_size, None);
    let toml = toml.replacen("[dm]\n", &format!("[dm]\n{extra}\n"), 1);
    let client = DmClient::open(Settings::from_toml_str(&toml).unwrap(), Versions::fixed("1", "1")).unwrap();
    Setup { server, client, _dir: dir }
}

/// Runs a session on a thread; fails the test if it is still running after `limit`.
fn run_bounded(mut s: Setup, limit: Duration) -> (Setup, Result<(), ClientError>, Duration) {
    let started = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = s.client.session(None, &Trigger::Client, &NoUi, &mut NoExec).map(|_| ());
        let _ = tx.send((s, r));
    });
    let (s, r) = rx.recv_timeout(limit).unwrap_or_else(|_| panic!("the session still runs after {limit:?}"));
    (s, r, started.elapsed())
}

fn last_request_aborts(s: &Setup) -> bool {
    let log = s.server.log();
    let last = &log.last().unwrap().request;
    last.body.commands.iter().any(|c| matches!(c, Command::Alert(a) if a.data == 1223))
}

#[test]
fn an_endless_session_ends_after_max_session_messages_with_an_abort() {
    let s = setup_dm("", Codec::Xml, 16 * 1024);
    s.server.apply(DEVICE, script::parse("hostile endless 400").unwrap());
    let (s, r, _) = run_bounded(s, Duration::from_secs(120));
    let e = r.unwrap_err();
    assert!(matches!(e, ClientError::Session(SessionError::TooManyMessages { max: 100, .. })), "{e}");
    let sent = s.server.log().len();
    assert_eq!(sent, 101, "100 messages and the abort");
    assert!(last_request_aborts(&s), "the server was not told (Alert 1223)");
}

#[test]
fn large_object_chunks_do_not_count_as_session_messages() {
    let mut s = setup_dm("max_session_messages = 5", Codec::Wbxml, 4096);
    s.server.queue_large(
        DEVICE,
        false,
        "./Vendor/big",
        "bin",
        fotad_tests::testserver::Payload::Pattern { size: 40 * 1024, seed: 3 },
    );
    run(&mut s).unwrap();
    assert!(s.server.log().len() > 10, "the object did not need many messages");
    let adds = status_for(&s, "Add");
    assert_eq!(adds.last(), Some(&200), "the object was not completed: {adds:?}");
}

#[test]
fn a_server_dripping_its_reply_is_cut_off_at_max_session_secs() {
    let s = setup_dm("max_session_secs = 2", Codec::Xml, 16 * 1024);
    s.server.apply(DEVICE, script::parse("hostile drip 20").unwrap());
    let (_, r, took) = run_bounded(s, Duration::from_secs(30));
    let e = r.unwrap_err();
    assert!(matches!(e, ClientError::Session(SessionError::TooLong { .. })), "{e}");
    // 2 s for the session and at most 5 s for the abort message.
    assert!(took < Duration::from_secs(9), "the session took {took:?}");
}

#[test]
fn a_reply_with_another_session_id_executes_nothing() {
    let mut s = setup(fotad::dm::auth::Scheme::Md5, Codec::Xml);
    s.server.apply(DEVICE, script::parse("hostile session-id 7FFF\nadd ./Vendor/x chr planted").unwrap());
    let e = run(&mut s).unwrap_err();
    assert!(matches!(&e, ClientError::Session(SessionError::Unbound { reason, .. }) if reason.contains("7FFF")), "{e}");
    assert_eq!(leaf(&mut s, "./Vendor/x"), None, "a command of another session was executed");
    assert_eq!(s.server.log().len(), 1, "the device answered a foreign message");
}

#[test]
fn statuses_that_refer_to_a_message_never_sent_execute_nothing() {
    let mut s = setup(fotad::dm::auth::Scheme::Md5, Codec::Wbxml);
    s.server.apply(DEVICE, script::parse("hostile msg-ref 99\nadd ./Vendor/x chr planted").unwrap());
    let e = run(&mut s).unwrap_err();
    assert!(matches!(&e, ClientError::Session(SessionError::Unbound { reason, .. }) if reason.contains("99")), "{e}");
    assert_eq!(leaf(&mut s, "./Vendor/x"), None, "a command bound to no message of ours was executed");
}

#[test]
fn an_oversized_echo_never_exceeds_the_max_msg_size_we_announced() {
    for codec in [Codec::Xml, Codec::Wbxml] {
        let cfg = ServerConfig::default();
        let mut s = setup_with(cfg, codec, 16 * 1024, None);
        s.server.apply(DEVICE, script::parse("hostile oversize").unwrap());
        let huge = format!("./Vendor/{}", "n".repeat(100 * 1024));
        let query = format!("./DevInfo?prop={}", "q".repeat(100 * 1024));
        s.server.queue(DEVICE, Command::Get(cmd(vec![item(&huge, None, None)])));
        s.server.queue(DEVICE, Command::Replace(cmd(vec![item(&query, Some("chr"), Some("x"))])));
        s.server.queue(DEVICE, Command::Get(cmd(vec![item("./DevInfo/Mod", None, None)])));
        run(&mut s).unwrap();
        for e in s.server.log() {
            assert!(e.request_bytes <= 16 * 1024, "{codec:?}: a {}-byte message against 16 KiB", e.request_bytes);
        }
        let gets = status_for(&s, "Get");
        assert!(gets.len() == 2 && gets[0] >= 400 && gets[1] == 200, "{codec:?}: {gets:?}");
        assert!(status_for(&s, "Replace")[0] >= 400, "{codec:?}");
    }
}

#[test]
fn a_tls_refusal_says_which_certificate_check_failed() {
    let dir = tempfile::tempdir().unwrap();
    let certs = fotad_tests::testserver::harness::make_certs(dir.path());
    let cfg = ServerConfig::default();
    let tls = TlsFiles { cert: &certs.server_cert, key: &certs.server_key, client_ca: None };
    let server = TestServer::start(cfg.clone(), 0, Some(tls)).unwrap();
    // The built-in web roots do not know the test CA.
    let toml = device_toml(&dir.path().join("state"), &server.url(), &cfg, Codec::Xml, 16 * 1024, None);
    let mut client = DmClient::open(Settings::from_toml_str(&toml).unwrap(), Versions::fixed("1", "1")).unwrap();
    let e = client.session(None, &Trigger::Client, &NoUi, &mut NoExec).unwrap_err().to_string();
    assert!(e.contains("UnknownIssuer"), "the error does not name the failed check: {e}");
    assert!(e.contains("ca_bundle"), "the error does not say what to check: {e}");
}
