//! Server commands in full sessions against fotad-testserver: Atomic,
//! Sequence, Exec, Copy, ACLs, multi-message Get, large objects, UI alerts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

use fotad::dm::auth::Scheme;
use fotad::dm::session::Trigger;
use fotad::dm::syncml::{Alert, Codec, Command, Container, Item, ItemCmd, Loc};
use fotad::dm::tree::Who;
use fotad_tests::testserver::{Payload, ServerConfig};

#[test]
fn atomic_rolls_back_when_one_command_fails() {
    let mut s = setup(Scheme::Md5, Codec::Xml);
    let atomic = Container {
        commands: vec![
            Command::Add(ItemCmd { cmd_id: 11, ..cmd(vec![item("./Vendor/a", Some("chr"), Some("1"))]) }),
            Command::Add(ItemCmd { cmd_id: 12, ..cmd(vec![item("./DevInfo/Mod", Some("chr"), Some("x"))]) }),
            Command::Add(ItemCmd { cmd_id: 13, ..cmd(vec![item("./Vendor/b", Some("chr"), Some("2"))]) }),
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
    s.server.queue(DEVICE, Command::Replace(cmd(vec![item("./DevInfo/Mod", Some("chr"), Some("x"))])));
    s.server.queue(DEVICE, Command::Delete(cmd(vec![item("./DevInfo", None, None)])));
    s.server.queue(DEVICE, Command::Get(cmd(vec![item("./Nope", None, None)])));
    s.server.queue(DEVICE, Command::Add(cmd(vec![item("./DevInfo/New", Some("chr"), Some("x"))])));
    run(&mut s).unwrap();
    assert_eq!(status_for(&s, "Replace"), [425]);
    assert_eq!(status_for(&s, "Delete"), [405]);
    assert_eq!(status_for(&s, "Get"), [404]);
    assert_eq!(status_for(&s, "Add"), [425]);
    assert_eq!(leaf(&mut s, "./DevInfo/Mod").as_deref(), Some("qemu-x86_64"));
}

#[test]
fn get_of_the_whole_tree_spans_several_messages() {
    let mut s = setup_with(ServerConfig::default(), Codec::Xml, 2048, None);
    for i in 0..30 {
        s.client.tree().put_leaf(&format!("./Vendor/n{i:02}"), format!("value-{i}").as_bytes(), "chr").unwrap();
    }
    s.server.queue(DEVICE, Command::Get(cmd(vec![item("./?list=StructData", None, None)])));
    run(&mut s).unwrap();
    let got = results_data(&s);
    assert!(got.iter().any(|(u, d)| u == "./Vendor/n29" && d == b"value-29"), "{got:?}");
    assert!(got.iter().any(|(u, _)| u == "./DevInfo/DevId"));
    let log = s.server.log();
    let carrying: Vec<_> =
        log.iter().filter(|e| e.request.body.commands.iter().any(|c| matches!(c, Command::Results(_)))).collect();
    assert!(carrying.len() >= 3, "results in {} messages", carrying.len());
    assert!(log.iter().all(|e| e.request_bytes <= 2048), "a message exceeded MaxMsgSize");
    assert!(carrying.iter().take(carrying.len() - 1).all(|e| !e.request.body.final_flag));
}

#[test]
fn a_large_object_arrives_in_chunks_into_a_file() {
    let mut s = small_chunks();
    s.client.tree().put_interior("./Vendor").unwrap();
    s.client
        .tree()
        .with_node("./Vendor", |n| n.acl = fotad::dm::tree::Acl::parse("Add=*&Get=*&Replace=*").unwrap())
        .unwrap();
    let payload = Payload::Pattern { size: 100_000, seed: 3 };
    s.server.queue_large(DEVICE, false, "./Vendor/blob", "bin", payload.clone());
    run(&mut s).unwrap();
    assert!(status_for(&s, "Add").iter().filter(|c| **c == 213).count() >= 20);
    assert_eq!(status_for(&s, "Add").last(), Some(&200));
    let items = s.client.tree().get(Who::Local, "./Vendor/blob").unwrap();
    let Some(fotad::dm::tree::Value::File { path, size }) = &items[0].data else { panic!("not a file: {items:?}") };
    assert_eq!(*size, 100_000);
    assert_eq!(std::fs::read(path).unwrap(), payload.slice(0, 100_000));
}

#[test]
fn a_large_value_goes_out_in_chunks() {
    let mut s = setup_with(ServerConfig::default(), Codec::Xml, 4096, None);
    let big = "x".repeat(20_000);
    s.client.tree().put_leaf("./Vendor/big", big.as_bytes(), "chr").unwrap();
    s.server.queue(DEVICE, Command::Get(cmd(vec![item("./Vendor/big", None, None)])));
    run(&mut s).unwrap();
    let data: Vec<u8> = results_data(&s).into_iter().flat_map(|(_, d)| d).collect();
    assert_eq!(data, big.as_bytes());
    let chunks: Vec<_> = s.server.received().into_iter().filter(|c| matches!(c, Command::Results(_))).collect();
    assert!(chunks.len() >= 5, "{} chunks", chunks.len());
    let Command::Results(first) = &chunks[0] else { panic!() };
    assert_eq!(first.items[0].meta.as_ref().unwrap().size, Some(20_000));
    assert!(first.items[0].more_data);
}

struct Recorder(Vec<(String, Option<String>)>);

impl fotad::dm::session::ExecHandler for Recorder {
    fn exec(&mut self, req: &fotad::dm::session::ExecRequest<'_>) -> fotad::dm::status::StatusCode {
        self.0.push((req.uri.to_string(), req.correlator.map(str::to_string)));
        fotad::dm::status::StatusCode::AcceptedForProcessing
    }
}

struct Answers;

impl fotad::dm::session::UserInteraction for Answers {
    fn prompt(&self, p: &fotad::dm::session::Prompt) -> Option<fotad::dm::session::UiAnswer> {
        use fotad::dm::session::{PromptKind, UiAnswer};
        Some(match p.kind {
            PromptKind::TextInput => UiAnswer::Text(format!("typed for {}", p.text)),
            PromptKind::MultiChoice => UiAnswer::Choices(vec![1, 3]),
            _ => UiAnswer::Cancelled,
        })
    }
}

#[test]
fn exec_copy_sequence_and_answers_from_a_ui() {
    let mut s = setup(Scheme::Md5, Codec::Wbxml);
    s.client.tree().put_leaf("./FUMO/x/Update", b"", "null").unwrap();
    s.client
        .tree()
        .with_node("./FUMO", |n| n.acl = fotad::dm::tree::Acl::parse("Get=*&Exec=*&Add=*&Replace=*").unwrap())
        .unwrap();
    let exec = ItemCmd { correlator: Some("c-42".into()), ..cmd(vec![item("./FUMO/x/Update", None, None)]) };
    s.server.queue(DEVICE, Command::Exec(exec));
    let copy = Item { source: Some(Loc::uri("./DevInfo/Mod")), ..item("./FUMO/x/Model", None, None) };
    let seq = Container {
        commands: vec![
            Command::Copy(ItemCmd { cmd_id: 21, ..cmd(vec![copy]) }),
            Command::Get(ItemCmd { cmd_id: 22, ..cmd(vec![item("./FUMO/x/Model", None, None)]) }),
        ],
        ..Container::default()
    };
    s.server.queue(DEVICE, Command::Sequence(seq));
    let alert = |code: u32, choices: &[&str]| {
        let mut items = vec![
            Item { data: Some(b"MAXDT=5".to_vec()), ..Item::default() },
            Item { data: Some(b"name?".to_vec()), ..Item::default() },
        ];
        items.extend(choices.iter().map(|c| Item { data: Some(c.as_bytes().to_vec()), ..Item::default() }));
        Command::Alert(Alert { data: code, items, ..Alert::default() })
    };
    s.server.queue(DEVICE, alert(1102, &[]));
    s.server.queue(DEVICE, alert(1104, &["a", "b", "c"]));
    s.server.queue(DEVICE, alert(1101, &[]));
    let mut rec = Recorder(Vec::new());
    s.client.session(None, &Trigger::Client, &Answers, &mut rec).unwrap();
    assert_eq!(rec.0, [("./FUMO/x/Update".to_string(), Some("c-42".to_string()))]);
    assert_eq!(status_for(&s, "Exec"), [202]);
    assert_eq!(status_for(&s, "Copy"), [200]);
    assert_eq!(status_for(&s, "Sequence"), [200]);
    assert!(results_data(&s).contains(&("./FUMO/x/Model".to_string(), b"qemu-x86_64".to_vec())));
    let alerts: Vec<_> = statuses(&s).into_iter().filter(|st| st.cmd == "Alert" && st.cmd_ref > 1).collect();
    assert_eq!(alerts.iter().map(|a| a.code).collect::<Vec<_>>(), [200, 200, 214]);
    assert_eq!(alerts[0].items[0].data.as_deref(), Some(&b"typed for name?"[..]));
    let picks: Vec<_> = alerts[1].items.iter().map(|i| i.data.clone().unwrap()).collect();
    assert_eq!(picks, [b"1".to_vec(), b"3".to_vec()]);
}

#[test]
fn a_refused_large_object_leaves_no_file_behind() {
    let mut s = small_chunks();
    // ./DevInfo is Get-only: the object is refused with 425 at its first
    // chunk, and every chunk after it too, so nothing is stored.
    s.server.queue_large(DEVICE, false, "./DevInfo/Blob", "bin", Payload::Pattern { size: 20_000, seed: 1 });
    run(&mut s).unwrap();
    let adds = status_for(&s, "Add");
    assert!(adds.len() >= 5 && adds.iter().all(|c| *c == 425), "{adds:?}");
    let objects = s._dir.path().join("objects");
    let left = std::fs::read_dir(&objects).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "files left in {}", objects.display());
}

#[test]
fn get_or_atomic_inside_atomic_fail_it_with_500() {
    for inner in [
        Command::Get(ItemCmd { cmd_id: 31, ..cmd(vec![item("./DevInfo/Mod", None, None)]) }),
        Command::Atomic(Container { cmd_id: 31, ..Container::default() }),
    ] {
        let mut s = setup(Scheme::Md5, Codec::Xml);
        let add = Command::Add(ItemCmd { cmd_id: 30, ..cmd(vec![item("./Vendor/a", Some("chr"), Some("1"))]) });
        s.server
            .queue(DEVICE, Command::Atomic(Container { commands: vec![add, inner.clone()], ..Container::default() }));
        run(&mut s).unwrap();
        assert_eq!(leaf(&mut s, "./Vendor/a"), None, "{}", inner.name());
        let codes: Vec<(String, u16)> = statuses(&s)
            .into_iter()
            .filter(|st| st.cmd_ref >= 30 || st.cmd == "Atomic")
            .map(|st| (st.cmd, st.code))
            .collect();
        assert!(codes.contains(&("Add".into(), 216)), "{codes:?}");
        assert!(codes.contains(&(inner.name().into(), 500)), "{codes:?}");
        assert!(codes.contains(&("Atomic".into(), 507)), "{codes:?}");
    }
}

/// A session where objects come in 4000-byte chunks within 8 KiB messages.
fn small_chunks() -> Setup {
    let cfg = ServerConfig { chunk_size: 4000, ..ServerConfig::default() };
    setup_with(cfg, Codec::Wbxml, 8192, None)
}
