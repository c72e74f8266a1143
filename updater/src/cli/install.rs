//! `fotad-update install` and `fotad-update checkpoint`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use lexopt::Arg::{Long, Short, Value};
use lexopt::ValueExt;

use super::stdin::TimedStdin;
use crate::config::{DEFAULT_READ_TIMEOUT, MAX_READ_TIMEOUT_SECS};
use crate::error::InstallError;
use crate::install::{ImageTarget, InstallOptions, Installed, Installer, Progress, Records};
use crate::package::{read_header, read_raw_header, sha256_hex, PackageError};
use crate::text::escaped;
use crate::update::DevicePolicy;

const HELP: &str = "\
usage: fotad-update [--config-root DIR] install PKG|- [options]

Streams the package (a file, or - for standard input) into the inactive slot
(from the configuration), verifies it, copies the image classes the package
does not carry from the booted slot, and makes the slot primary for a limited
number of trial boots: reboot to boot it. The signature, model, security
version (against the highest confirmed on the slots) and the fit of the images
are checked before anything is written or the slot is marked bad; every
operation is synced and checkpointed. Running the same command again after an
interruption resumes from the checkpoint.

With --target, writes the given images instead and touches no bootloader:

  --target CLASS=PATH       where image CLASS is written (file or block device)
  --source CLASS=PATH       the image a delta for CLASS applies to (only read)
  --keys DIR                trusted public keys (default /etc/fotad/keys)
  --state-dir DIR           checkpoint and status (default /var/lib/fotad)
  --compatible MODEL        this device's model string (required with --target)
  --installed-security-version N
                            refuse packages below N (default: the highest security
                            version confirmed on the slots or installed completely,
                            as recorded in the state directory)

Either way:

  --offset N                standard input starts at package byte N (the checkpoint's next offset)
  --read-timeout SECS       give up (resumably) when standard input brings no data for SECS
                            seconds (default: [updater] read_timeout_secs, else 300)
  --progress                print progress lines on standard error

exit codes: 0 installed, 3 refused (bad package or not for this device),
75 interrupted and resumable, 1 other errors (a missing file, a device error).";

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
    read_timeout: Option<Duration>,
    progress: bool,
}

pub fn run(parser: &mut lexopt::Parser, config_root: &Path) -> Result<u8> {
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
            Long("read-timeout") => a.read_timeout = Some(read_timeout(parser.value()?.parse()?)?),
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
    if a.targets.is_empty() {
        return install_inactive_slot(&a, &package, config_root);
    }
    let installer = Installer::new(options(&a)?);
    let timeout = a.read_timeout.unwrap_or(DEFAULT_READ_TIMEOUT);
    let result = stream(&installer, &package, &a, timeout);
    report(result.map(|done| (done, None)), &a.targets)
}

fn read_timeout(secs: u64) -> Result<Duration> {
    if !(1..=MAX_READ_TIMEOUT_SECS).contains(&secs) {
        bail!("--read-timeout {secs}: give 1 to {MAX_READ_TIMEOUT_SECS} seconds");
    }
    Ok(Duration::from_secs(secs))
}

/// Installs into the configured inactive slot and activates it.
fn install_inactive_slot(a: &Args, package: &Path, config_root: &Path) -> Result<u8> {
    let explicit = a.keys.is_some() || a.state_dir.is_some() || a.compatible.is_some();
    if !a.sources.is_empty() || explicit || a.installed_security_version.is_some() {
        bail!("--source, --keys, --state-dir, --compatible and --installed-security-version go with --target; without it they come from the configuration");
    }
    let settings = crate::update::settings_under(config_root)?;
    // By hand, without the agent: no SIM to ask (the agent applies its gate).
    let cancel = Arc::new(AtomicBool::new(false));
    let update = crate::update::begin(&settings, DevicePolicy::None, cancel)?;
    eprintln!("fotad-update: installing into slot {} (marked bad once the package is verified)", update.slot());
    let targets = update_targets(&update);
    let timeout = a.read_timeout.unwrap_or(settings.read_timeout);
    let done = match stream(update.installer(), package, a, timeout) {
        Ok(done) => done,
        Err(e) => return report(Err(e), &targets),
    };
    let slot = update.activate(&done)?;
    report(Ok((done, Some((slot, settings.tries)))), &targets)
}

fn update_targets(update: &crate::update::SlotUpdate) -> BTreeMap<String, PathBuf> {
    update.installer().options().images.iter().map(|(c, i)| (c.clone(), i.target.clone())).collect()
}

fn stream(installer: &Installer, package: &Path, a: &Args, timeout: Duration) -> Result<Installed, InstallError> {
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
    if package.as_os_str() == "-" {
        let io = |source| InstallError::Io { what: "reading", path: "standard input".into(), source };
        let stdin = TimedStdin::new(timeout).map_err(io)?;
        installer.install(BufReader::with_capacity(1 << 20, stdin), a.offset, &mut progress)
    } else {
        let (reader, start) = open_at_checkpoint(installer, package)?;
        installer.install(reader, start, &mut progress)
    }
}

type Activated = Option<(crate::slot::Slot, u8)>;

fn report(result: Result<(Installed, Activated), InstallError>, targets: &BTreeMap<String, PathBuf>) -> Result<u8> {
    match result {
        Ok((done, activated)) => {
            println!("installed version {} (security version {})", escaped(&done.version), done.security_version);
            for (class, sha) in &done.images {
                println!("  {}: {} verified, sha256 {sha}", escaped(class), targets[class].display());
            }
            if let Some((slot, tries)) = activated {
                println!("slot {slot} is primary for {tries} trial boots: reboot to boot it");
            }
            Ok(0)
        }
        Err(e) => {
            let code = match () {
                () if e.is_resumable() => super::EXIT_RESUMABLE,
                () if e.is_refusal() => super::EXIT_REFUSED,
                () => super::EXIT_OTHER,
            };
            eprintln!("fotad-update: install failed ({}): {e}", e.kind());
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
        None => recorded_floor(&state_dir)?,
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

/// The floor for `--target` installs without `--installed-security-version`:
/// the slot record's (highest confirmed) or the security version of the last
/// package installed completely, whichever is higher. Neither is changed by an
/// interrupted or refused install.
fn recorded_floor(state_dir: &Path) -> Result<u64> {
    let confirmed = crate::slot::record::load(&crate::slot::record::path_in(state_dir))?.security_floor;
    let installed = match Records::new(state_dir).installed_header()? {
        Some(raw) => read_header(&mut raw.as_slice()).map(|h| h.manifest.security_version).unwrap_or(0),
        None => 0,
    };
    Ok(confirmed.max(installed))
}

/// Opens a package file, positioned at the checkpoint when one exists for
/// this same package (so a re-run resumes), else at the start. A file whose
/// header is cut short is refused: no checkpoint can complete it.
fn open_at_checkpoint(installer: &Installer, path: &Path) -> Result<(Box<dyn Read>, u64), InstallError> {
    let io = |source| InstallError::Io { what: "reading package", path: path.to_path_buf(), source };
    let mut file = File::open(path).map_err(io)?;
    let raw = match read_raw_header(&mut file) {
        Err(PackageError::Io { source, .. }) => return Err(io(source)),
        other => other?,
    };
    if let Some(cp) = installer.checkpoint()? {
        if sha256_hex(&raw.manifest_bytes) == cp.package {
            eprintln!(
                "fotad-update: resuming version {} at byte {} (operation {})",
                escaped(&cp.version),
                cp.next_offset,
                cp.next_op
            );
            file.seek(SeekFrom::Start(cp.next_offset)).map_err(io)?;
            return Ok((Box::new(BufReader::with_capacity(1 << 20, file)), cp.next_offset));
        }
    }
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    Ok((Box::new(BufReader::with_capacity(1 << 20, file)), 0))
}

fn insert(map: &mut BTreeMap<String, PathBuf>, arg: std::ffi::OsString, option: &str) -> Result<()> {
    let (class, path) = super::class_value(arg, option)?;
    if map.insert(class.clone(), path.into()).is_some() {
        bail!("{option}: image class {class:?} given twice");
    }
    Ok(())
}
