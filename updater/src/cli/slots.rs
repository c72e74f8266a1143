//! `fotad-update` subcommands for slots and the bootloader: `status`, `activate`,
//! `mark-good`, `mark-bad`, `check-boot`, `simulate-boot`. [`parse`] reads a
//! subcommand's options; one function per subcommand runs it.

use std::path::Path;

use anyhow::{bail, Context, Result};
use lexopt::prelude::*;

use crate::boot::sim::{self, Selection};
use crate::boot::SlotState;
use crate::config::{self, Layers, Settings};
use crate::lifecycle::{open_backend, BootCheck, Lifecycle, Status};
use crate::slot::Slot;
use crate::text::escaped;

/// The subcommands of this module.
pub const SUBCOMMANDS: [&str; 6] = ["status", "activate", "mark-good", "mark-bad", "check-boot", "simulate-boot"];

/// A slot named on the command line: `A`, `B`, `booted` or `other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotArg {
    Named(Slot),
    Booted,
    Other,
}

impl SlotArg {
    fn parse(s: &str) -> Result<SlotArg> {
        Ok(match s {
            "booted" => SlotArg::Booted,
            "other" => SlotArg::Other,
            s => SlotArg::Named(s.parse()?),
        })
    }

    fn resolve(self, booted: Slot) -> Slot {
        match self {
            SlotArg::Named(s) => s,
            SlotArg::Booted => booted,
            SlotArg::Other => !booted,
        }
    }
}

/// A parsed slot subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotCommand {
    Status { json: bool },
    Activate { slot: SlotArg, tries: Option<u8> },
    MarkGood,
    MarkBad { slot: SlotArg },
    CheckBoot { json: bool },
    SimulateBoot,
}

/// Usage lines for `--help`.
pub const USAGE: &str = "\
  status [--json]                   slots, booted slot, primary, states, versions
  activate [A|B|other] [--tries N]  boot the other slot (an earlier install) next: a confirmed
                                    slot as it is, another one for N trial boots
  mark-good                         confirm the booted slot (run after a good boot)
  mark-bad [A|B|booted|other]       mark a slot bad (default: booted) to roll back
  check-boot [--json]               judge the last boot against a pending update
  simulate-boot                     apply the boot scripts' slot selection once and write
                                    fotad.slot=X to the configured cmdline (tests, demo)";

/// Parses the options of subcommand `name`.
pub fn parse(name: &str, parser: &mut lexopt::Parser) -> Result<SlotCommand> {
    let mut json = false;
    let mut tries = None;
    let mut slot = None;
    while let Some(arg) = parser.next()? {
        match arg {
            Long("json") if matches!(name, "status" | "check-boot") => json = true,
            Long("tries") if name == "activate" => tries = Some(parser.value()?.parse()?),
            Value(v) if matches!(name, "activate" | "mark-bad") && slot.is_none() => {
                slot = Some(SlotArg::parse(&v.string()?)?);
            }
            other => return Err(other.unexpected().into()),
        }
    }
    Ok(match name {
        "status" => SlotCommand::Status { json },
        "activate" => SlotCommand::Activate { slot: slot.unwrap_or(SlotArg::Other), tries },
        "mark-good" => SlotCommand::MarkGood,
        "mark-bad" => SlotCommand::MarkBad { slot: slot.unwrap_or(SlotArg::Booted) },
        "check-boot" => SlotCommand::CheckBoot { json },
        "simulate-boot" => SlotCommand::SimulateBoot,
        other => bail!("unknown subcommand {other:?}"),
    })
}

/// Loads the settings from the config layers below `config_root`.
pub fn load_settings(config_root: &Path) -> Result<Settings> {
    config::load(&Layers::under(config_root))
        .with_context(|| format!("loading the fotad config below {}", config_root.display()))
}

fn open(settings: &Settings) -> Result<Lifecycle> {
    Lifecycle::open(settings).context("opening the slots and the bootloader")
}

/// Runs a parsed subcommand with the config below `config_root`.
pub fn run(cmd: &SlotCommand, config_root: &Path) -> Result<()> {
    let settings = load_settings(config_root)?;
    match *cmd {
        SlotCommand::Status { json } => status(&settings, json),
        SlotCommand::Activate { slot, tries } => activate(&settings, slot, tries),
        SlotCommand::MarkGood => mark_good(&settings),
        SlotCommand::MarkBad { slot } => mark_bad(&settings, slot),
        SlotCommand::CheckBoot { json } => check_boot(&settings, json),
        SlotCommand::SimulateBoot => simulate_boot(&settings),
    }
}

/// `status`: prints the status, as text or JSON.
pub fn status(settings: &Settings, json: bool) -> Result<()> {
    let status = open(settings)?.status()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{}", render_status(&status));
    }
    Ok(())
}

/// The text form of `status`.
pub fn render_status(s: &Status) -> String {
    let mut out = format!("bootloader: {}\nbooted:     {}\n", s.bootloader, s.booted);
    let primary = s.primary.map_or("none".to_string(), |p| p.to_string());
    out.push_str(&format!("primary:    {primary}\n"));
    for slot in &s.slots {
        let devices: Vec<String> = slot.devices.iter().map(|(c, d)| format!("{c}={}", d.display())).collect();
        let version = slot.version.as_deref().map_or("-".to_string(), escaped);
        let security = slot.security_version.map_or(String::new(), |v| format!(" (security version {v})"));
        out.push_str(&format!(
            "slot {}:     {}, version {version}{security}, {}\n",
            slot.slot,
            slot.state,
            devices.join(" ")
        ));
    }
    out.push_str(&format!("security floor: {} (packages below it are refused)\n", s.security_floor));
    if let Some(p) = &s.pending {
        out.push_str(&format!("pending:    update to {} from {}\n", p.target, p.from));
    }
    if let Some(o) = &s.last_outcome {
        out.push_str(&format!("last update: {:?} (slot {}, booted {})\n", o.result, o.target, o.booted));
    }
    out
}

/// `activate`: makes the other slot primary with N tries.
pub fn activate(settings: &Settings, slot: SlotArg, tries: Option<u8>) -> Result<()> {
    let mut lc = open(settings)?;
    let target = slot.resolve(lc.booted());
    let tries = tries.unwrap_or(settings.tries);
    lc.switch_to(target, tries).with_context(|| format!("activating slot {target}"))?;
    match lc.bootloader().slot_state(target) {
        SlotState::Good => println!("slot {target} is primary (confirmed, it boots without spending tries)"),
        _ => println!("slot {target} is primary with {tries} boot tries; reboot to try it"),
    }
    Ok(())
}

/// `mark-good`: confirms the booted slot and reports a pending update's outcome.
pub fn mark_good(settings: &Settings) -> Result<()> {
    let mut lc = open(settings)?;
    let check = lc.mark_good().with_context(|| format!("marking the booted slot {} good", lc.booted()))?;
    println!("slot {} marked good", lc.booted());
    print_check(&check);
    Ok(())
}

/// `mark-bad`: marks a slot bad (rollback when it is the booted one).
pub fn mark_bad(settings: &Settings, slot: SlotArg) -> Result<()> {
    let mut lc = open(settings)?;
    let slot = slot.resolve(lc.booted());
    lc.mark_bad(slot).with_context(|| format!("marking slot {slot} bad"))?;
    println!("slot {slot} marked bad; slot {} boots next", !slot);
    Ok(())
}

/// `check-boot`: judges the last boot against a pending update.
pub fn check_boot(settings: &Settings, json: bool) -> Result<()> {
    let check = open(settings)?.check_boot()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&check)?);
    } else {
        print_check(&check);
    }
    Ok(())
}

fn print_check(check: &BootCheck) {
    match check {
        BootCheck::NoUpdate => println!("no update pending"),
        BootCheck::Waiting { target } => {
            println!("update to slot {target} activated, not booted yet")
        }
        BootCheck::BootedNew { target } => {
            println!("running the new slot {target}; waiting for mark-good")
        }
        BootCheck::Done(o) => println!("update to slot {}: {:?} (booted {})", o.target, o.result, o.booted),
    }
}

/// `simulate-boot`: one power-on under the boot scripts' rules; writes the chosen
/// slot as `fotad.slot=X` to the configured command line file.
pub fn simulate_boot(settings: &Settings) -> Result<()> {
    let backend = open_backend(&settings.bootloader)?;
    let choice = sim::boot_once(backend.as_ref()).context("simulating a boot")?;
    let (slot, rescue) = match choice {
        Selection::Boot(s) => (s, false),
        Selection::Rescue(s) => (s, true),
    };
    write_cmdline(&settings.cmdline, slot)?;
    println!("booted slot {slot}{}", if rescue { " (rescue: no slot was bootable)" } else { "" });
    Ok(())
}

fn write_cmdline(path: &Path, slot: Slot) -> Result<()> {
    crate::atomic_file::replace(path, format!("console=ttyS0 fotad.slot={slot}\n").as_bytes())
        .with_context(|| format!("writing the simulated kernel command line {}", path.display()))
}
