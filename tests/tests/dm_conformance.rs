//! What DM servers written elsewhere expect of a client (issue 14), in full
//! sessions against fotad-testserver: XML with a bare `&`, messages that
//! cannot be read, user-interaction alerts with nobody to answer them,
//! default responses as servers write them, Atomic, one Results per Get, the
//! DM 1.1 DevInfo places, and server quirks. `docs/dm-conformance.md` has the
//! table (situation → our answer → clause) that names these tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

use fotad::dm::auth::Scheme;
use fotad::dm::session::{NoUi, QueuedAlert, Trigger};
use fotad::dm::syncml::{Alert, Codec, Command, Container, Item, Loc, Status};
use fotad::dm::tree::{Acl, Tree, UriLimits};
use fotad_tests::testserver::{Fault, ServerConfig};

/// A user-interaction alert: options, text, then the choices.
fn ui_alert(code: u32, options: &str, text: &str, choices: &[&str]) -> Command {
    let mut items = vec![
        Item { data: Some(options.as_bytes().to_vec()), ..Item::default() },
        Item { data: Some(text.as_bytes().to_vec()), ..Item::default() },
    ];
    items.extend(choices.iter().map(|c| Item { data: Some(c.as_bytes().to_vec()), ..Item::default() }));
    Command::Alert(Alert { data: code, items, ..Alert::default() })
}

/// The device's Status for the server's alert whose text (second item) is `text`.
fn alert_status(s: &Setup, text: &str) -> Status {
    let log = s.server.log();
    let (msg_id, cmd_id) = log
        .iter()
        .flat_map(|e| e.response.body.commands.iter().map(move |c| (e.response.hdr.msg_id, c)))
        .find_map(|(m, c)| match c {
            Command::Alert(a) if a.items.get(1).and_then(|i| i.data.as_deref()) == Some(text.as_bytes()) => {
                Some((m, a.cmd_id))
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no alert {text:?} was sent"));
    statuses(s)
        .into_iter()
        .find(|st| st.cmd == "Alert" && st.msg_ref == msg_id && st.cmd_ref == cmd_id)
        .unwrap_or_else(|| panic!("no Status for alert {text:?}"))
}

fn code_and_items(st: &Status) -> (u16, Vec<String>) {
    let items = st.items.iter().map(|i| String::from_utf8_lossy(i.data.as_deref().unwrap_or_default()).into_owned());
    (st.code, items.collect())
}

/// The six alerts of the "no person" tests, in the forms servers send.
fn queue_the_ui_alerts(s: &Setup) {
    s.server.queue(DEVICE, ui_alert(1100, "MINDT=10&MAXDT=20", "Maintenance tonight", &[]));
    s.server.queue(DEVICE, ui_alert(1101, "MAXDT=15DR=1", "Install the update now?", &[]));
    s.server.queue(DEVICE, ui_alert(1101, "DR=0", "Keep the old version?", &[]));
    s.server.queue(DEVICE, ui_alert(1102, "MAXLEN=8&DR=abc", "Your name?", &[]));
    s.server.queue(DEVICE, ui_alert(1103, "MAXDT=15&DR=2", "When?", &["now", "tonight", "never"]));
    s.server.queue(DEVICE, ui_alert(1104, "DR=1-3,6", "Which?", &["a", "b", "c", "d", "e", "f"]));
}

// ---- 1. XML as servers write it ------------------------------------------

#[test]
fn a_bare_ampersand_in_data_is_text_and_the_session_goes_on() {
    let mut s = setup(Scheme::Md5, Codec::Xml);
    s.server.queue(DEVICE, ui_alert(1101, "MAXDT=15&DR=1", "Install now?", &[]));
    s.server.queue(DEVICE, Command::Add(cmd(vec![item("./Vendor/q", Some("chr"), Some("R&D &co; &#38; <"))])));
    // Unescaped, as real servers send it: <Data>MAXDT=15&DR=1</Data>.
    s.server.rewrite(0, "<Data>MAXDT=15&amp;DR=1</Data>", "<Data>MAXDT=15&DR=1</Data>");
    s.server.rewrite(0, "R&amp;D &amp;co; &amp;#38; &lt;", "R&D &co; &#38; &lt;");
    run(&mut s).unwrap();
    assert_eq!(alert_status(&s, "Install now?").code, 408);
    assert_eq!(status_for(&s, "Add"), [200]);
    // A bare & and an unknown entity stay text; the predefined and numeric ones are read.
    assert_eq!(leaf(&mut s, "./Vendor/q").as_deref(), Some("R&D &co; & <"));
}

#[test]
fn a_reply_with_a_readable_header_but_a_broken_body_gets_synchdr_400_and_an_abort() {
    for codec in [Codec::Xml, Codec::Wbxml] {
        let mut s = setup(Scheme::Md5, codec);
        let before = s.client.tree().snapshot();
        s.server.state().faults.insert(0, Fault::Truncate(60));
        s.server.queue(DEVICE, Command::Add(cmd(vec![item("./Vendor/x", Some("chr"), Some("v1"))])));
        let e = run(&mut s).unwrap_err();
        assert!(e.to_string().contains("malformed"), "{codec:?}: {e}");
        assert_eq!(s.client.tree().snapshot(), before, "{codec:?}: nothing executed");
        let log = s.server.log();
        assert_eq!(log.len(), 2, "{codec:?}: the device answered the broken message");
        let answer = &log[1].request.body.commands;
        let hdr = answer.iter().find_map(|c| match c {
            Command::Status(st) if st.cmd == "SyncHdr" => Some(st.clone()),
            _ => None,
        });
        let hdr = hdr.unwrap_or_else(|| panic!("{codec:?}: no SyncHdr status in {answer:?}"));
        assert_eq!((hdr.msg_ref, hdr.cmd_ref, hdr.code), (log[0].response.hdr.msg_id, 0, 400), "{codec:?}");
        assert!(answer.iter().any(|c| matches!(c, Command::Alert(a) if a.data == 1223)), "{codec:?}: {answer:?}");
        assert!(!answer.iter().any(|c| matches!(c, Command::Status(st) if st.cmd != "SyncHdr")), "{answer:?}");
    }
}

#[test]
fn a_reply_without_a_readable_header_gets_an_abort_alone() {
    let mut s = setup(Scheme::Md5, Codec::Wbxml);
    s.server.state().faults.insert(0, Fault::Garbage);
    let e = run(&mut s).unwrap_err();
    assert!(e.to_string().contains("malformed"), "{e}");
    let log = s.server.log();
    assert_eq!(log.len(), 2, "the device told the server it ends the session");
    let answer = &log[1].request.body.commands;
    assert!(answer.iter().any(|c| matches!(c, Command::Alert(a) if a.data == 1223)), "{answer:?}");
    assert!(!answer.iter().any(|c| matches!(c, Command::Status(_))), "nothing to refer to: {answer:?}");
}

// ---- 2. No person, no consent ----------------------------------------------

#[test]
fn without_a_ui_no_alert_is_answered_as_if_a_person_had() {
    let mut s = setup(Scheme::Md5, Codec::Xml);
    queue_the_ui_alerts(&s);
    run(&mut s).unwrap();
    let got = |text: &str| code_and_items(&alert_status(&s, text));
    // A display alert has nothing to answer; it is not consent to anything.
    assert_eq!(got("Maintenance tonight"), (200, vec![]));
    assert_eq!(got("Install the update now?"), (408, vec![]), "DR=1 is the server's suggestion, not a yes");
    assert_eq!(got("Keep the old version?"), (408, vec![]));
    assert_eq!(got("Your name?"), (408, vec![]));
    assert_eq!(got("When?"), (408, vec![]));
    assert_eq!(got("Which?"), (408, vec![]));
}

#[test]
fn an_integrator_can_let_the_default_response_stand_per_alert_type() {
    let cfg = ServerConfig::default();
    let mut s = setup_with_dm(&cfg, Codec::Xml, 16 * 1024, "ui_default_answers = [\"confirm\", \"multi-choice\"]");
    queue_the_ui_alerts(&s);
    run(&mut s).unwrap();
    let got = |text: &str| code_and_items(&alert_status(&s, text));
    assert_eq!(got("Install the update now?"), (200, vec![]));
    assert_eq!(got("Keep the old version?"), (304, vec![]));
    assert_eq!(got("Your name?"), (408, vec![]), "text input was not opted in");
    assert_eq!(got("When?"), (408, vec![]), "single choice was not opted in");
    assert_eq!(got("Which?"), (200, ["1", "2", "3", "6"].map(String::from).to_vec()));
}

#[test]
fn an_unknown_alert_type_in_ui_default_answers_is_a_configuration_error() {
    let toml = "[dm]\ndevice_id = \"d\"\nui_default_answers = [\"confirm\", \"consent\"]\n";
    let e = fotad::dm::config::Settings::from_toml_str(toml).unwrap_err().to_string();
    assert!(e.contains("ui_default_answers") && e.contains("consent"), "{e}");
}

// ---- 3. Default responses as the specification writes them -----------------

#[test]
fn default_responses_take_lists_and_ranges_and_refuse_what_they_cannot_read() {
    let all = "ui_default_answers = [\"confirm\", \"text\", \"single-choice\", \"multi-choice\"]";
    let mut s = setup_with_dm(&ServerConfig::default(), Codec::Wbxml, 16 * 1024, all);
    let six = ["a", "b", "c", "d", "e", "f"];
    s.server.queue(DEVICE, ui_alert(1104, "DR=1-3,6", "ranges and lists", &six));
    s.server.queue(DEVICE, ui_alert(1104, "MINDT=10&MAXDT=20&DR=2,4", "a list", &six));
    s.server.queue(DEVICE, ui_alert(1103, "MAXDT=15DR=2", "no separator", &["x", "y", "z"]));
    s.server.queue(DEVICE, ui_alert(1103, "DR=7", "out of range", &["x", "y", "z"]));
    s.server.queue(DEVICE, ui_alert(1103, "DR=1-2", "a range for one choice", &["x", "y", "z"]));
    s.server.queue(DEVICE, ui_alert(1104, "DR=3-1", "a backwards range", &six));
    s.server.queue(DEVICE, ui_alert(1101, "DR=yes", "not 0 or 1", &[]));
    s.server.queue(DEVICE, ui_alert(1102, "MAXLEN=3&DR=abcdef", "longer than MAXLEN", &[]));
    s.server.queue(DEVICE, ui_alert(1102, "MAXLEN=x&DR=abcdef", "a MAXLEN that is no number", &[]));
    run(&mut s).unwrap();
    let got = |text: &str| code_and_items(&alert_status(&s, text));
    let items = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(got("ranges and lists"), (200, items(&["1", "2", "3", "6"])));
    assert_eq!(got("a list"), (200, items(&["2", "4"])));
    assert_eq!(got("no separator"), (200, items(&["2"])));
    for unreadable in
        ["out of range", "a range for one choice", "a backwards range", "not 0 or 1", "longer than MAXLEN"]
    {
        assert_eq!(got(unreadable), (408, vec![]), "{unreadable}: a DR we cannot read is absent");
    }
    assert_eq!(got("a MAXLEN that is no number"), (200, items(&["abcdef"])), "MAXLEN=x is absent, DR stands");
}

// ---- 4. Atomic ---------------------------------------------------------------

/// A device whose `./Vendor` any server may change, with two leaves in it.
fn vendor_setup() -> Setup {
    let mut s = setup(Scheme::Md5, Codec::Xml);
    let t = s.client.tree();
    t.put_interior("./Vendor").unwrap();
    t.with_node("./Vendor", |n| n.acl = Acl::parse("Add=*&Get=*&Replace=*&Delete=*&Exec=*").unwrap()).unwrap();
    t.put_leaf("./Vendor/keep", b"old", "chr").unwrap();
    t.put_leaf("./Vendor/gone", b"here", "chr").unwrap();
    t.put_leaf("./Vendor/run", b"", "null").unwrap();
    t.save().unwrap();
    s
}

fn atomic(cmds: Vec<Command>) -> Command {
    Command::Atomic(Container { commands: cmds, ..Container::default() })
}

fn with_id(c: Command, id: u32) -> Command {
    let mut c = c;
    c.set_cmd_id(id);
    c
}

/// (command, code) of the Statuses for the commands inside the Atomic (ids
/// from 10) and for the Atomic itself.
fn atomic_codes(s: &Setup) -> Vec<(String, u32, u16)> {
    statuses(s)
        .into_iter()
        .filter(|st| st.cmd_ref >= 10 || st.cmd == "Atomic")
        .map(|st| {
            let id = if st.cmd == "Atomic" { 0 } else { st.cmd_ref };
            (st.cmd, id, st.code)
        })
        .collect()
}

/// The tree as persisted in the state directory.
fn on_disk(s: &Setup, uri: &str) -> Option<String> {
    Tree::open(s._dir.path(), UriLimits::default()).unwrap().leaf_text(uri)
}

#[test]
fn atomic_fails_507_the_failed_command_keeps_its_code_the_others_216_and_the_tree_is_rolled_back_on_disk() {
    let mut s = vendor_setup();
    let copy = Item { source: Some(Loc::uri("./DevInfo/Mod")), ..item("./Vendor/model", None, None) };
    s.server.queue(
        DEVICE,
        atomic(vec![
            with_id(Command::Add(cmd(vec![item("./Vendor/new", Some("chr"), Some("1"))])), 10),
            with_id(Command::Replace(cmd(vec![item("./Vendor/keep", Some("chr"), Some("new"))])), 11),
            with_id(Command::Delete(cmd(vec![item("./Vendor/gone", None, None)])), 12),
            with_id(Command::Copy(cmd(vec![copy])), 13),
            with_id(ui_alert(1100, "MINDT=1", "Changing settings", &[]), 14),
            with_id(Command::Add(cmd(vec![item("./DevInfo/Evil", Some("chr"), Some("x"))])), 15),
            with_id(Command::Add(cmd(vec![item("./Vendor/late", Some("chr"), Some("2"))])), 16),
        ]),
    );
    run(&mut s).unwrap();
    let codes = atomic_codes(&s);
    let expected = [
        ("Add", 10, 216),
        ("Replace", 11, 216),
        ("Delete", 12, 216),
        ("Copy", 13, 216),
        // Shown to the user: that cannot be rolled back, so no 216.
        ("Alert", 14, 200),
        ("Add", 15, 425),
        ("Add", 16, 215),
        ("Atomic", 0, 507),
    ];
    for (cmd, id, code) in expected {
        assert!(codes.contains(&(cmd.to_string(), id, code)), "{cmd} {id} → {code} missing in {codes:?}");
    }
    let readers: [fn(&mut Setup, &str) -> Option<String>; 2] = [|s, u| leaf(s, u), |s, u| on_disk(s, u)];
    for t in readers {
        assert_eq!(t(&mut s, "./Vendor/new"), None);
        assert_eq!(t(&mut s, "./Vendor/keep").as_deref(), Some("old"));
        assert_eq!(t(&mut s, "./Vendor/gone").as_deref(), Some("here"));
        assert_eq!(t(&mut s, "./Vendor/model"), None);
        assert_eq!(t(&mut s, "./Vendor/late"), None);
    }
}

struct Recorder(Vec<String>);

impl fotad::dm::session::ExecHandler for Recorder {
    fn exec(&mut self, req: &fotad::dm::session::ExecRequest<'_>) -> fotad::dm::status::StatusCode {
        self.0.push(req.uri.to_string());
        fotad::dm::status::StatusCode::AcceptedForProcessing
    }
}

#[test]
fn exec_inside_atomic_is_refused_with_500_and_never_run() {
    let mut s = vendor_setup();
    s.server.queue(
        DEVICE,
        atomic(vec![
            with_id(Command::Replace(cmd(vec![item("./Vendor/keep", Some("chr"), Some("new"))])), 10),
            with_id(Command::Exec(cmd(vec![item("./Vendor/run", None, None)])), 11),
        ]),
    );
    let mut rec = Recorder(Vec::new());
    s.client.session(None, &Trigger::Client, &NoUi, &mut rec).unwrap();
    assert!(rec.0.is_empty(), "an Exec cannot be rolled back: {:?}", rec.0);
    let codes = atomic_codes(&s);
    assert_eq!(codes, [("Replace".into(), 10, 216), ("Exec".into(), 11, 500), ("Atomic".into(), 0, 507)]);
    assert_eq!(on_disk(&s, "./Vendor/keep").as_deref(), Some("old"));
}

#[test]
fn an_unanswered_confirmation_inside_atomic_fails_it() {
    let mut s = vendor_setup();
    s.server.queue(
        DEVICE,
        atomic(vec![
            with_id(Command::Replace(cmd(vec![item("./Vendor/keep", Some("chr"), Some("new"))])), 10),
            with_id(ui_alert(1101, "MAXDT=15DR=1", "Apply these settings?", &[]), 11),
            with_id(Command::Delete(cmd(vec![item("./Vendor/gone", None, None)])), 12),
        ]),
    );
    run(&mut s).unwrap();
    let codes = atomic_codes(&s);
    assert_eq!(
        codes,
        [("Replace".into(), 10, 216), ("Alert".into(), 11, 408), ("Delete".into(), 12, 215), ("Atomic".into(), 0, 507)]
    );
    assert_eq!(on_disk(&s, "./Vendor/keep").as_deref(), Some("old"));
    assert_eq!(on_disk(&s, "./Vendor/gone").as_deref(), Some("here"));
}

// ---- 5. One Results per Get --------------------------------------------------

#[test]
fn a_get_with_several_items_gets_one_results_with_all_of_them() {
    let mut s = setup(Scheme::Md5, Codec::Wbxml);
    let uris = ["./DevInfo/Mod", "./DevInfo/Man", "./DevInfo/Lang"];
    s.server.queue(DEVICE, Command::Get(cmd(uris.iter().map(|u| item(u, None, None)).collect())));
    run(&mut s).unwrap();
    let results: Vec<_> = s
        .server
        .received()
        .into_iter()
        .filter_map(|c| if let Command::Results(r) = c { Some(r) } else { None })
        .collect();
    assert_eq!(results.len(), 1, "one Results per Get: {results:?}");
    let sources: Vec<_> = results[0].items.iter().map(|i| i.source_uri().unwrap().to_string()).collect();
    assert_eq!(sources, uris);
    assert_eq!(status_for(&s, "Get"), [200, 200, 200]);
}

#[test]
fn results_are_split_across_messages_only_when_max_msg_size_forces_it() {
    let mut s = setup_with(ServerConfig::default(), Codec::Xml, 2048, None);
    for i in 0..40 {
        s.client.tree().put_leaf(&format!("./Vendor/n{i:02}"), format!("value-{i}").as_bytes(), "chr").unwrap();
    }
    s.server.queue(DEVICE, Command::Get(cmd(vec![item("./Vendor?list=StructData", None, None)])));
    run(&mut s).unwrap();
    let log = s.server.log();
    let per_message: Vec<usize> = log
        .iter()
        .map(|e| e.request.body.commands.iter().filter(|c| matches!(c, Command::Results(_))).count())
        .filter(|n| *n > 0)
        .collect();
    assert!(per_message.len() >= 2, "the limit forces a split: {per_message:?}");
    assert!(per_message.iter().all(|n| *n == 1), "one Results per message, no more: {per_message:?}");
    assert!(log.iter().all(|e| e.request_bytes <= 2048));
    let got = results_data(&s);
    assert_eq!(got.len(), 41, "the node and its 40 leaves");
    assert!(got.iter().any(|(u, d)| u == "./Vendor/n39" && d == b"value-39"), "{got:?}");
}

// ---- 6. DevInfo for servers written for DM 1.1 -------------------------------

#[test]
fn devinfo_compat_offers_fwv_swv_hwv_under_devinfo_and_is_off_by_default() {
    let uris = ["./DevInfo/FwV", "./DevInfo/SwV", "./DevInfo/HwV"];
    let get_all =
        |s: &Setup| s.server.queue(DEVICE, Command::Get(cmd(uris.iter().map(|u| item(u, None, None)).collect())));
    let mut off = setup(Scheme::Md5, Codec::Xml);
    get_all(&off);
    run(&mut off).unwrap();
    assert_eq!(status_for(&off, "Get"), [404, 404, 404], "off by default");

    let keys = "devinfo_compat = true\nhardware_version = \"rev-B\"";
    let mut on = setup_with_dm(&ServerConfig::default(), Codec::Xml, 16 * 1024, keys);
    get_all(&on);
    run(&mut on).unwrap();
    assert_eq!(status_for(&on, "Get"), [200, 200, 200]);
    let got = results_data(&on);
    let want = [("./DevInfo/FwV", "fw-1.0"), ("./DevInfo/SwV", "sw-1.0"), ("./DevInfo/HwV", "rev-B")];
    assert_eq!(got, want.map(|(u, v)| (u.to_string(), v.as_bytes().to_vec())));
    // Package 1 still carries the five DM 1.2 DevInfo leaves only.
    let Command::Replace(devinfo) = &on.server.log()[0].request.body.commands[1] else { panic!() };
    assert_eq!(devinfo.items.len(), 5);
    // Turned off again: the nodes go away at the next start.
    let dir = on._dir.path().to_path_buf();
    let toml = fotad_tests::testserver::harness::device_toml(
        &dir,
        &on.server.url(),
        &ServerConfig::default(),
        Codec::Xml,
        16 * 1024,
        None,
    );
    let settings = fotad::dm::config::Settings::from_toml_str(&toml).unwrap();
    let client =
        fotad::dm::client::DmClient::open(settings, fotad::dm::mo::Versions::fixed("fw-1.0", "sw-1.0")).unwrap();
    drop(client);
    assert_eq!(on_disk(&on, "./DevInfo/FwV"), None);
    assert_eq!(on_disk(&on, "./DevInfo/DevId").as_deref(), Some(DEVICE));
}

// ---- 7. Server quirks we tolerate --------------------------------------------

#[test]
fn commands_with_the_same_cmd_id_are_each_answered() {
    let mut s = setup(Scheme::Md5, Codec::Xml);
    s.server.queue(DEVICE, Command::Get(cmd(vec![item("./DevInfo/Mod", None, None)])));
    s.server.queue(DEVICE, Command::Get(cmd(vec![item("./DevInfo/Man", None, None)])));
    // The server numbers both Gets 4 (its statuses took 1 to 3).
    s.server.rewrite(0, "<Get><CmdID>5</CmdID>", "<Get><CmdID>4</CmdID>");
    run(&mut s).unwrap();
    let gets: Vec<_> = statuses(&s).into_iter().filter(|st| st.cmd == "Get").map(|st| (st.cmd_ref, st.code)).collect();
    assert_eq!(gets, [(4, 200), (4, 200)]);
    let results: Vec<_> = s
        .server
        .received()
        .into_iter()
        .filter_map(|c| match c {
            Command::Results(r) => {
                Some((r.cmd_ref, r.items.iter().map(|i| i.source_uri().unwrap().to_string()).collect()))
            }
            _ => None,
        })
        .collect::<Vec<(u32, Vec<String>)>>();
    let one = |u: &str| vec![u.to_string()];
    assert_eq!(results, [(4, one("./DevInfo/Mod")), (4, one("./DevInfo/Man"))], "one Results per Get, never merged");
}

#[test]
fn status_data_before_target_ref_is_understood() {
    let mut s = setup(Scheme::Md5, Codec::Xml);
    let q = s.client.alerts();
    q.push(QueuedAlert::generic("./FUMO/x", "org.openmobilealliance.dm.firmwareupdate.update", 200, None, false))
        .unwrap();
    // Data first, then TargetRef and SourceRef, in the SyncHdr status and in
    // the status on our Generic Alert (our command 3).
    s.server.rewrite(0, "<Data>212</Data>", &format!("<Data>212</Data><TargetRef>{DEVICE}</TargetRef>"));
    s.server.rewrite(
        0,
        "<CmdRef>3</CmdRef><Cmd>Alert</Cmd><Data>200</Data>",
        "<CmdRef>3</CmdRef><Cmd>Alert</Cmd><Data>200</Data><TargetRef>fotad-testserver</TargetRef>\
         <SourceRef>./FUMO/x</SourceRef>",
    );
    let report = run(&mut s).unwrap();
    assert_eq!(report.alerts_acked.len(), 1, "the 200 was read");
    assert!(q.is_empty());
}
