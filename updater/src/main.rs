//! `fotad-update`: pack, install and inspect fotad update packages; manage the A/B
//! slots and the bootloader.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use fotad_updater::cli_slots;
use lexopt::prelude::*;

const USAGE: &str = "usage: fotad-update [--config-root DIR] SUBCOMMAND [OPTIONS]";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fotad-update: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let mut parser = lexopt::Parser::from_env();
    let mut config_root = PathBuf::from("/");
    let sub = loop {
        match parser.next()? {
            Some(Long("config-root")) => config_root = parser.value()?.into(),
            Some(Long("help") | Short('h')) => {
                println!("{USAGE}\nsubcommands:\n{}", cli_slots::USAGE);
                return Ok(());
            }
            Some(Value(v)) => break v.string()?,
            Some(other) => return Err(other.unexpected().into()),
            None => anyhow::bail!("{USAGE}"),
        }
    };
    match sub.as_str() {
        s if cli_slots::SUBCOMMANDS.contains(&s) => {
            cli_slots::run(&cli_slots::parse(s, &mut parser)?, &config_root)
        }
        other => anyhow::bail!("unknown subcommand {other:?}; {USAGE}"),
    }
}
