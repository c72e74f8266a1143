//! The service on a private dbus-daemon with our policy file, driven by the
//! real `gdbus` and watched by `gdbus monitor`: each method, access control
//! for an unprivileged user and a fotad-ui member, DM prompts answered and
//! timed out, consent, and an install job whose progress shows on the bus.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use fotad::app::service_settings::ConsentPolicy;
use fotad::dbus::{SimPort, SimSnapshot};
use fotad::dm::session::{Prompt, PromptKind, UiOptions};

struct FakeSim(Mutex<u32>);

impl SimPort for FakeSim {
    fn snapshot(&self) -> SimSnapshot {
        let tries = *self.0.lock().unwrap();
        SimSnapshot {
            state: "pin-required".into(),
            iccid: "8949".into(),
            imsi: "262011234567890".into(),
            msisdn: "+491701234567".into(),
            operator: "26201".into(),
            pin_tries_left: tries,
        }
    }
    fn enter_pin(&self, pin: &str) -> Result<u32, String> {
        let mut tries = self.0.lock().unwrap();
        if pin == "1234" {
            *tries = 3;
            Ok(3)
        } else {
            *tries -= 1;
            Err(format!("wrong PIN, {} tries left", *tries))
        }
    }
}

fn prompt(kind: PromptKind, options: &str, text: &str, choices: &[&str]) -> Prompt {
    Prompt {
        kind,
        options: UiOptions::parse(options),
        text: text.into(),
        choices: choices.iter().map(|c| c.to_string()).collect(),
        server_id: "srv".into(),
    }
}

fn completed(m: &Monitor) -> String {
    m.wait_for("Completed", |l| l.contains("org.fotad.Agent1.Completed"))
}

#[test]
fn each_method_answers_over_gdbus() {
    let bus = Bus::start(true);
    let mut p = parts();
    let (dm, log) = ScriptedDm::start(vec![]);
    p.sessions = Some(dm);
    p.sim = Arc::new(FakeSim(Mutex::new(3)));
    let _d = Daemon::start(&bus, p);
    let m = Monitor::start(&bus);

    ok(&gdbus_call(&bus, As::Root, "CheckForUpdate", &[]));
    assert!(completed(&m).contains("('check', uint32 200, 'Check for updates finished')"), "{:?}", m.all());
    assert_eq!(log.lock().unwrap().as_slice(), [""], "one session, no prompts");
    assert_eq!(get_property(&bus, As::Root, "State"), "(<'idle'>,)");
    assert!(get_property(&bus, As::Root, "LastResult").contains("200"));

    ok(&gdbus_call(&bus, As::Root, "SetLanguage", &["de_DE.UTF-8"]));
    assert_eq!(get_property(&bus, As::Root, "Language"), "(<'de-DE'>,)");
    fails_with(&gdbus_call(&bus, As::Root, "SetLanguage", &["12"]), "org.fotad.Agent1.Error.InvalidArgs");

    ok(&gdbus_call(&bus, As::Root, "Notify", &["[byte 1, 2, 3]"]));
    m.wait_for("Completed notify", |l| l.contains("'notify', uint32 200"));
    assert_eq!(log.lock().unwrap().last().map(String::as_str), Some("package0 of 3 bytes"));

    fails_with(&gdbus_call(&bus, As::Root, "EnterPin", &["0000"]), "org.fotad.Agent1.Error.Failed");
    assert_eq!(get_property(&bus, As::Root, "Sim"), "(<('pin-required', uint32 2)>,)");
    assert_eq!(ok(&gdbus_call(&bus, As::Root, "EnterPin", &["1234"])).trim(), "(uint32 3,)");
    fails_with(&gdbus_call(&bus, As::Root, "EnterPin", &["12"]), "InvalidArgs");

    fails_with(&gdbus_call(&bus, As::Root, "Accept", &[]), "org.fotad.Agent1.Error.NotPending");
    fails_with(&gdbus_call(&bus, As::Root, "Defer", &["60"]), "org.fotad.Agent1.Error.NotPending");
    fails_with(&gdbus_call(&bus, As::Root, "Cancel", &[]), "org.fotad.Agent1.Error.NotPending");
    let none = gdbus_call(&bus, As::Root, "RespondToPrompt", &["7", "accept", "@as []"]);
    fails_with(&none, "org.fotad.Agent1.Error.NoSuchPrompt");
    fails_with(&gdbus_call(&bus, As::Root, "InstallFile", &["relative.fota"]), "InvalidArgs");
    ok(&gdbus_call(&bus, As::Root, "InstallFile", &["/nonexistent.fota"]));
    m.wait_for("install failure", |l| l.contains("'install', uint32 410") && l.contains("/nonexistent.fota"));
    for prop in ["FumoState", "Progress", "CurrentVersion", "BootedSlot", "Slots"] {
        get_property(&bus, As::Root, prop);
    }
}

#[test]
fn bus_policy_limits_unprivileged_callers() {
    let bus = Bus::start(true);
    let mut p = parts();
    p.sessions = Some(ScriptedDm::start(vec![]).0);
    let _d = Daemon::start(&bus, p);
    // Everyone reads properties and introspects.
    assert_eq!(get_property(&bus, As::Nobody, "State"), "(<'idle'>,)");
    ok(&gdbus_call(&bus, As::Nobody, "org.freedesktop.DBus.Introspectable.Introspect", &[]));
    // Nobody may call neither UI nor root methods.
    for (method, args) in
        [("CheckForUpdate", vec![]), ("SetLanguage", vec!["fr"]), ("InstallFile", vec!["/x"]), ("RegisterUi", vec![])]
    {
        fails_with(&gdbus_call(&bus, As::Nobody, method, &args), "org.freedesktop.DBus.Error.AccessDenied");
    }
    // A fotad-ui member may call the UI methods but not the root ones.
    ok(&gdbus_call(&bus, As::UiUser, "SetLanguage", &["fr"]));
    ok(&gdbus_call(&bus, As::UiUser, "RegisterUi", &[]));
    assert_eq!(get_property(&bus, As::Root, "Language"), "(<'fr'>,)");
    ok(&gdbus_call(&bus, As::UiUser, "CheckForUpdate", &[]));
    for (method, args) in [("InstallFile", vec!["/x"]), ("Notify", vec!["[byte 1]"])] {
        fails_with(&gdbus_call(&bus, As::UiUser, method, &args), "org.freedesktop.DBus.Error.AccessDenied");
    }
}

#[test]
fn the_daemon_rechecks_callers_when_the_bus_lets_everything_through() {
    let bus = Bus::start(false);
    let _d = Daemon::start(&bus, parts());
    let e = fails_with(&gdbus_call(&bus, As::Nobody, "SetLanguage", &["fr"]), "org.fotad.Agent1.Error.AccessDenied");
    assert!(e.contains("fotad-ui"), "{e}");
    fails_with(&gdbus_call(&bus, As::Nobody, "InstallFile", &["/x"]), "org.fotad.Agent1.Error.AccessDenied");
    let e = fails_with(&gdbus_call(&bus, As::Nobody, "RegisterUi", &[]), "org.fotad.Agent1.Error.AccessDenied");
    assert!(e.contains("RegisterUi"), "{e}");
    let e = fails_with(&gdbus_call(&bus, As::UiUser, "InstallFile", &["/x"]), "org.fotad.Agent1.Error.AccessDenied");
    assert!(e.contains("InstallFile needs root"), "{e}");
    ok(&gdbus_call(&bus, As::UiUser, "SetLanguage", &["es"]));
    assert_eq!(get_property(&bus, As::Nobody, "Language"), "(<'es'>,)");
}

#[test]
fn a_prompt_is_answered_and_the_first_answer_wins() {
    let bus = Bus::start(true);
    let mut p = parts();
    let choice = prompt(PromptKind::SingleChoice, "MAXDT=60&DR=1-2,4", "Pick a time", &["now", "tonight", "x", "y"]);
    let (dm, log) = ScriptedDm::start(vec![choice]);
    p.sessions = Some(dm);
    let _d = Daemon::start(&bus, p);
    let m = Monitor::start(&bus);
    let _ui = UiClient::start(&bus);
    ok(&gdbus_call(&bus, As::UiUser, "CheckForUpdate", &[]));
    let line = m.wait_for("Prompt", |l| l.contains("org.fotad.Agent1.Prompt "));
    assert!(line.contains("'single-choice', 'Pick a time', ['now', 'tonight', 'x', 'y']"), "{line}");
    // A default a single choice cannot take is not passed on.
    assert!(line.contains("'max-display': <uint32 60>") && !line.contains("'default'"), "{line}");
    let id = prompt_id(&line).to_string();
    let bad = gdbus_call(&bus, As::UiUser, "RespondToPrompt", &[&id, "choose", "['5']"]);
    fails_with(&bad, "org.fotad.Agent1.Error.InvalidAnswer");
    ok(&gdbus_call(&bus, As::UiUser, "RespondToPrompt", &[&id, "choose", "['2']"]));
    let late = gdbus_call(&bus, As::Root, "RespondToPrompt", &[&id, "choose", "['1']"]);
    fails_with(&late, "org.fotad.Agent1.Error.NoSuchPrompt");
    assert!(completed(&m).contains("'check', uint32 200"), "{:?}", m.all());
    assert_eq!(log.lock().unwrap().as_slice(), ["Some(Choices([2]))"]);
    m.wait_for("PromptClosed", |l| l.contains("PromptClosed") && l.contains("'chosen'"));
}

#[test]
fn the_ui_sees_a_default_response_normalized_to_a_list() {
    let bus = Bus::start(true);
    let mut p = parts();
    let six = ["a", "b", "c", "d", "e", "f"];
    let (dm, log) = ScriptedDm::start(vec![prompt(PromptKind::MultiChoice, "MAXDT=60&DR=1-3,6", "Which?", &six)]);
    p.sessions = Some(dm);
    let _d = Daemon::start(&bus, p);
    let m = Monitor::start(&bus);
    let _ui = UiClient::start(&bus);
    ok(&gdbus_call(&bus, As::UiUser, "CheckForUpdate", &[]));
    let line = m.wait_for("Prompt", |l| l.contains("org.fotad.Agent1.Prompt "));
    assert!(line.contains("'default': <'1,2,3,6'>"), "{line}");
    ok(&gdbus_call(&bus, As::UiUser, "RespondToPrompt", &[&prompt_id(&line).to_string(), "choose", "['1', '2']"]));
    assert!(completed(&m).contains("'check', uint32 200"), "{:?}", m.all());
    assert_eq!(log.lock().unwrap().as_slice(), ["Some(Choices([1, 2]))"]);
}

/// The `Completed` lines seen so far.
fn completions(m: &Monitor) -> Vec<String> {
    m.all().into_iter().filter(|l| l.contains("org.fotad.Agent1.Completed")).collect()
}

#[test]
fn without_a_ui_on_the_bus_prompts_are_answered_at_once_and_never_with_their_default() {
    let bus = Bus::start(true);
    let mut p = parts();
    let (dm, log) = ScriptedDm::start(vec![
        prompt(PromptKind::Confirm, "MAXDT=60&DR=1", "Install now?", &[]),
        prompt(PromptKind::TextInput, "MAXDT=60&DR=abc", "Name?", &[]),
    ]);
    p.sessions = Some(dm);
    let _d = Daemon::start(&bus, p);
    let m = Monitor::start(&bus);
    let started = std::time::Instant::now();
    ok(&gdbus_call(&bus, As::Root, "CheckForUpdate", &[]));
    completed(&m);
    assert!(started.elapsed() < Duration::from_secs(15), "waited {:?} for nobody", started.elapsed());
    assert_eq!(log.lock().unwrap().as_slice(), ["None;None"]);
    assert!(!m.all().iter().any(|l| l.contains("org.fotad.Agent1.Prompt ")), "{:?}", m.all());
}

#[test]
fn a_registered_ui_gets_the_prompts_and_its_silence_is_no_consent() {
    let bus = Bus::start(true);
    let mut p = parts();
    let (dm, log) = ScriptedDm::start(vec![
        prompt(PromptKind::Confirm, "MAXDT=1&DR=1", "Proceed?", &[]),
        prompt(PromptKind::TextInput, "MAXDT=1&DR=abc", "Name?", &[]),
    ]);
    p.sessions = Some(dm);
    let _d = Daemon::start(&bus, p);
    let m = Monitor::start(&bus);
    let ui = UiClient::start(&bus);
    ok(&gdbus_call(&bus, As::Root, "CheckForUpdate", &[]));
    completed(&m);
    // Shown to a person who did not answer within MAXDT: timed out, DR or not.
    assert_eq!(log.lock().unwrap().as_slice(), ["Some(TimedOut);Some(TimedOut)"]);
    let closed = m.all().iter().filter(|l| l.contains("PromptClosed") && l.contains("'timed-out'")).count();
    assert_eq!(closed, 2, "{:?}", m.all());
    ui.wait_for("the prompt in fotactl", |l| l.contains("prompt") && l.contains("Proceed?"));
    // The UI leaves the bus: from then on nobody is asked.
    drop(ui);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let seen = completions(&m).len();
        ok(&gdbus_call(&bus, As::Root, "CheckForUpdate", &[]));
        let next = loop {
            if completions(&m).get(seen).is_some() {
                break log.lock().unwrap().last().cloned().unwrap_or_default();
            }
            assert!(std::time::Instant::now() < deadline + Duration::from_secs(10), "no Completed: {:?}", m.all());
            std::thread::sleep(Duration::from_millis(20));
        };
        if next == "None;None" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the daemon still asks a UI that left: {next}");
    }
}

#[test]
fn install_file_runs_as_a_job_with_progress_on_the_bus() {
    let image = noise(1 << 20);
    let rig = install_rig(&image, |_| {});
    let m = Monitor::start(&rig.bus);
    let reply = ok(&gdbus_call(&rig.bus, As::Root, "InstallFile", &[&rig.pkg]));
    assert_eq!(reply.trim(), "()");
    let done = completed(&m);
    assert!(done.contains("'install', uint32 200, 'Update 2.0 installed"), "{done}");
    let lines = m.all();
    let changed = |needle: &str| lines.iter().filter(|l| l.contains("PropertiesChanged") && l.contains(needle)).count();
    assert!(changed("'State': <'installing'>") >= 1, "{lines:#?}");
    assert!(changed("'Progress': <(uint32 ") >= 8, "expected per-operation progress: {lines:#?}");
    assert!(changed("'Writing the update'") >= 8, "{lines:#?}");
    assert!(changed("'State': <'idle'>") >= 1, "{lines:#?}");
    assert_eq!(std::fs::read(rig.dir.path().join("slot-b.img")).unwrap()[..image.len()], image[..]);
}

#[test]
fn consent_is_asked_in_the_device_language_and_accept_proceeds() {
    let rig = install_rig(&noise(200 << 10), |p| {
        p.ui.consent = ConsentPolicy::Ask;
        p.language = "de-AT".into();
    });
    let (bus, m) = (&rig.bus, Monitor::start(&rig.bus));
    ok(&gdbus_call(bus, As::Root, "InstallFile", &[&rig.pkg]));
    let line = m.wait_for("consent prompt", |l| l.contains("'consent'"));
    assert!(line.contains("'Update 2.0 installieren? Sicherheitskorrekturen'"), "{line}");
    assert_eq!(get_property(bus, As::Nobody, "State"), "(<'awaiting-consent'>,)");
    ok(&gdbus_call(bus, As::UiUser, "Defer", &["1"]));
    m.wait_for("deferred", |l| l.contains("'State': <'deferred'>"));
    let again = m.wait_for("second consent prompt", |l| l.contains("'consent'") && prompt_id(l) != prompt_id(&line));
    assert!(again.contains("installieren"), "{again}");
    ok(&gdbus_call(bus, As::UiUser, "Accept", &[]));
    assert!(completed(&m).contains("'install', uint32 200, 'Update 2.0 installiert"), "{:?}", m.all());
}

#[test]
fn cancel_during_consent_ends_the_job_cancelled() {
    let rig = install_rig(&noise(100 << 10), |p| p.ui.consent = ConsentPolicy::Ask);
    let (bus, m) = (&rig.bus, Monitor::start(&rig.bus));
    ok(&gdbus_call(bus, As::Root, "InstallFile", &[&rig.pkg]));
    m.wait_for("consent prompt", |l| l.contains("'consent'"));
    let busy = gdbus_call(bus, As::Root, "CheckForUpdate", &[]);
    fails_with(&busy, "org.fotad.Agent1.Error.Busy");
    ok(&gdbus_call(bus, As::UiUser, "Cancel", &[]));
    assert!(completed(&m).contains("'install', uint32 401"), "{:?}", m.all());
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(get_property(bus, As::Root, "State"), "(<'idle'>,)");
}

#[test]
fn stopping_the_service_during_an_install_stops_at_a_checkpoint() {
    let rig = install_rig(&noise(32 << 20), |_| {});
    let m = Monitor::start(&rig.bus);
    ok(&gdbus_call(&rig.bus, As::Root, "InstallFile", &[&rig.pkg]));
    m.wait_for("write progress", |l| l.contains("'Progress': <(uint32 ") && !l.contains("uint64 0, uint64 0"));
    // The same path SIGTERM takes in the daemon: cancel flag, then wait for the job.
    rig.daemon.stop();
    let records = fotad_updater::install::Records::new(&rig.dir.path().join("state"));
    let cp = records.checkpoint().unwrap().expect("the install stopped at a checkpoint");
    let ops = (32 << 20) / (64 << 10);
    assert!(cp.next_op > 0 && cp.next_op < ops, "stopped after {} of {ops} operations", cp.next_op);
}

/// A daily window in UTC starting `from` minutes from now and `len` minutes long.
fn window_from_now(from: i64, len: i64) -> fotad::app::service_settings::Window {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let minute = |m: i64| ((now / 60 + m).rem_euclid(24 * 60)) as u16;
    fotad::app::service_settings::Window { start: minute(from), end: minute(from + len) }
}

#[test]
fn maintenance_window_waits_outside_and_proceeds_inside() {
    let outside = ConsentPolicy::MaintenanceWindow(window_from_now(120, 60));
    let rig = install_rig(&noise(100 << 10), |p| p.ui.consent = outside);
    let m = Monitor::start(&rig.bus);
    ok(&gdbus_call(&rig.bus, As::Root, "InstallFile", &[&rig.pkg]));
    m.wait_for("deferred to the window", |l| l.contains("'State': <'deferred'>"));
    let line = m.wait_for("window message", |l| l.contains("maintenance window (in "));
    assert!(line.contains("in 120 minutes") || line.contains("in 119 minutes"), "{line}");
    ok(&gdbus_call(&rig.bus, As::Root, "Cancel", &[]));
    assert!(completed(&m).contains("'install', uint32 401"), "{:?}", m.all());

    let inside = ConsentPolicy::MaintenanceWindow(window_from_now(-1, 5));
    let rig = install_rig(&noise(100 << 10), |p| p.ui.consent = inside);
    let m = Monitor::start(&rig.bus);
    ok(&gdbus_call(&rig.bus, As::Root, "InstallFile", &[&rig.pkg]));
    assert!(completed(&m).contains("'install', uint32 200"), "{:?}", m.all());
    assert!(!m.all().iter().any(|l| l.contains("'deferred'")), "{:?}", m.all());
}

#[test]
fn sim_identity_reaches_only_root_and_fotad_ui() {
    let bus = Bus::start(true);
    let mut p = parts();
    p.sim = Arc::new(FakeSim(Mutex::new(3)));
    let _d = Daemon::start(&bus, p);
    let m = Monitor::start(&bus);
    let secrets = ["8949", "262011234567890", "+491701234567", "26201"];
    let public = get_property(&bus, As::Nobody, "Sim");
    assert_eq!(public, "(<('pin-required', uint32 3)>,)", "identity for everyone: {public}");
    let all = ok(&gdbus_call(&bus, As::Nobody, "org.freedesktop.DBus.Properties.GetAll", &["org.fotad.Agent1"]));
    assert!(secrets.iter().all(|s| !all.contains(s)), "identity for everyone: {all}");
    fails_with(&gdbus_call(&bus, As::Nobody, "GetSimIdentity", &[]), "org.freedesktop.DBus.Error.AccessDenied");
    for who in [As::UiUser, As::Root] {
        let id = ok(&gdbus_call(&bus, who, "GetSimIdentity", &[]));
        assert_eq!(id.trim(), "('8949', '262011234567890', '+491701234567', '26201')", "{who:?}");
    }
    // PropertiesChanged reaches every listener: no identity in it either.
    ok(&gdbus_call(&bus, As::Root, "EnterPin", &["1234"]));
    m.wait_for("Sim changed", |l| l.contains("PropertiesChanged") && l.contains("'Sim'"));
    let seen = m.all();
    assert!(seen.iter().all(|l| secrets.iter().all(|s| !l.contains(s))), "{seen:?}");
}

#[test]
fn the_daemon_keeps_the_sim_identity_from_others_when_the_bus_lets_everything_through() {
    let bus = Bus::start(false);
    let mut p = parts();
    p.sim = Arc::new(FakeSim(Mutex::new(3)));
    let _d = Daemon::start(&bus, p);
    let e = fails_with(&gdbus_call(&bus, As::Nobody, "GetSimIdentity", &[]), "org.fotad.Agent1.Error.AccessDenied");
    assert!(e.contains("GetSimIdentity needs root or membership in group fotad-ui"), "{e}");
    assert!(ok(&gdbus_call(&bus, As::UiUser, "GetSimIdentity", &[])).contains("'8949'"));
}
