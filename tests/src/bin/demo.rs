//! `fotad-demo`, behind the README's first command: the complete update path,
//! end to end, narrated, with the real programs.
//!
//! A build host makes a signing key and signed delta packages; `nginx` serves
//! them on loopback. `fotad-testserver` (the scriptable OMA DM server) orders
//! a DownloadAndUpdate and sends the device a notification (package #0). The
//! device is `fotad --once` on file-backed slots (slot A booted with v1): it
//! opens the DM session, answers 202, streams the delta from nginx into slot
//! B with progress, verifies it, activates slot B for two trial boots and
//! "reboots" (the boot scripts' selection rule, `fotad-update
//! simulate-boot`). After the boot `fotad-update mark-good` confirms slot B
//! (what `fotad-mark-good.service` does) and `fotad --once` reports result
//! 200 in a Generic Alert 1226. Then v3 is ordered but never confirmed: the
//! bootloader falls back to slot B and the server gets 410.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Stdio;

use anyhow::{ensure, Context, Result};
use fotad::dm::notification::UiMode;
use fotad::dm::syncml::{Command, Message};
use fotad_tests::agent_rig::AgentRig;

const MIB: u64 = 1 << 20;

fn main() -> Result<()> {
    let keep = std::env::args().nth(1).map(PathBuf::from);
    let tmp = tempfile::tempdir()?;
    let dir = keep.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    fotad_tests::nginx::workers_can_read(&dir).map_err(anyhow::Error::msg)?;
    println!("fotad demo: an OMA DM server updates a device with A/B file slots, in {}\n", dir.display());
    let rig = AgentRig::new(&dir, 32 * MIB).context("setting up the host, the server and the device")?;
    let size = |f: &str| std::fs::metadata(rig.path(f)).map(|m| m.len()).unwrap_or(0);
    say("host", "made a signing key; its public half is in the device's key directory");
    say("host", &format!("packed v2 as a signed delta over v1: {} bytes for a 32 MiB image", size("www/v2.fota")));
    say("host", &format!("nginx serves the packages at {}", rig.nginx.url("/")));
    say("server", &format!("fotad-testserver listens at {}", rig.server.url()));
    say("device", "slot A runs v1 (confirmed); slot B is empty");
    let mut shown = 0;

    println!("\n== 1. The server orders v2 and notifies the device");
    rig.order("v2.fota", "demo-v2");
    say("server", "queued: Replace ./FUMO/fotad/DownloadAndUpdate/PkgURL, Exec ./FUMO/fotad/DownloadAndUpdate");
    let package0 = rig.path("package0.bin");
    std::fs::write(&package0, rig.server.notification(0x0d1, UiMode::Background))?;
    say("server", "sends the notification (package #0, digest-signed) to the device");
    agent(&rig, &["--notify", &package0.to_string_lossy()], &mut shown)?;
    ensure!(rig.booted()? == "B", "the device did not boot slot B");
    say("device", "booted slot B (trial boot); boot-complete.target runs fotad-mark-good.service:");
    rig.mark_good()?;
    say("device", "fotad-update mark-good: slot B confirmed");
    agent(&rig, &[], &mut shown)?;
    ensure!(rig.slot_image("B")? == rig.images[1], "slot B does not hold v2");
    report(&rig, "demo-v2", "200")?;

    println!("\n== 2. The server orders v3, which never comes up healthy");
    rig.order("v3.fota", "demo-v3");
    agent(&rig, &["--check"], &mut shown)?;
    say("device", "booted slot A with v3 for a trial; it never reaches boot-complete.target (no mark-good)");
    rig.power_cycle()?;
    rig.power_cycle()?;
    say("device", &format!("after the trial boots ran out the bootloader chose slot {}", rig.booted()?));
    ensure!(rig.booted()? == "B", "the bootloader did not fall back to slot B");
    agent(&rig, &[], &mut shown)?;
    report(&rig, "demo-v3", "410")?;

    let out = rig.fotad_update(&["status"]).output()?;
    println!("\n== The device now\n{}", String::from_utf8_lossy(&out.stdout));
    println!("demo complete.");
    if keep.is_none() {
        println!("(run `scripts/demo DIR` to keep the files: configuration in DIR/root, slots in DIR/dev)");
    }
    Ok(())
}

fn say(who: &str, what: &str) {
    println!("[{who:>6}] {what}");
}

/// Runs `fotad --once ARGS`, showing its narration, then the DM messages
/// exchanged meanwhile.
fn agent(rig: &AgentRig, args: &[&str], shown: &mut usize) -> Result<()> {
    say("device", &format!("$ fotad --once {}", args.join(" ")));
    let mut child = rig.fotad().args(args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn()?;
    let stderr = BufReader::new(child.stderr.take().context("no stderr")?);
    let mut last_percent = None;
    for line in stderr.lines() {
        let line = line?;
        let line = line.strip_prefix("fotad: ").unwrap_or(&line);
        // `INFO fotad::app::jobs: message`: the message is the story.
        let line = match line.split_once(": ") {
            Some((head, message)) if head.starts_with("INFO ") => message,
            _ => line,
        };
        if let Some(rest) = line.strip_prefix("download: ") {
            // Every tenth percent is enough here.
            let percent: u32 = rest.split('%').next().and_then(|p| p.parse().ok()).unwrap_or(0);
            if last_percent.is_some_and(|l: u32| percent / 10 == l / 10) && percent != 100 {
                continue;
            }
            last_percent = Some(percent);
        }
        println!("         {line}");
    }
    let status = child.wait()?;
    ensure!(status.success(), "fotad failed: {status}");
    let log = rig.server.log();
    for e in &log[*shown..] {
        println!("           device -> server: {}", summary(&e.request));
        println!("           server -> device: {}", summary(&e.response));
    }
    *shown = log.len();
    Ok(())
}

/// One line per message: its commands, briefly.
fn summary(m: &Message) -> String {
    let parts: Vec<String> = m
        .body
        .commands
        .iter()
        .map(|c| match c {
            Command::Alert(a) => {
                let type_ = a.items.first().and_then(|i| i.meta.as_ref()).and_then(|m| m.type_.clone());
                let data =
                    a.items.first().and_then(|i| i.data.clone()).map(|d| String::from_utf8_lossy(&d).into_owned());
                match (type_, data) {
                    (Some(t), Some(d)) if !d.is_empty() => {
                        format!("Alert {} {} = {d}", a.data, t.rsplit('.').next().unwrap_or(&t))
                    }
                    (Some(t), _) => format!("Alert {} {}", a.data, t.rsplit('.').next().unwrap_or(&t)),
                    _ => format!("Alert {}", a.data),
                }
            }
            Command::Status(s) => format!("Status {} {}", s.cmd, s.code),
            Command::Results(_) => "Results".to_string(),
            other => {
                let target = match other {
                    Command::Add(i) | Command::Replace(i) | Command::Get(i) | Command::Exec(i) | Command::Delete(i) => {
                        let first = i.items.first();
                        first.and_then(|x| x.target.as_ref().or(x.source.as_ref())).map(|l| l.uri.clone())
                    }
                    _ => None,
                };
                format!("{} {}", other.name(), target.unwrap_or_default())
            }
        })
        .collect();
    if parts.is_empty() {
        "(end of session)".into()
    } else {
        parts.join(", ")
    }
}

fn report(rig: &AgentRig, correlator: &str, want: &str) -> Result<()> {
    let got: Vec<_> = rig.reports().into_iter().filter(|(c, _, _)| c == correlator).collect();
    ensure!(got.len() == 1, "the server got {} reports for {correlator}", got.len());
    let (_, result, type_) = &got[0];
    ensure!(result == want, "result {result} for {correlator}, expected {want}");
    say("server", &format!("received Generic Alert 1226 {type_}: result {result} (correlator {correlator})"));
    Ok(())
}
