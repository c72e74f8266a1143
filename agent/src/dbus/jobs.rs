//! The long-running jobs, each on a blocking worker thread: a DM check, a DM
//! session from a notification, and a local package install.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use fotad_updater::install::Progress;
use fotad_updater::package::read_raw_header;
use fotad_updater::InstallError;

use super::bridge::DbusUi;
use super::consent::{self, Consent};
use super::core::Core;
use super::ports::Outcome;
use super::state::Transition;
use crate::i18n::Msg;

/// FUMO result code for "user cancelled" and "update failed".
const CANCELLED: u32 = 401;
const UPDATE_FAILED: u32 = 410;

/// `CheckForUpdate`: a client-initiated DM session.
pub fn check(core: &Arc<Core>) {
    let ui = DbusUi::new(Arc::clone(core));
    let result = core.dm.check(&ui, core.as_ref());
    finish_dm(core, "check", result);
}

/// `Notify`: a server-initiated DM session from package #0.
pub fn notify(core: &Arc<Core>, package0: &[u8]) {
    let ui = DbusUi::new(Arc::clone(core));
    let result = core.dm.notify(package0, &ui, core.as_ref());
    finish_dm(core, "notify", result);
}

fn finish_dm(core: &Core, job: &str, result: Result<Outcome, String>) {
    match result {
        Ok(o) => core.finish(job, o.code, o.message),
        Err(reason) => core.finish(job, UPDATE_FAILED, core.text(Msg::Failed, &[&reason])),
    }
}

/// `InstallFile`: verify, ask for consent by policy, then stream the package
/// into the targets the provider names; stops at a checkpoint when cancelled.
pub fn install(core: &Core, path: &Path) {
    let (code, message) = match install_inner(core, path) {
        Ok(version) => (200, core.text(Msg::Installed, &[&version])),
        Err(InstallFailure::Cancelled) => (CANCELLED, core.text(Msg::Cancelled, &[])),
        Err(InstallFailure::Install(e)) => {
            (u32::from(e.fumo_result()), core.text(Msg::Failed, &[&format!("{}: {e}", path.display())]))
        }
        Err(InstallFailure::Setup(reason)) => (UPDATE_FAILED, core.text(Msg::Failed, &[&reason])),
    };
    core.finish("install", code, message);
}

enum InstallFailure {
    Cancelled,
    Install(InstallError),
    Setup(String),
}

fn install_inner(core: &Core, path: &Path) -> Result<String, InstallFailure> {
    let target = (core.install)().map_err(InstallFailure::Setup)?;
    let installer = target.installer();
    core.add_cancel_flag(installer.cancel_flag());
    let open = || File::open(path).map_err(|e| InstallFailure::Setup(format!("opening {}: {e}", path.display())));
    let raw = read_raw_header(&mut open()?).map_err(|e| InstallFailure::Install(e.into()))?;
    let header = installer.verify(raw).map_err(InstallFailure::Install)?;
    let version = header.manifest.version.clone();
    let description = header.manifest.description_for(&core.language()).unwrap_or_default().to_string();
    if consent::seek(core, &version, &description) == Consent::Cancelled {
        return Err(InstallFailure::Cancelled);
    }
    core.transition(Transition::BeginWrite).map_err(|_| InstallFailure::Cancelled)?;
    let writing = core.text(Msg::Writing, &[]);
    core.set_progress(0, 0, 0, writing.clone());
    let mut on_progress = |p: Progress| {
        let percent = (p.bytes_done.saturating_mul(100)).checked_div(p.bytes_total).unwrap_or(0);
        core.set_progress(percent as u32, p.bytes_done, p.bytes_total, writing.clone());
    };
    match installer.install(open()?, 0, &mut on_progress) {
        Ok(done) => {
            target.finish(&done).map_err(InstallFailure::Setup)?;
            core.set_progress(100, 0, 0, core.text(Msg::Installed, &[&done.version]));
            Ok(done.version)
        }
        Err(InstallError::Cancelled) => Err(InstallFailure::Cancelled),
        Err(e) => Err(InstallFailure::Install(e)),
    }
}
