//! Command-line front end of `fotad-update`: argument parsing and output.
//! `main.rs` only calls [`run`] and prints the error chain.

mod install;
mod pack;
pub mod slots;
mod stdin;

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use lexopt::ValueExt;

use crate::text::escaped;

/// Exit code for an install that stopped resumably (stream cut, cancelled).
pub const EXIT_RESUMABLE: u8 = 75;
/// Exit code for a package refused by the device (signature, model, downgrade, …).
pub const EXIT_REFUSED: u8 = 3;
/// Exit code for other errors (a missing file, the device, the state directory).
pub const EXIT_OTHER: u8 = 1;

pub const USAGE: &str = "\
usage: fotad-update [--config-root DIR] <command> [options]

packages:
  keygen BASE                      make an Ed25519 key pair BASE.key (secret, 0600) and BASE.pub
  pack [options] -o OUT.fota       build and sign a full or delta package
  inspect PKG [--json]             show a package's manifest and signatures
  install PKG|- [options]          stream a package into the inactive slot (or --target images),
                                   verify it and activate the slot; resumes a checkpoint

slots and bootloader (configured in DIR/etc/fotad/fotad.toml and conf.d; DIR defaults to /):
  status [--json]                  slots, booted, primary, states, versions, pending update
  activate [A|B|other] [--tries N] make a slot primary (a confirmed one as it is, another for N trial boots)
  mark-good                        confirm the booted slot (run by fotad-mark-good.service)
  mark-bad [A|B|booted|other]      mark a slot not bootable
  check-boot [--json]              booted the new slot, or fell back?
  simulate-boot                    (tests, demo) apply the boot scripts' rule once

Run `fotad-update <command> --help` for a command's options.";

/// Runs the command line `args` (without the program name); returns the exit code.
pub fn run(args: Vec<OsString>) -> Result<u8> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut config_root = PathBuf::from("/");
    let command = loop {
        match parser.next()? {
            Some(lexopt::Arg::Long("config-root")) => config_root = parser.value()?.into(),
            Some(lexopt::Arg::Value(v)) => break v.string()?,
            Some(lexopt::Arg::Long("help") | lexopt::Arg::Short('h')) | None => {
                println!("{USAGE}");
                return Ok(0);
            }
            Some(other) => bail!("{}\n{USAGE}", other.unexpected()),
        }
    };
    match command.as_str() {
        "keygen" => keygen(&mut parser),
        "pack" => pack::run(&mut parser),
        "install" => install::run(&mut parser, &config_root),
        "inspect" => inspect(&mut parser),
        s if slots::SUBCOMMANDS.contains(&s) => {
            slots::run(&slots::parse(s, &mut parser)?, &config_root)?;
            Ok(0)
        }
        other => bail!("unknown command {other:?}\n{USAGE}"),
    }
}

fn keygen(parser: &mut lexopt::Parser) -> Result<u8> {
    let base: PathBuf = parser.value().context("keygen needs BASE (e.g. keys/release)")?.into();
    let id = crate::package::write_keypair(&base)?;
    println!(
        "key id {id}: secret {} (keep it off devices), public {} (install in /etc/fotad/keys/)",
        base.with_extension("key").display(),
        base.with_extension("pub").display()
    );
    Ok(0)
}

fn inspect(parser: &mut lexopt::Parser) -> Result<u8> {
    let (mut path, mut json) = (None, false);
    while let Some(arg) = parser.next()? {
        match arg {
            lexopt::Arg::Long("json") => json = true,
            lexopt::Arg::Value(v) if path.is_none() => path = Some(PathBuf::from(v)),
            other => bail!("inspect: {}", other.unexpected()),
        }
    }
    let path = path.context("inspect needs a package path")?;
    let mut file = std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let header = crate::package::read_header(&mut file).with_context(|| format!("reading {}", path.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&header.manifest)?);
        return Ok(0);
    }
    let m = &header.manifest;
    println!(
        "package {} for {:?}, version {} (security version {})",
        path.display(),
        m.compatible,
        escaped(&m.version),
        m.security_version
    );
    println!("size {} bytes (header {}, payload {})", header.package_size(), header.payload_offset(), m.payload_size);
    for (id, _) in &header.signatures {
        println!("signed by key {}", escaped(id));
    }
    for (lang, text) in &m.description {
        println!("description [{}]: {}", escaped(lang), escaped(text));
    }
    for image in &m.images {
        let kind = if image.source.is_some() { "delta" } else { "full" };
        println!(
            "image {}: {kind}, {} bytes, sha256 {}, {} operations",
            escaped(&image.class),
            image.target.size,
            image.target.sha256,
            image.operations.len()
        );
    }
    Ok(0)
}

/// Parses `CLASS=VALUE`.
fn class_value(arg: OsString, option: &str) -> Result<(String, String)> {
    let s = arg.into_string().map_err(|_| anyhow::anyhow!("{option}: not UTF-8"))?;
    match s.split_once('=') {
        Some((class, value)) if !class.is_empty() && !value.is_empty() => Ok((class.to_string(), value.to_string())),
        _ => bail!("{option} takes CLASS=PATH (e.g. rootfs=rootfs.img), got {s:?}"),
    }
}
