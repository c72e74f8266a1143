//! `fotad-update install` and `fotad-update checkpoint`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use lexopt::Arg::{Long, Short, Value};
use lexopt::ValueExt;

use crate::install::{ImageTarget, InstallOptions, Installer, Progress, Status};
use crate::package::{read_header, sha256_hex};

const HELP: &str = "\
usage: fotad-update install PKG|- --target CLASS=PATH [options]

Streams the package (a file, or - for standard input) into the targets. The
signature, model and security version are checked before anything is
written; every operation is synced and checkpointed. Running the same command
again after an interruption resumes from the checkpoint.

  --target CLASS=PATH       where image CLASS is written (file or block device)
  --source CLASS=PATH       the image a delta for CLASS applies to (only read)
  --keys DIR                trusted public keys (default /etc/fotad/keys)
  --state-dir DIR           checkpoint and status (default /var/lib/fotad)
  --compatible MODEL        this device's model string (required)
  --installed-security-version N
                            refuse packages below N (default: the last installed package's)
  --offset N                standard input starts at package byte N (the checkpoint's next offset)
  --progress                print progress lines on standard error

exit codes: 0 installed, 3 refused (bad package or not for this device),
75 interrupted and resumable, 1 other errors.";

#[derive(Default)]
struct Args {
    package: Option<PathBuf>,
    targets: BTreeMap<String, PathBuf>,
    sources: BTreeMap<String, PathBuf>,
    keys: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    compatible: Option<String>,
    installed_security_version: Option<u64>,
    offset: u64,
    progress: bool,
}

pub fn run(parser: &mut lexopt::Parser) -> Result<u8> {
    let mut a = Args::default();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("target") => insert(&mut a.targets, parser.value()?, "--target")?,
            Long("source") => insert(&mut a.sources, parser.value()?, "--source")?,
            Long("keys") => a.keys = Some(parser.value()?.into()),
            Long("state-dir") => a.state_dir = Some(parser.value()?.into()),
            Long("compatible") => a.compatible = Some(parser.value()?.string()?),
            Long("installed-security-version") => a.installed_security_version = Some(parser.value()?.parse()?),
            Long("offset") => a.offset = parser.value()?.parse()?,
            Long("progress") => a.progress = true,
            Short('h') | Long("help") => {
                println!("{HELP}");
                return Ok(0);
            }
            Value(v) if a.package.is_none() => a.package = Some(v.into()),
            other => bail!("install: {}\n{HELP}", other.unexpected()),
        }
    }
    let package = a.package.clone().context("install needs a package path or -")?;
    let installer = Installer::new(options(&a)?);
    let show = a.progress;
    let mut progress = |p: Progress| {
        if show {
            let pct = p.bytes_done * 100 / p.bytes_total.max(1);
            eprintln!(
                "progress {pct}% {}/{} bytes, operation {}/{}",
                p.bytes_done, p.bytes_total, p.ops_done, p.ops_total
            );
        }
    };
    let result = if package.as_os_str() == "-" {
        installer.install(BufReader::with_capacity(1 << 20, std::io::stdin().lock()), a.offset, &mut progress)
    } else {
        let (reader, start) = open_at_checkpoint(&installer, &package)?;
        installer.install(reader, start, &mut progress)
    };
    match result {
        Ok(done) => {
            println!("installed version {} (security version {})", done.version, done.security_version);
            for (class, sha) in &done.images {
                println!("  {class}: {} verified, sha256 {sha}", a.targets[class].display());
            }
            Ok(0)
        }
        Err(e) => {
            let code = if e.is_resumable() { super::EXIT_RESUMABLE } else { super::EXIT_REFUSED };
            eprintln!("fotad-update: install failed (FUMO result {}): {e}", e.fumo_result());
            if e.is_resumable() {
                eprintln!("fotad-update: run the same command again to resume from the checkpoint");
            }
            Ok(code)
        }
    }
}

fn options(a: &Args) -> Result<InstallOptions> {
    if a.targets.is_empty() {
        bail!("install needs --target CLASS=PATH for each image class");
    }
    if let Some(class) = a.sources.keys().find(|c| !a.targets.contains_key(*c)) {
        bail!("--source {class}=… has no matching --target {class}=…");
    }
    let state_dir = a.state_dir.clone().unwrap_or_else(|| "/var/lib/fotad".into());
    let installed = match a.installed_security_version {
        Some(v) => v,
        None => last_installed_security_version(&state_dir)?,
    };
    let images = a
        .targets
        .iter()
        .map(|(class, target)| {
            let source = a.sources.get(class).cloned();
            (class.clone(), ImageTarget { target: target.clone(), source })
        })
        .collect();
    Ok(InstallOptions {
        keys_dir: a.keys.clone().unwrap_or_else(|| "/etc/fotad/keys".into()),
        state_dir,
        compatible: a.compatible.clone().context("install needs --compatible MODEL (this device's model)")?,
        installed_security_version: installed,
        images,
    })
}

fn last_installed_security_version(state_dir: &Path) -> Result<u64> {
    let status = crate::install::Records::new(state_dir).status()?;
    Ok(match status {
        Some(Status::Installed { security_version, .. }) => security_version,
        _ => 0,
    })
}

/// Opens a package file, positioned at the checkpoint when one exists for
/// this same package (so a re-run resumes), else at the start.
fn open_at_checkpoint(installer: &Installer, path: &Path) -> Result<(Box<dyn Read>, u64)> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    if let Some(cp) = installer.checkpoint()? {
        let same = read_header(&mut file).map(|h| sha256_hex(&h.manifest_bytes) == cp.package).unwrap_or(false);
        if same {
            eprintln!(
                "fotad-update: resuming version {} at byte {} (operation {})",
                cp.version, cp.next_offset, cp.next_op
            );
            file.seek(SeekFrom::Start(cp.next_offset))?;
            return Ok((Box::new(BufReader::with_capacity(1 << 20, file)), cp.next_offset));
        }
    }
    file.seek(SeekFrom::Start(0))?;
    Ok((Box::new(BufReader::with_capacity(1 << 20, file)), 0))
}

fn insert(map: &mut BTreeMap<String, PathBuf>, arg: std::ffi::OsString, option: &str) -> Result<()> {
    let (class, path) = super::class_value(arg, option)?;
    if map.insert(class.clone(), path.into()).is_some() {
        bail!("{option}: image class {class:?} given twice");
    }
    Ok(())
}
