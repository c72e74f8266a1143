//! Full DM sessions between the fotad client and fotad-testserver over
//! loopback HTTP (and HTTPS in `https_session_*`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fotad::auth::Scheme;
use fotad::client::DmClient;
use fotad::config::Settings;
use fotad::mo::Versions;
use fotad::notification::UiMode;
use fotad::session::{NoExec, NoUi, QueuedAlert, Trigger, ALERT_GENERIC};
use fotad::syncml::{Alert, Codec, Command, Container, Item, ItemCmd, Loc, Meta, Status};
use fotad::tree::Who;
use fotad_tests::testserver::harness::device_toml;
use fotad_tests::testserver::{Fault, Payload, ServerConfig, TestServer};

const DEVICE: &str = "IMEI:490154203237518";

struct Setup {
    server: TestServer,
    client: DmClient,
    _dir: tempfile::TempDir,
}

fn setup_with(
    cfg: ServerConfig,
    codec: Codec,
    max_msg_size: u64,
    device_secret: Option<&str>,
) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(cfg.clone(), 0, None).unwrap();
    let mut dev_cfg = cfg;
    if let Some(s) = device_secret {
        dev_cfg.client_secret = s.into();
    }
    let toml = device_toml(
        dir.path(),
        &server.url(),
        &dev_cfg,
        codec,
        max_msg_size,
        None,
    );
    let settings = Settings::from_toml_str(&toml).unwrap();
    let client = DmClient::open(settings, Versions::fixed("fw-1.0", "sw-1.0")).unwrap();
    Setup {
        server,
        client,
        _dir: dir,
    }
}

fn setup(auth: Scheme, codec: Codec) -> Setup {
    setup_with(
        ServerConfig {
            client_auth: auth,
            ..ServerConfig::default()
        },
        codec,
        16 * 1024,
        None,
    )
}

fn item(uri: &str, format: Option<&str>, data: Option<&str>) -> Item {
    Item {
        target: Some(Loc::uri(uri)),
        meta: format.map(|f| Meta {
            format: Some(f.into()),
            ..Meta::default()
        }),
        data: data.map(|d| d.as_bytes().to_vec()),
        ..Item::default()
    }
}

fn cmd(items: Vec<Item>) -> ItemCmd {
    ItemCmd {
        items,
        ..ItemCmd::default()
    }
}

fn run(s: &mut Setup) -> Result<fotad::session::SessionReport, fotad::client::ClientError> {
    s.client.session(None, &Trigger::Client, &NoUi, &mut NoExec)
}

fn statuses(s: &Setup) -> Vec<Status> {
    s.server
        .received()
        .into_iter()
        .filter_map(|c| {
            if let Command::Status(st) = c {
                Some(st)
            } else {
                None
            }
        })
        .collect()
}

fn status_for(s: &Setup, cmd: &str) -> Vec<u16> {
    statuses(s)
        .into_iter()
        .filter(|st| st.cmd == cmd)
        .map(|st| st.code)
        .collect()
}

fn results_data(s: &Setup) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for c in s.server.received() {
        if let Command::Results(r) = c {
            for i in r.items {
                out.push((
                    i.source.map(|l| l.uri).unwrap_or_default(),
                    i.data.unwrap_or_default(),
                ));
            }
        }
    }
    out
}

fn leaf(s: &mut Setup, uri: &str) -> Option<String> {
    s.client.tree().leaf_text(uri)
}

fn basic_session(auth: Scheme, codec: Codec) {
    let mut s = setup(auth, codec);
    s.server.queue(
        DEVICE,
        Command::Get(cmd(vec![item("./DevInfo/Mod", None, None)])),
    );
    s.server.queue(
        DEVICE,
        Command::Add(cmd(vec![item("./Vendor/x", Some("chr"), Some("v1"))])),
    );
    run(&mut s).unwrap_or_else(|e| panic!("{auth:?}/{codec:?}: {e}"));
    assert_eq!(
        results_data(&s),
        [("./DevInfo/Mod".to_string(), b"qemu-x86_64".to_vec())]
    );
    assert_eq!(leaf(&mut s, "./Vendor/x").as_deref(), Some("v1"));
    let log = s.server.log();
    let Command::Status(first) = &log[0].response.body.commands[0] else {
        panic!()
    };
    assert_eq!(first.code, 212, "{auth:?}: package 1 authenticated at once");
    let Command::Alert(a) = &log[0].request.body.commands[0] else {
        panic!()
    };
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
    s.server.queue(
        DEVICE,
        Command::Add(cmd(vec![item("./Vendor/x", Some("chr"), Some("v1"))])),
    );
    run(&mut s).unwrap();
    let log = s.server.log();
    let Command::Status(first) = &log[0].response.body.commands[0] else {
        panic!()
    };
    assert_eq!(first.code, 401);
    assert!(first.chal.is_some());
    let Command::Status(second) = &log[1].response.body.commands[0] else {
        panic!()
    };
    assert_eq!(second.code, 212);
    assert_eq!(leaf(&mut s, "./Vendor/x").as_deref(), Some("v1"));
}

#[test]
fn a_wrong_password_fails_and_executes_nothing() {
    for auth in [Scheme::Basic, Scheme::Md5, Scheme::Hmac] {
        let cfg = ServerConfig {
            client_auth: auth,
            ..ServerConfig::default()
        };
        let mut s = setup_with(cfg, Codec::Xml, 16 * 1024, Some("wrong"));
        s.server.queue(
            DEVICE,
            Command::Add(cmd(vec![item("./Vendor/x", Some("chr"), Some("v1"))])),
        );
        let e = run(&mut s).unwrap_err();
        assert!(
            e.to_string().contains("refused our credentials"),
            "{auth:?}: {e}"
        );
        assert_eq!(leaf(&mut s, "./Vendor/x"), None);
    }
}

#[test]
fn server_credentials_are_checked_before_any_command() {
    for (secret_ok, scheme) in [
        (true, Scheme::Md5),
        (false, Scheme::Md5),
        (true, Scheme::Basic),
        (true, Scheme::Hmac),
        (false, Scheme::Hmac),
    ] {
        let cfg = ServerConfig {
            server_auth: Some(scheme),
            ..ServerConfig::default()
        };
        let mut s = setup_with(cfg, Codec::Wbxml, 16 * 1024, None);
        let acc = s.client.tree().child_names("./DMAcc")[0].clone();
        let t = s.client.tree();
        t.put_leaf(
            &format!("./DMAcc/{acc}/AppAuth/2/AAuthType"),
            scheme.dmacc_name().as_bytes(),
            "chr",
        )
        .unwrap();
        if !secret_ok {
            s.server.state().config.server_secret = "not-the-one".into();
        }
        s.server.queue(
            DEVICE,
            Command::Add(cmd(vec![item("./Vendor/x", Some("chr"), Some("v1"))])),
        );
        let r = run(&mut s);
        assert_eq!(r.is_ok(), secret_ok, "{scheme:?} ok={secret_ok}: {r:?}");
        assert_eq!(
            leaf(&mut s, "./Vendor/x").is_some(),
            secret_ok,
            "{scheme:?}"
        );
        if !secret_ok {
            let hdr = statuses(&s)
                .into_iter()
                .find(|st| st.cmd == "SyncHdr")
                .unwrap();
            assert_eq!(hdr.code, 401);
            assert!(hdr.chal.is_some());
        }
    }
}

#[test]
fn atomic_rolls_back_when_one_command_fails() {
    let mut s = setup(Scheme::Md5, Codec::Xml);
    let atomic = Container {
        commands: vec![
            Command::Add(ItemCmd {
                cmd_id: 11,
                ..cmd(vec![item("./Vendor/a", Some("chr"), Some("1"))])
            }),
            Command::Add(ItemCmd {
                cmd_id: 12,
                ..cmd(vec![item("./DevInfo/Mod", Some("chr"), Some("x"))])
            }),
            Command::Add(ItemCmd {
                cmd_id: 13,
                ..cmd(vec![item("./Vendor/b", Some("chr"), Some("2"))])
            }),
        ],
        ..Container::default()
    };
    s.server.queue(DEVICE, Command::Atomic(atomic));
    run(&mut s).unwrap();
    assert_eq!(leaf(&mut s, "./Vendor/a"), None, "rolled back");
    assert_eq!(status_for(&s, "Atomic"), [507]);
    assert_eq!(status_for(&s, "Add"), [216, 418, 215]);
}

#[test]
fn acl_denials_and_forbidden_commands_get_their_codes() {
    let mut s = setup(Scheme::Md5, Codec::Wbxml);
    s.server.queue(
        DEVICE,
        Command::Replace(cmd(vec![item("./DevInfo/Mod", Some("chr"), Some("x"))])),
    );
    s.server.queue(
        DEVICE,
        Command::Delete(cmd(vec![item("./DevInfo", None, None)])),
    );
    s.server
        .queue(DEVICE, Command::Get(cmd(vec![item("./Nope", None, None)])));
    s.server.queue(
        DEVICE,
        Command::Add(cmd(vec![item("./DevInfo/New", Some("chr"), Some("x"))])),
    );
    run(&mut s).unwrap();
    assert_eq!(status_for(&s, "Replace"), [425]);
    assert_eq!(status_for(&s, "Delete"), [405]);
    assert_eq!(status_for(&s, "Get"), [404]);
    assert_eq!(status_for(&s, "Add"), [425]);
    assert_eq!(
        leaf(&mut s, "./DevInfo/Mod").as_deref(),
        Some("qemu-x86_64")
    );
}

#[test]
fn get_of_the_whole_tree_spans_several_messages() {
    let mut s = setup_with(ServerConfig::default(), Codec::Xml, 2048, None);
    for i in 0..30 {
        s.client
            .tree()
            .put_leaf(
                &format!("./Vendor/n{i:02}"),
                format!("value-{i}").as_bytes(),
                "chr",
            )
            .unwrap();
    }
    s.server.queue(
        DEVICE,
        Command::Get(cmd(vec![item("./?list=StructData", None, None)])),
    );
    run(&mut s).unwrap();
    let got = results_data(&s);
    assert!(
        got.iter()
            .any(|(u, d)| u == "./Vendor/n29" && d == b"value-29"),
        "{got:?}"
    );
    assert!(got.iter().any(|(u, _)| u == "./DevInfo/DevId"));
    let log = s.server.log();
    let carrying: Vec<_> = log
        .iter()
        .filter(|e| {
            e.request
                .body
                .commands
                .iter()
                .any(|c| matches!(c, Command::Results(_)))
        })
        .collect();
    assert!(
        carrying.len() >= 3,
        "results in {} messages",
        carrying.len()
    );
    assert!(
        log.iter().all(|e| e.request_bytes <= 2048),
        "a message exceeded MaxMsgSize"
    );
    assert!(carrying
        .iter()
        .take(carrying.len() - 1)
        .all(|e| !e.request.body.final_flag));
}

#[test]
fn a_large_object_arrives_in_chunks_into_a_file() {
    let mut s = setup_with(
        ServerConfig {
            chunk_size: 4000,
            ..ServerConfig::default()
        },
        Codec::Wbxml,
        8192,
        None,
    );
    s.client.tree().put_interior("./Vendor").unwrap();
    s.client
        .tree()
        .with_node("./Vendor", |n| {
            n.acl = fotad::tree::Acl::parse("Add=*&Get=*&Replace=*").unwrap()
        })
        .unwrap();
    let payload = Payload::Pattern {
        size: 100_000,
        seed: 3,
    };
    s.server
        .queue_large(DEVICE, false, "./Vendor/blob", "bin", payload.clone());
    run(&mut s).unwrap();
    assert!(status_for(&s, "Add").iter().filter(|c| **c == 213).count() >= 20);
    assert_eq!(status_for(&s, "Add").last(), Some(&200));
    let items = s.client.tree().get(Who::Local, "./Vendor/blob").unwrap();
    let Some(fotad::tree::Value::File { path, size }) = &items[0].data else {
        panic!("not a file: {items:?}")
    };
    assert_eq!(*size, 100_000);
    assert_eq!(std::fs::read(path).unwrap(), payload.slice(0, 100_000));
}

#[test]
fn a_large_value_goes_out_in_chunks() {
    let mut s = setup_with(ServerConfig::default(), Codec::Xml, 4096, None);
    let big = "x".repeat(20_000);
    s.client
        .tree()
        .put_leaf("./Vendor/big", big.as_bytes(), "chr")
        .unwrap();
    s.server.queue(
        DEVICE,
        Command::Get(cmd(vec![item("./Vendor/big", None, None)])),
    );
    run(&mut s).unwrap();
    let data: Vec<u8> = results_data(&s).into_iter().flat_map(|(_, d)| d).collect();
    assert_eq!(data, big.as_bytes());
    let chunks: Vec<_> = s
        .server
        .received()
        .into_iter()
        .filter(|c| matches!(c, Command::Results(_)))
        .collect();
    assert!(chunks.len() >= 5, "{} chunks", chunks.len());
    let Command::Results(first) = &chunks[0] else {
        panic!()
    };
    assert_eq!(first.items[0].meta.as_ref().unwrap().size, Some(20_000));
    assert!(first.items[0].more_data);
}

#[test]
fn malformed_and_truncated_replies_abort_with_the_tree_unchanged() {
    for fault in [Fault::Truncate(1), Fault::Garbage, Fault::Truncate(100)] {
        for codec in [Codec::Xml, Codec::Wbxml] {
            let mut s = setup(Scheme::Md5, codec);
            let before = s.client.tree().snapshot();
            s.server.state().faults.insert(0, fault);
            s.server.queue(
                DEVICE,
                Command::Add(cmd(vec![item("./Vendor/x", Some("chr"), Some("v1"))])),
            );
            let e = run(&mut s).unwrap_err();
            assert!(
                e.to_string().contains("malformed"),
                "{fault:?}/{codec:?}: {e}"
            );
            assert_eq!(s.client.tree().snapshot(), before, "{fault:?}/{codec:?}");
        }
    }
}

#[test]
fn a_notification_starts_a_server_initiated_session() {
    let cfg = ServerConfig {
        server_auth: Some(Scheme::Md5),
        ..ServerConfig::default()
    };
    let mut s = setup_with(cfg, Codec::Wbxml, 16 * 1024, None);
    let pkg0 = s.server.notification(0x00AB, UiMode::Background);
    s.server.queue(
        DEVICE,
        Command::Add(cmd(vec![item("./Vendor/x", Some("chr"), Some("v1"))])),
    );
    let report = s.client.notify(&pkg0, &NoUi, &mut NoExec).unwrap().unwrap();
    assert_eq!(report.session_id, "AB");
    let log = s.server.log();
    assert_eq!(log[0].request.hdr.session_id, "AB");
    let Command::Alert(a) = &log[0].request.body.commands[0] else {
        panic!()
    };
    assert_eq!(a.data, 1200);
    let mut bad = pkg0;
    bad[0] ^= 1;
    assert!(s.client.notify(&bad, &NoUi, &mut NoExec).is_err());
}

#[test]
fn queued_generic_alerts_are_sent_and_removed_when_acknowledged() {
    let mut s = setup(Scheme::Md5, Codec::Xml);
    let q = s.client.alerts();
    q.push(QueuedAlert {
        id: 0,
        code: ALERT_GENERIC,
        server_id: None,
        correlator: Some("corr-7".into()),
        source: Some("./FUMO/x".into()),
        target: None,
        type_: "org.openmobilealliance.dm.firmwareupdate.update".into(),
        format: "int".into(),
        mark: Some("critical".into()),
        data: "410".into(),
    })
    .unwrap();
    let report = run(&mut s).unwrap();
    assert_eq!(report.alerts_acked.len(), 1);
    assert!(q.is_empty());
    let sent = s.server.log()[0]
        .request
        .body
        .commands
        .iter()
        .find_map(|c| match c {
            Command::Alert(a) if a.data == 1226 => Some(a.clone()),
            _ => None,
        });
    let a = sent.unwrap();
    assert_eq!(a.correlator.as_deref(), Some("corr-7"));
    assert_eq!(a.items[0].data.as_deref(), Some(&b"410"[..]));
}

#[test]
fn ui_alerts_get_default_answers_without_a_ui() {
    let mut s = setup(Scheme::Md5, Codec::Xml);
    let ui = |code: u32, opts: &str| {
        Command::Alert(Alert {
            data: code,
            items: vec![
                Item {
                    data: Some(opts.as_bytes().to_vec()),
                    ..Item::default()
                },
                Item {
                    data: Some(b"Update?".to_vec()),
                    ..Item::default()
                },
            ],
            ..Alert::default()
        })
    };
    s.server.queue(DEVICE, ui(1101, "MINDT=1&MAXDT=5&DR=1"));
    s.server.queue(DEVICE, ui(1101, "MAXDT=15DR=0"));
    s.server.queue(DEVICE, ui(1101, "MAXDT=1"));
    s.server.queue(DEVICE, ui(1100, ""));
    run(&mut s).unwrap();
    assert_eq!(status_for(&s, "Alert"), [200, 304, 408, 200]);
}

#[test]
fn https_session_with_a_configured_ca_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = fotad_tests::testserver::harness::make_certs(dir.path());
    let cfg = ServerConfig::default();
    let server = TestServer::start(cfg.clone(), 0, Some((&cert, &key))).unwrap();
    assert!(server.url().starts_with("https://"));
    server.queue(
        DEVICE,
        Command::Add(cmd(vec![item("./Vendor/x", Some("chr"), Some("tls"))])),
    );
    let state = dir.path().join("state");
    let toml = device_toml(
        &state,
        &server.url(),
        &cfg,
        Codec::Wbxml,
        16 * 1024,
        Some(&ca),
    );
    let mut client = DmClient::open(
        Settings::from_toml_str(&toml).unwrap(),
        Versions::fixed("1", "1"),
    )
    .unwrap();
    client
        .session(None, &Trigger::Client, &NoUi, &mut NoExec)
        .unwrap();
    assert_eq!(
        client.tree().leaf_text("./Vendor/x").as_deref(),
        Some("tls")
    );

    // Without the CA bundle the built-in roots do not trust the test CA.
    let state2 = dir.path().join("state2");
    let toml = device_toml(&state2, &server.url(), &cfg, Codec::Wbxml, 16 * 1024, None);
    let mut client = DmClient::open(
        Settings::from_toml_str(&toml).unwrap(),
        Versions::fixed("1", "1"),
    )
    .unwrap();
    let e = client
        .session(None, &Trigger::Client, &NoUi, &mut NoExec)
        .unwrap_err();
    assert!(
        e.to_string().to_lowercase().contains("certificate") || e.to_string().contains("failed"),
        "{e}"
    );
}
