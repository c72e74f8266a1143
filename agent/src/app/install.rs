//! `InstallFile`: a local package into the inactive slot, through the
//! updater's one pipeline with this device's policies (the SIM's operator
//! gate among them): verify the header, ask for consent by policy, stream,
//! verify, activate for trial boots. Stops at a checkpoint when cancelled.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use fotad_updater::install::Progress as InstallProgress;
use fotad_updater::package::read_raw_header;
use fotad_updater::update::UpdateError;
use fotad_updater::{ErrorKind, InstallError};

use super::consent::{self, Consent};
use super::run::{Activity, Note};
use super::work::{Ctx, Outcome, RunEnd};
use crate::fumo::FumoResult;
use crate::i18n::Msg;

pub(super) fn install_file(ctx: &Ctx<'_>, path: &Path) -> Outcome {
    let (code, message) = match install(ctx, path) {
        Ok(version) => (FumoResult::Successful, ctx.text(Msg::Installed, &[&version])),
        Err(Failure::Cancelled) => (FumoResult::UserCancelled, ctx.text(Msg::Cancelled, &[])),
        Err(Failure::Update(e)) => {
            tracing::warn!(error = %crate::logging::chain(&e), "InstallFile {} failed", path.display());
            (FumoResult::from(&e), ctx.text(Msg::Failed, &[&format!("{}: {e}", path.display())]))
        }
    };
    let end = if code == FumoResult::UserCancelled { RunEnd::Interrupted } else { RunEnd::Idle };
    Outcome { end, results: Vec::new(), code: u32::from(code.code()), message }
}

enum Failure {
    Cancelled,
    Update(UpdateError),
}

impl From<UpdateError> for Failure {
    fn from(e: UpdateError) -> Failure {
        match e.kind() {
            ErrorKind::Cancelled => Failure::Cancelled,
            _ => Failure::Update(e),
        }
    }
}

fn install(ctx: &Ctx<'_>, path: &Path) -> Result<String, Failure> {
    let update = ctx.agent.runner.begin_update(ctx.cancel)?;
    let open = || {
        File::open(path)
            .map_err(|source| UpdateError::Install(InstallError::Io { what: "opening", path: path.into(), source }))
    };
    let raw = read_raw_header(&mut open()?).map_err(|e| UpdateError::Install(e.into()))?;
    let header = update.check(raw)?;
    let version = header.manifest.version.clone();
    let description = header.manifest.description_for(&ctx.frontend.language()).unwrap_or_default().to_string();
    if consent::seek(ctx, &version, &description) == Consent::Cancelled {
        return Err(Failure::Cancelled);
    }
    ctx.set_activity(Activity::Installing);
    let writing = || Some(Note { msg: Msg::Writing, args: Vec::new() });
    ctx.set_progress(0, 0, 0, writing());
    let mut on_progress = |p: InstallProgress| {
        let percent = p.bytes_done.saturating_mul(100).checked_div(p.bytes_total).unwrap_or(0);
        ctx.set_progress(percent as u32, p.bytes_done, p.bytes_total, writing());
    };
    let installed = update.stream(BufReader::with_capacity(1 << 20, open()?), 0, &mut on_progress)?;
    let slot = update.activate(&installed)?;
    tracing::info!("InstallFile: version {} installed into slot {slot}, active for trial boots", installed.version);
    ctx.set_progress(100, 0, 0, Some(Note { msg: Msg::Installed, args: vec![installed.version.clone()] }));
    Ok(installed.version)
}
