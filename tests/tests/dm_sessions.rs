//! Full DM sessions between the fotad client and fotad-testserver over
//! loopback HTTP and HTTPS: authentication, notifications, alerts, faults.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

use fotad::dm::auth::Scheme;
use fotad::dm::client::DmClient;
use fotad::dm::config::Settings;
use fotad::dm::mo::Versions;
use fotad::dm::notification::UiMode;
use fotad::dm::session::{NoExec, NoUi, QueuedAlert, Trigger};
use fotad::dm::syncml::{Alert, Codec, Command, Item};
use fotad_tests::testserver::harness::device_toml;
use fotad_tests::testserver::{Fault, ServerConfig, TestServer, TlsFiles};

fn basic_session(auth: Scheme, codec: Codec) {
    let mut s = setup(auth, codec);
    s.server.queue(DEVICE, Command::Get(cmd(vec![item("./DevInfo/Mod", None, None)])));
    s.server.queue(DEVICE, Command::Add(cmd(vec![item("./Vendor/x", Some("chr"), Some("v1"))])));
    run(&mut s).unwrap_or_else(|e| panic!("{auth:?}/{codec:?}: {e}"));
    assert_eq!(results_data(&s), [("./DevInfo/Mod".to_string(), b"qemu-x86_64".to_vec())]);
    assert_eq!(leaf(&mut s, "./Vendor/x").as_deref(), Some("v1"));
    let log = s.server.log();
    let Command::Status(first) = &log[0].response.body.commands[0] else { panic!() };
    assert_eq!(first.code, 212, "{auth:?}: package 1 authenticated at once");
    let Command::Alert(a) = &log[0].request.body.commands[0] else { panic!() };
    assert_eq!(a.data, 1201);
    assert!(
        matches!(&log[0].request.body.commands[1], Command::Replace(r) if r.items.len() == 5),
        "DevInfo in package 1"
    );
}

#[test]
fn session_with_md5_digest_over_xml_and_wbxml() {
    basic_session(Scheme::Md5, Codec::Xml);
    basic_session(Scheme::Md5, Codec::Wbxml);
}

#[test]
fn session_with_basic_auth_over_xml_and_wbxml() {
    basic_session(Scheme::Basic, Codec::Xml);
    basic_session(Scheme::Basic, Codec::Wbxml);
}

#[test]
fn session_with_hmac_over_xml_and_wbxml() {
    basic_session(Scheme::Hmac, Codec::Xml);
    basic_session(Scheme::Hmac, Codec::Wbxml);
}

#[test]
fn a_stale_nonce_is_challenged_and_package_1_resent() {
    let mut s = setup(Scheme::Md5, Codec::Xml);
    s.server.state().config.client_nonce = b"server-changed-it".to_vec();
    s.server.queue(DEVICE, Command::Add(cmd(vec![item("./Vendor/x", Some("chr"), Some("v1"))])));
    run(&mut s).unwrap();
    let log = s.server.log();
    let Command::Status(first) = &log[0].response.body.commands[0] else { panic!() };
    assert_eq!(first.code, 401);
    assert!(first.chal.is_some());
    let Command::Status(second) = &log[1].response.body.commands[0] else { panic!() };
    assert_eq!(second.code, 212);
    assert_eq!(leaf(&mut s, "./Vendor/x").as_deref(), Some("v1"));
}

#[test]
fn a_wrong_password_fails_and_executes_nothing() {
    for auth in [Scheme::Basic, Scheme::Md5, Scheme::Hmac] {
        let cfg = ServerConfig { client_auth: auth, ..ServerConfig::default() };
        let mut s = setup_with(cfg, Codec::Xml, 16 * 1024, Some("wrong"));
        s.server.queue(DEVICE, Command::Add(cmd(vec![item("./Vendor/x", Some("chr"), Some("v1"))])));
        let e = run(&mut s).unwrap_err();
        assert!(e.to_string().contains("refused our credentials"), "{auth:?}: {e}");
        assert_eq!(leaf(&mut s, "./Vendor/x"), None);
    }
}

#[test]
fn server_credentials_are_checked_before_any_command() {
    for (secret_ok, scheme) in
        [(true, Scheme::Md5), (false, Scheme::Md5), (true, Scheme::Basic), (true, Scheme::Hmac), (false, Scheme::Hmac)]
    {
        let cfg = ServerConfig { server_auth: Some(scheme), ..ServerConfig::default() };
        let mut s = setup_with(cfg, Codec::Wbxml, 16 * 1024, None);
        let acc = s.client.tree().child_names("./DMAcc")[0].clone();
        let t = s.client.tree();
        t.put_leaf(&format!("./DMAcc/{acc}/AppAuth/2/AAuthType"), scheme.dmacc_name().as_bytes(), "chr").unwrap();
        if !secret_ok {
            s.server.state().config.server_secret = "not-the-one".into();
        }
        s.server.queue(DEVICE, Command::Add(cmd(vec![item("./Vendor/x", Some("chr"), Some("v1"))])));
        let r = run(&mut s);
        assert_eq!(r.is_ok(), secret_ok, "{scheme:?} ok={secret_ok}: {r:?}");
        assert_eq!(leaf(&mut s, "./Vendor/x").is_some(), secret_ok, "{scheme:?}");
        if !secret_ok {
            let hdr = statuses(&s).into_iter().find(|st| st.cmd == "SyncHdr").unwrap();
            assert_eq!(hdr.code, 401);
            assert!(hdr.chal.is_some());
        }
    }
}

#[test]
fn malformed_and_truncated_replies_abort_with_the_tree_unchanged() {
    for fault in [Fault::Truncate(1), Fault::Garbage, Fault::Truncate(100)] {
        for codec in [Codec::Xml, Codec::Wbxml] {
            let mut s = setup(Scheme::Md5, codec);
            let before = s.client.tree().snapshot();
            s.server.state().faults.insert(0, fault);
            s.server.queue(DEVICE, Command::Add(cmd(vec![item("./Vendor/x", Some("chr"), Some("v1"))])));
            let e = run(&mut s).unwrap_err();
            assert!(e.to_string().contains("malformed"), "{fault:?}/{codec:?}: {e}");
            assert_eq!(s.client.tree().snapshot(), before, "{fault:?}/{codec:?}");
        }
    }
}

#[test]
fn a_notification_starts_a_server_initiated_session() {
    let cfg = ServerConfig { server_auth: Some(Scheme::Md5), ..ServerConfig::default() };
    let mut s = setup_with(cfg, Codec::Wbxml, 16 * 1024, None);
    let pkg0 = s.server.notification(0x00AB, UiMode::Background);
    s.server.queue(DEVICE, Command::Add(cmd(vec![item("./Vendor/x", Some("chr"), Some("v1"))])));
    let report = s.client.notify(&pkg0, &NoUi, &mut NoExec).unwrap().unwrap();
    assert_eq!(report.session_id, "AB");
    let log = s.server.log();
    assert_eq!(log[0].request.hdr.session_id, "AB");
    let Command::Alert(a) = &log[0].request.body.commands[0] else { panic!() };
    assert_eq!(a.data, 1200);
    let mut bad = pkg0;
    bad[0] ^= 1;
    assert!(s.client.notify(&bad, &NoUi, &mut NoExec).is_err());
}

#[test]
fn queued_generic_alerts_are_sent_and_removed_when_acknowledged() {
    let mut s = setup(Scheme::Md5, Codec::Xml);
    let q = s.client.alerts();
    let update = "org.openmobilealliance.dm.firmwareupdate.update";
    q.push(QueuedAlert::generic("./FUMO/x", update, 410, Some("corr-7"), true)).unwrap();
    let report = run(&mut s).unwrap();
    assert_eq!(report.alerts_acked.len(), 1);
    assert!(q.is_empty());
    let sent = s.server.log()[0].request.body.commands.iter().find_map(|c| match c {
        Command::Alert(a) if a.data == 1226 => Some(a.clone()),
        _ => None,
    });
    let a = sent.unwrap();
    assert_eq!(a.correlator.as_deref(), Some("corr-7"));
    assert_eq!(a.items[0].data.as_deref(), Some(&b"410"[..]));
}

#[test]
fn ui_alerts_without_a_ui_get_their_default_only_where_the_integrator_opted_in() {
    let mut s = setup_with_dm(&ServerConfig::default(), Codec::Xml, 16 * 1024, "ui_default_answers = [\"confirm\"]");
    let ui = |code: u32, opts: &str| {
        Command::Alert(Alert {
            data: code,
            items: vec![
                Item { data: Some(opts.as_bytes().to_vec()), ..Item::default() },
                Item { data: Some(b"Update?".to_vec()), ..Item::default() },
            ],
            ..Alert::default()
        })
    };
    s.server.queue(DEVICE, ui(1101, "MINDT=1&MAXDT=5&DR=1"));
    s.server.queue(DEVICE, ui(1101, "MAXDT=15DR=0"));
    s.server.queue(DEVICE, ui(1101, "MAXDT=1"));
    s.server.queue(DEVICE, ui(1100, ""));
    s.server.queue(DEVICE, ui(1103, "DR=1"));
    run(&mut s).unwrap();
    assert_eq!(status_for(&s, "Alert"), [200, 304, 408, 200, 408], "confirm opted in, single choice not");
}

#[test]
fn https_session_with_a_configured_ca_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let certs = fotad_tests::testserver::harness::make_certs(dir.path());
    let (ca, cert, key) = (certs.ca, certs.server_cert, certs.server_key);
    let cfg = ServerConfig::default();
    let server = TestServer::start(cfg.clone(), 0, Some(TlsFiles { cert: &cert, key: &key, client_ca: None })).unwrap();
    assert!(server.url().starts_with("https://"));
    server.queue(DEVICE, Command::Add(cmd(vec![item("./Vendor/x", Some("chr"), Some("tls"))])));
    let state = dir.path().join("state");
    let toml = device_toml(&state, &server.url(), &cfg, Codec::Wbxml, 16 * 1024, Some(&ca));
    let mut client = DmClient::open(Settings::from_toml_str(&toml).unwrap(), Versions::fixed("1", "1")).unwrap();
    client.session(None, &Trigger::Client, &NoUi, &mut NoExec).unwrap();
    assert_eq!(client.tree().leaf_text("./Vendor/x").as_deref(), Some("tls"));

    // Without the CA bundle the built-in roots do not trust the test CA.
    let state2 = dir.path().join("state2");
    let toml = device_toml(&state2, &server.url(), &cfg, Codec::Wbxml, 16 * 1024, None);
    let mut client = DmClient::open(Settings::from_toml_str(&toml).unwrap(), Versions::fixed("1", "1")).unwrap();
    let e = client.session(None, &Trigger::Client, &NoUi, &mut NoExec).unwrap_err();
    assert!(e.to_string().to_lowercase().contains("certificate") || e.to_string().contains("failed"), "{e}");
}

#[test]
fn a_wap_push_over_udp_starts_a_session() {
    let cfg = ServerConfig { server_auth: Some(Scheme::Md5), ..ServerConfig::default() };
    let mut s = setup_with(cfg, Codec::Xml, 16 * 1024, None);
    s.server.queue(DEVICE, Command::Add(cmd(vec![item("./Vendor/x", Some("chr"), Some("udp"))])));
    let (tx, rx) = std::sync::mpsc::channel();
    let listener = fotad::dm::wap_push::UdpListener::start("127.0.0.1:0".parse().unwrap(), move |b| {
        tx.send(b).unwrap();
    })
    .unwrap();
    s.server.send_notification_udp(listener.local_addr(), 0x1F, UiMode::Background).unwrap();
    let pkg0 = rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
    let report = s.client.notify(&pkg0, &NoUi, &mut NoExec).unwrap().unwrap();
    assert_eq!(report.session_id, "1F");
    assert_eq!(leaf(&mut s, "./Vendor/x").as_deref(), Some("udp"));
}

#[test]
fn the_server_can_abort_the_session_with_1223() {
    let mut s = setup(Scheme::Md5, Codec::Xml);
    s.server.queue(DEVICE, Command::Add(cmd(vec![item("./Vendor/x", Some("chr"), Some("v"))])));
    s.server.queue(DEVICE, Command::Alert(Alert { data: 1223, ..Alert::default() }));
    s.server.queue(DEVICE, Command::Add(cmd(vec![item("./Vendor/y", Some("chr"), Some("v"))])));
    let report = run(&mut s).unwrap();
    assert!(report.aborted_by_server);
    assert_eq!(leaf(&mut s, "./Vendor/x").as_deref(), Some("v"));
    assert_eq!(leaf(&mut s, "./Vendor/y"), None, "commands after 1223 are not run");
    assert_eq!(s.server.log().len(), 1, "nothing sent after the abort");
}

#[test]
fn https_session_with_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let c = fotad_tests::testserver::harness::make_certs(dir.path());
    let cfg = ServerConfig::default();
    let tls = TlsFiles { cert: &c.server_cert, key: &c.server_key, client_ca: Some(&c.ca) };
    let server = TestServer::start(cfg.clone(), 0, Some(tls)).unwrap();
    server.queue(DEVICE, Command::Add(cmd(vec![item("./Vendor/x", Some("chr"), Some("mtls"))])));
    let open = |name: &str, with_cert: bool| {
        let mut toml = device_toml(&dir.path().join(name), &server.url(), &cfg, Codec::Xml, 16 * 1024, Some(&c.ca));
        if with_cert {
            let (cert, key) = (c.client_cert.display().to_string(), c.client_key.display().to_string());
            toml.push_str(&format!("client_cert = {cert:?}\nclient_key = {key:?}\n"));
        }
        DmClient::open(Settings::from_toml_str(&toml).unwrap(), Versions::fixed("1", "1")).unwrap()
    };
    let mut without = open("no-cert", false);
    let refused = without.session(None, &Trigger::Client, &NoUi, &mut NoExec);
    assert!(refused.is_err(), "server accepted a client without a certificate");
    let mut with = open("cert", true);
    with.session(None, &Trigger::Client, &NoUi, &mut NoExec).unwrap();
    assert_eq!(with.tree().leaf_text("./Vendor/x").as_deref(), Some("mtls"));
}

#[test]
fn a_server_speaking_another_dtd_version_is_refused_before_any_command() {
    let cfg = ServerConfig { ver_dtd: "2.0".into(), ..ServerConfig::default() };
    let mut s = setup_with(cfg, Codec::Wbxml, 16 * 1024, None);
    s.server.queue(DEVICE, Command::Add(cmd(vec![item("./Vendor/x", Some("chr"), Some("v"))])));
    let e = run(&mut s).unwrap_err();
    assert!(e.to_string().contains("DTD 2.0"), "{e}");
    assert_eq!(leaf(&mut s, "./Vendor/x"), None);
}

struct Declines;

impl fotad::dm::session::UserInteraction for Declines {
    fn prompt(&self, _: &fotad::dm::session::Prompt) -> Option<fotad::dm::session::UiAnswer> {
        Some(fotad::dm::session::UiAnswer::Rejected)
    }
}

#[test]
fn a_user_interaction_notification_the_user_declines_starts_nothing() {
    let cfg = ServerConfig { server_auth: Some(Scheme::Md5), ..ServerConfig::default() };
    let mut s = setup_with(cfg, Codec::Wbxml, 16 * 1024, None);
    let ask = s.server.notification(7, UiMode::UserInteraction);
    assert!(s.client.notify(&ask, &Declines, &mut NoExec).unwrap().is_none());
    assert!(s.server.log().is_empty(), "a session was started");
    // Informative mode only shows a message: the session runs anyway.
    let inform = s.server.notification(8, UiMode::Informative);
    assert!(s.client.notify(&inform, &Declines, &mut NoExec).unwrap().is_some());
}
