//! fotad-vsim: inserts a virtual SIM into a vpcd reader and serves it until
//! the reader closes the connection or the process is stopped.
//!
//! Usage: fotad-vsim [--port N] [--2g] [--pin PIN] [--iccid DIGITS] [--imsi DIGITS]

use std::time::Duration;

use anyhow::{bail, Context};
use fotad_tests::vsim::{CardProfile, Vsim};

fn main() {
    if let Err(e) = run() {
        eprintln!("fotad-vsim: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let mut port = 35963u16;
    let mut profile = CardProfile::usim();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => port = value()?.parse().context("--port")?,
            "--2g" => profile = CardProfile { pin: profile.pin, ..CardProfile::sim2g() },
            "--pin" => profile.pin = Some(value()?),
            "--iccid" => profile.iccid = value()?,
            "--imsi" => profile.imsi = value()?,
            other => bail!("unknown argument {other}; see the usage in the source header"),
        }
    }
    let card = Vsim::insert(port, &profile, Duration::from_secs(10))?;
    eprintln!("fotad-vsim: card {} inserted on port {port}", profile.iccid);
    while card.is_inserted() {
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("fotad-vsim: the reader closed the connection");
    Ok(())
}
