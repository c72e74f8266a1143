//! The SIM module against the real pcscd with the vsmartcard vpcd driver and
//! our virtual SIM. Every test starts its own pcscd (private socket and
//! ports); they run one at a time (pcscd keeps a pid file in /run/pcscd).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{mpsc, Mutex, MutexGuard};
use std::time::Duration;

use fotad::dm::session::AlertQueue;
use fotad::sim::cat::{self, CommandDetails};
use fotad::sim::{
    GateRefusal, GateState, PinState, SessionRequest, SimDeps, SimHandle, SimSettings, SimSnapshot, SIM_CHANGE_TYPE,
};
use fotad_tests::pcscd::Pcscd;
use fotad_tests::vsim::{CardProfile, OperatorFile, Vsim};

static SERIAL: Mutex<()> = Mutex::new(());
const WAIT: Duration = Duration::from_secs(15);
const TAG_A: [u8; 16] = *b"operator-A-tag-1";
const TAG_B: [u8; 16] = *b"operator-B-tag-2";

struct Rig {
    sim: SimHandle,
    sessions: mpsc::Receiver<SessionRequest>,
    alerts: AlertQueue,
    state: tempfile::TempDir,
    pcscd: Pcscd,
    _serial: MutexGuard<'static, ()>,
}

impl Rig {
    fn start(adjust: impl FnOnce(&mut SimSettings)) -> Rig {
        let serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let pcscd = Pcscd::start().unwrap();
        let state = tempfile::tempdir().unwrap();
        Rig::with(pcscd, state, serial, adjust)
    }

    fn with(
        pcscd: Pcscd,
        state: tempfile::TempDir,
        serial: MutexGuard<'static, ()>,
        adjust: impl FnOnce(&mut SimSettings),
    ) -> Rig {
        let mut settings = SimSettings { poll_interval: Duration::from_millis(100), ..SimSettings::default() };
        adjust(&mut settings);
        let alerts = AlertQueue::open(state.path()).unwrap();
        let (tx, sessions) = mpsc::channel();
        let tx = Mutex::new(tx);
        let deps = SimDeps {
            state_dir: state.path().to_path_buf(),
            alerts: alerts.clone(),
            accounts: vec!["srv1".into(), "srv2".into()],
            start_session: Box::new(move |r| {
                let _ = tx.lock().unwrap().send(r);
            }),
        };
        Rig { sim: SimHandle::start(settings, deps).unwrap(), sessions, alerts, state, pcscd, _serial: serial }
    }

    fn insert(&self, profile: &CardProfile) -> Vsim {
        Vsim::insert(self.pcscd.port, profile, WAIT).unwrap()
    }

    fn wait(&self, what: &str, pred: impl Fn(&SimSnapshot) -> bool) -> SimSnapshot {
        match self.sim.wait_for(WAIT, pred) {
            Some(s) => s,
            None => panic!(
                "timed out waiting for {what}; snapshot {:?}\npcscd log tail:\n{}",
                self.sim.snapshot(),
                tail(&self.pcscd.log())
            ),
        }
    }

    fn wait_card(&self, iccid: &str) -> SimSnapshot {
        self.wait(&format!("card {iccid}"), |s| s.present && s.iccid.as_deref() == Some(iccid))
    }
}

fn tail(log: &str) -> &str {
    &log[log.len().saturating_sub(4000)..]
}

fn fota_file(cond: u8, tag: [u8; 16]) -> OperatorFile {
    let mut content = vec![cond];
    content.extend(tag);
    OperatorFile { path: vec![0x7F50, 0x6F50], content }
}

#[test]
fn usim_identity_is_read_and_decoded() {
    let rig = Rig::start(|_| {});
    let _card = rig.insert(&CardProfile::usim());
    let s = rig.wait_card("8949226000012345678");
    assert_eq!(s.imsi.as_deref(), Some("262011234567890"));
    assert_eq!(s.msisdn.as_deref(), Some("+491701234567"));
    assert_eq!(s.pin, Some(PinState::NotRequired));
    assert_eq!(s.reader.as_deref(), Some(fotad_tests::pcscd::READER));
    assert_eq!(serde_json::to_value(s.dialect).unwrap(), "uicc");
    assert_eq!(s.gate, GateState::NoFile);
}

#[test]
fn sim2g_identity_is_read_and_decoded() {
    let rig = Rig::start(|_| {});
    let _card = rig.insert(&CardProfile::sim2g());
    let s = rig.wait_card("8944110012345678901");
    assert_eq!(s.imsi.as_deref(), Some("23410987654321"));
    assert_eq!(s.msisdn.as_deref(), Some("447700900123"));
    assert_eq!(serde_json::to_value(s.dialect).unwrap(), "gsm");
}

#[test]
fn pin_wrong_then_right_on_usim_and_never_retried() {
    let rig = Rig::start(|_| {});
    let card = rig.insert(&CardProfile { pin: Some("1234".into()), ..CardProfile::usim() });
    let s = rig.wait_card("8949226000012345678");
    assert_eq!(s.pin, Some(PinState::Required { tries: 3 }));
    assert_eq!(s.imsi, None, "IMSI needs the PIN");
    let e = rig.sim.enter_pin("0000").unwrap_err();
    assert!(e.contains("2 tries left"), "{e}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(card.pin_tries(), 2, "a wrong PIN is not retried");
    assert_eq!(rig.sim.snapshot().pin_tries(), Some(2));
    rig.sim.enter_pin("1234").unwrap();
    let s = rig.wait("IMSI after PIN", |s| s.imsi.is_some());
    assert_eq!(s.pin, Some(PinState::Verified));
    assert_eq!(s.imsi.as_deref(), Some("262011234567890"));
    assert_eq!(card.pin_tries(), 3);
}

#[test]
fn pin_blocked_on_2g_after_three_wrong() {
    let rig = Rig::start(|_| {});
    let card = rig.insert(&CardProfile { pin: Some("4321".into()), ..CardProfile::sim2g() });
    rig.wait_card("8944110012345678901");
    assert!(rig.sim.enter_pin("1111").unwrap_err().contains("2 tries"));
    assert!(rig.sim.enter_pin("1111").unwrap_err().contains("1 tries"));
    assert!(rig.sim.enter_pin("1111").unwrap_err().contains("blocked"));
    assert_eq!(rig.sim.snapshot().pin, Some(PinState::Blocked));
    assert!(rig.sim.enter_pin("4321").unwrap_err().contains("blocked"));
    assert_eq!(card.pin_tries(), 0);
}

#[test]
fn pin_file_right_verifies_and_wrong_is_tried_once() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let pin_file = dir.path().join("sim-pin");
    std::fs::write(&pin_file, "1234\n").unwrap();
    std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let rig = Rig::start(|s| s.pin_file = Some(pin_file.clone()));
    let profile = CardProfile { pin: Some("1234".into()), ..CardProfile::usim() };
    let card = rig.insert(&profile);
    let s = rig.wait("IMSI via PIN file", |s| s.imsi.is_some());
    assert_eq!(s.pin, Some(PinState::Verified));
    card.remove();
    rig.wait("removal", |s| !s.present);
    std::fs::write(&pin_file, "9999\n").unwrap();
    let card = rig.insert(&profile);
    let s = rig.wait("PIN state", |s| s.present && s.pin.is_some());
    assert_eq!(s.pin, Some(PinState::Required { tries: 2 }));
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(card.pin_tries(), 2, "the rejected PIN file is not tried again");
}

/// Every cell of the gate table, each through a real card's EF_FOTA.
#[test]
fn gate_table_every_cell_through_a_card() {
    let rig = Rig::start(|_| {});
    let secured_allowed = 0x03;
    let cases: [(u8, [Result<(), GateRefusal>; 3]); 4] = [
        (secured_allowed, [Ok(()), Err(GateRefusal::Untagged), Err(GateRefusal::OtherOperator)]),
        (0x01, [Ok(()), Ok(()), Ok(())]),
        (0x00, [Ok(()), Ok(()), Ok(())]),
        (
            0x02,
            [
                Err(GateRefusal::UpdatesNotAllowed),
                Err(GateRefusal::UpdatesNotAllowed),
                Err(GateRefusal::UpdatesNotAllowed),
            ],
        ),
    ];
    for (cond, expected) in cases {
        let card = rig.insert(&CardProfile { ef_fota: Some(fota_file(cond, TAG_A)), ..CardProfile::usim() });
        rig.wait(&format!("EF_FOTA {cond:#04x}"), |s| matches!(s.gate, GateState::Operator { .. }));
        for (tag, want) in [Some(TAG_A), None, Some(TAG_B)].into_iter().zip(expected) {
            let got = rig.sim.check_package(tag);
            assert_eq!(got, want, "condition {cond:#04x}, tag {tag:?}");
            if let Err(r) = got {
                assert_eq!(fotad::fumo::FumoResult::from(&r).code(), 405);
            }
        }
        card.remove();
        rig.wait("removal", |s| !s.present);
    }
    assert_eq!(rig.sim.snapshot().gate, GateState::NoSim);
    assert_eq!(rig.sim.check_package(None), Ok(()), "no SIM: default policy is not secured");
}

#[test]
fn gate_without_ef_fota_follows_refuse_policy_on_2g() {
    let rig = Rig::start(|s| s.no_sim_policy = fotad::sim::NoSimPolicy::Refuse);
    assert_eq!(rig.sim.check_package(Some(TAG_A)), Err(GateRefusal::NoSimPolicy));
    let _card = rig.insert(&CardProfile::sim2g());
    let s = rig.wait_card("8944110012345678901");
    assert_eq!(s.gate, GateState::NoFile);
    assert_eq!(rig.sim.check_package(Some(TAG_A)), Err(GateRefusal::NoSimPolicy));
    drop(_card);
    let card = rig.insert(&CardProfile { ef_fota: Some(fota_file(0x03, TAG_A)), ..CardProfile::sim2g() });
    rig.wait("2G EF_FOTA", |s| matches!(s.gate, GateState::Operator { .. }));
    assert_eq!(rig.sim.check_package(Some(TAG_A)), Ok(()));
    assert_eq!(rig.sim.check_package(Some(TAG_B)), Err(GateRefusal::OtherOperator));
    drop(card);
}

#[test]
fn removal_mid_read_is_a_clear_error_and_the_next_card_works() {
    let rig = Rig::start(|_| {});
    let card = rig.insert(&CardProfile::usim());
    card.vanish_on_select(0x6F07);
    let s = rig.wait("the removal error", |s| s.last_error.as_deref().is_some_and(|e| e.contains("removed")));
    assert!(!s.present, "{s:?}");
    let e = s.last_error.unwrap();
    assert!(e.contains("Virtual PCD"), "the error names the reader: {e}");
    drop(card);
    let _card = rig.insert(&CardProfile::sim2g());
    rig.wait_card("8944110012345678901");
}

#[test]
fn swap_to_another_sim_queues_one_alert_per_account() {
    let rig = Rig::start(|_| {});
    let a = rig.insert(&CardProfile::usim());
    rig.wait_card("8949226000012345678");
    a.remove();
    rig.wait("removal", |s| !s.present);
    assert!(rig.alerts.is_empty(), "the first SIM is no change");
    let b = rig.insert(&CardProfile::sim2g());
    rig.wait_card("8944110012345678901");
    b.remove();
    rig.wait("removal", |s| !s.present);
    let _b = rig.insert(&CardProfile::sim2g());
    rig.wait_card("8944110012345678901");
    assert_eq!(rig.alerts.len(), 2, "one alert per account, once");
    let alert = &rig.alerts.pending("srv2")[0];
    assert_eq!(alert.type_, SIM_CHANGE_TYPE);
    let v: serde_json::Value = serde_json::from_str(&alert.data).unwrap();
    assert_eq!(v["old"]["iccid"], "8949226000012345678");
    assert_eq!(v["new"]["imsi"], "23410987654321");
    let reopened = AlertQueue::open(rig.state.path()).unwrap();
    assert_eq!(reopened.len(), 2, "persisted");
}

#[test]
fn sim_change_found_at_start_up_alerts_once() {
    let serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let pcscd = Pcscd::start().unwrap();
    let state = tempfile::tempdir().unwrap();
    fotad::sim::identity::IdentityStore::new(state.path())
        .save(&fotad::sim::Identity { iccid: "8900000000000000001".into(), imsi: Some("001010000000001".into()) })
        .unwrap();
    let rig = Rig::with(pcscd, state, serial, |_| {});
    let _card = rig.insert(&CardProfile::usim());
    rig.wait_card("8949226000012345678");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rig.alerts.len(), 2);
}

/// The card's CAT log once `pred` holds (or after WAIT).
fn cat_log_when(card: &Vsim, pred: impl Fn(&fotad_tests::vsim::CatLog) -> bool) -> fotad_tests::vsim::CatLog {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let log = card.cat_log();
        if pred(&log) || std::time::Instant::now() > deadline {
            return log;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn details(type_: u8) -> CommandDetails {
    CommandDetails { number: 1, type_, qualifier: 0 }
}

#[test]
fn launch_browser_starts_a_session_and_is_answered() {
    let rig = Rig::start(|_| {});
    let card = rig.insert(&CardProfile::usim());
    rig.wait_card("8949226000012345678");
    card.inject_proactive(cat::build(details(0x15), &[(0x31, b"https://dm.operator.example/dm")]));
    let req = rig.sessions.recv_timeout(WAIT).expect("a session request");
    assert_eq!(req.request.server_uri, "https://dm.operator.example/dm");
    assert!(!req.request.want_result);
    req.reply.send(200);
    let log = card.cat_log();
    assert_eq!(log.terminal_profiles.len(), 1);
    assert_eq!(log.terminal_responses, vec![vec![0x81, 3, 1, 0x15, 0, 0x82, 2, 0x82, 0x81, 0x83, 1, 0x00]]);
    std::thread::sleep(Duration::from_millis(400));
    assert!(card.cat_log().status_count > 0, "the agent polls STATUS: {log:?}");
    assert!(card.cat_log().envelopes.is_empty(), "LAUNCH BROWSER asked for no result");
}

#[test]
fn private_command_wants_the_result_in_an_envelope_on_2g() {
    let rig = Rig::start(|_| {});
    let card = rig.insert(&CardProfile::sim2g());
    rig.wait_card("8944110012345678901");
    let cmd = cat::build(details(0xE0), &[(0x70, &[1]), (0x71, b"http://127.0.0.1:8080/dm"), (0x72, &[1])]);
    card.inject_proactive(cmd);
    let req = rig.sessions.recv_timeout(WAIT).expect("a session request");
    assert_eq!(req.request.server_uri, "http://127.0.0.1:8080/dm");
    assert!(req.request.want_result);
    req.reply.send(200);
    let log = cat_log_when(&card, |l| !l.envelopes.is_empty());
    assert_eq!(log.envelopes, vec![cat::result_envelope(200)]);
    card.inject_proactive(cat::build(details(0x21), &[(0x8D, b"hello")]));
    let responses = cat_log_when(&card, |l| l.terminal_responses.len() >= 2).terminal_responses;
    assert_eq!(responses[1].last(), Some(&cat::RESULT_BEYOND_CAPABILITIES), "DISPLAY TEXT is not ours");
    assert!(rig.sessions.try_recv().is_err());
}

/// Records package 1 and then fails like an unreachable server.
struct Recorder(Vec<fotad::dm::transport::Request>);

impl fotad::dm::transport::Transport for Recorder {
    fn exchange(
        &mut self,
        req: &fotad::dm::transport::Request,
    ) -> Result<fotad::dm::transport::Response, fotad::dm::transport::TransportError> {
        self.0.push(req.clone());
        Err(fotad::dm::transport::TransportError::Scheme { url: format!("{} (test: server unreachable)", req.url) })
    }
}

/// Runs the real session engine for the SIM's request, as the agent's glue
/// does: the account whose address is the requested server URI.
fn run_dm_session(uri: &str, state: &std::path::Path) -> (Result<(), String>, Vec<fotad::dm::transport::Request>) {
    use fotad::dm::session::{run_session, NoExec, NoUi, SessionContext, SessionOptions, Trigger};
    let config = format!(
        "[dm]\ndevice_id = \"IMEI:490154203237518\"\nmanufacturer = \"Acme\"\nmodel = \"GW-1\"\n\
         encoding = \"xml\"\nstate_dir = \"{}\"\n[[accounts]]\nserver_id = \"operator\"\naddress = \"{uri}\"\n\
         auth = \"basic\"\nclient_name = \"dev1\"\nclient_secret = \"pw\"\nserver_secret = \"srv\"\n",
        state.display()
    );
    let settings = fotad::dm::config::Settings::from_toml_str(&config).unwrap();
    let mut tree = fotad::dm::tree::Tree::new(fotad::dm::tree::UriLimits::default());
    fotad::dm::mo::install_standard_objects(&mut tree, &settings, fotad::dm::mo::Versions::fixed("1.0", "1.0"))
        .unwrap();
    let account = fotad::dm::mo::accounts(&tree).into_iter().find(|a| a.server_id == "operator").unwrap();
    let mut nonces = fotad::dm::auth::NonceStore::load(state).unwrap();
    let mut transport = Recorder(Vec::new());
    let ctx = SessionContext {
        tree: &mut tree,
        account,
        nonces: &mut nonces,
        transport: &mut transport,
        ui: &NoUi,
        exec: &mut NoExec,
        alerts: AlertQueue::in_memory(),
        options: SessionOptions {
            device_id: settings.device_id.clone(),
            codec: settings.codec,
            max_msg_size: settings.max_msg_size,
            max_obj_size: settings.max_obj_size,
            objects_dir: state.join("objects"),
            max_messages: 10,
            max_duration: Duration::from_secs(60),
            default_answers: Default::default(),
        },
    };
    let r = run_session(ctx, &Trigger::Client).map(|_| ()).map_err(|e| e.to_string());
    (r, transport.0)
}

#[test]
fn proactive_request_starts_a_real_dm_session_and_reports_the_failure() {
    let rig = Rig::start(|_| {});
    let card = rig.insert(&CardProfile::usim());
    rig.wait_card("8949226000012345678");
    let uri = "http://dm.operator.example:8080/dm";
    let cmd = cat::build(details(0xE0), &[(0x70, &[1]), (0x71, uri.as_bytes()), (0x72, &[1])]);
    card.inject_proactive(cmd);
    let req = rig.sessions.recv_timeout(WAIT).expect("a session request");
    let (result, sent) = run_dm_session(&req.request.server_uri, rig.state.path());
    assert_eq!(sent.len(), 1, "package 1 went out");
    assert_eq!(sent[0].url, uri);
    let body = String::from_utf8_lossy(&sent[0].body);
    assert!(body.contains("<Data>1201</Data>"), "client-initiated session alert: {body}");
    assert!(body.contains("IMEI:490154203237518"), "{body}");
    let err = result.unwrap_err();
    assert!(err.contains("server unreachable"), "{err}");
    req.reply.send(503);
    let log = cat_log_when(&card, |l| !l.envelopes.is_empty());
    let env = log.envelopes;
    assert_eq!(env, vec![cat::result_envelope(503)]);
    assert_eq!(env[0][11], cat::RESULT_UNABLE_NOW, "a failed session is reported as such");
}

#[test]
fn group_readable_pin_file_is_refused_without_spending_a_try() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let pin_file = dir.path().join("sim-pin");
    std::fs::write(&pin_file, "1234\n").unwrap();
    std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let rig = Rig::start(|s| s.pin_file = Some(pin_file.clone()));
    let card = rig.insert(&CardProfile { pin: Some("1234".into()), ..CardProfile::usim() });
    let s = rig.wait("card with PIN state", |s| s.present && s.pin.is_some());
    assert_eq!(s.pin, Some(PinState::Required { tries: 3 }));
    let err = rig.sim.snapshot().last_error.unwrap_or_default();
    assert!(err.contains("chmod 600"), "{err}");
    assert!(!err.contains("1234"), "never the PIN: {err}");
    assert_eq!(card.pin_tries(), 3);
}

#[test]
fn fotad_vsim_binary_serves_a_2g_card() {
    let rig = Rig::start(|_| {});
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fotad-vsim"))
        .args(["--port", &rig.pcscd.port.to_string(), "--2g", "--iccid", "8912345678901234567"])
        .spawn()
        .unwrap();
    let s = rig.sim.wait_for(WAIT, |s| s.present);
    let _ = child.kill();
    let _ = child.wait();
    let s = s.expect("the card served by fotad-vsim");
    assert_eq!(s.iccid.as_deref(), Some("8912345678901234567"));
    assert_eq!(serde_json::to_value(s.dialect).unwrap(), "gsm");
}

#[test]
fn configured_reader_is_used_and_others_are_ignored() {
    let rig = Rig::start(|s| s.reader = Some(fotad_tests::pcscd::READER2.into()));
    let _other = rig.insert(&CardProfile::usim());
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!rig.sim.snapshot().present, "a card in another reader is not ours");
    let _ours = Vsim::insert(rig.pcscd.port + 1, &CardProfile::sim2g(), WAIT).unwrap();
    let s = rig.wait_card("8944110012345678901");
    assert_eq!(s.reader.as_deref(), Some(fotad_tests::pcscd::READER2));
}
