//! `fotactl` (the real binary) against the service on a private dbus-daemon:
//! status as text and JSON, set-language, install with a progress bar,
//! consent with accept, and a prompt answered with `respond`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use fotad::app::service_settings::ConsentPolicy;
use fotad::dm::session::{Prompt, PromptKind, UiOptions};
use std::io::{BufRead, BufReader};
use std::process::{Output, Stdio};

fn fotactl(bus: &Bus, who: As, args: &[&str]) -> Output {
    command(who, env!("CARGO_BIN_EXE_fotactl")).args(["--address", &bus.address]).args(args).output().unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "fotactl failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn status_text_and_json_and_set_language() {
    let bus = Bus::start(true);
    let _d = Daemon::start(&bus, parts());
    let text = stdout(&fotactl(&bus, As::Nobody, &["status"]));
    assert!(text.contains("state:            idle") && text.contains("language:         en"), "{text}");
    assert!(text.contains("SIM:              absent (identity: root and group fotad-ui only)"), "{text}");
    let json = |who| -> serde_json::Value {
        serde_json::from_str(&stdout(&fotactl(&bus, who, &["status", "--json"]))).unwrap()
    };
    assert!(json(As::Nobody)["sim"]["identity"].is_null());
    assert_eq!(json(As::UiUser)["sim"]["identity"]["iccid"], "");
    stdout(&fotactl(&bus, As::UiUser, &["set-language", "zh_CN"]));
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&fotactl(&bus, As::Root, &["status", "--json"]))).unwrap();
    assert_eq!(json["language"], "zh-CN");
    assert_eq!(json["state"], "idle");
    assert_eq!(json["fumo_state"], 10);
    let denied = fotactl(&bus, As::Nobody, &["set-language", "de"]);
    assert_eq!(denied.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&denied.stderr).contains("AccessDenied"));
}

#[test]
fn install_shows_progress_and_consent_is_given_with_accept() {
    let rig = install_rig(&noise(512 << 10), |p| p.ui.consent = ConsentPolicy::Ask);
    let bus = &rig.bus;
    let mut install = KillOnDrop(
        command(As::Root, env!("CARGO_BIN_EXE_fotactl"))
            .args(["--address", &bus.address, "install", &rig.pkg])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(install.0.stdout.take().unwrap()).lines();
    let prompt = lines.by_ref().map(|l| l.unwrap()).find(|l| l.contains("(consent)")).expect("a consent prompt");
    assert!(prompt.contains("Install update 2.0? Security fixes"), "{prompt}");
    stdout(&fotactl(bus, As::UiUser, &["accept"]));
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    assert!(install.0.wait().unwrap().success(), "{rest:?}");
    let all = rest.join("\n");
    assert!(all.contains("100% Writing the update") || all.contains("] 100%"), "{all}");
    assert!(all.contains("install: 200 Update 2.0 installed"), "{all}");
}

#[test]
fn check_waits_and_a_prompt_is_answered_with_respond() {
    let bus = Bus::start(true);
    let mut p = parts();
    let confirm = Prompt {
        kind: PromptKind::Confirm,
        options: UiOptions::parse("MAXDT=30"),
        text: "Reboot now?".into(),
        choices: vec![],
        server_id: "srv".into(),
    };
    let (dm, log) = ScriptedDm::start(vec![confirm]);
    p.sessions = Some(dm);
    let _d = Daemon::start(&bus, p);
    let mut check = KillOnDrop(
        command(As::UiUser, env!("CARGO_BIN_EXE_fotactl"))
            .args(["--address", &bus.address, "check"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(check.0.stdout.take().unwrap()).lines();
    let prompt = lines.by_ref().map(|l| l.unwrap()).find(|l| l.contains("(confirm)")).expect("a prompt");
    assert!(prompt.contains("Reboot now?"), "{prompt}");
    // The line may start with the progress bar the prompt line overwrites.
    let id = prompt.rsplit('\r').next().unwrap().split_whitespace().nth(1).unwrap().to_string();
    stdout(&fotactl(&bus, As::UiUser, &["respond", &id, "reject"]));
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    assert!(check.0.wait().unwrap().success());
    assert!(rest.iter().any(|l| l.contains("check: 200")), "{rest:?}");
    assert_eq!(log.lock().unwrap().as_slice(), ["Some(Rejected)"]);
}
