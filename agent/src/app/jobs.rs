//! The job loop of a run: the accepted FUMO jobs one after another (each
//! reported to its server at once, which may order the next), the reboot
//! into an activated slot, and the sessions that deliver reports.

use anyhow::Context;
use fotad_updater::sync::lock;

use super::consent::{self, Consent};
use super::reboot;
use super::run::{Activity, Note};
use super::work::{Ctx, RunEnd};
use crate::dm::session::Trigger;
use crate::download::DownloadProgress;
use crate::fumo::{JobEnd, JobState, Step};
use crate::i18n::Msg;

/// Runs jobs until none is left, one needs a reboot or mark-good, or the
/// run is cancelled; `results` gets each job that ended.
pub(super) fn work(ctx: &Ctx<'_>, results: &mut Vec<JobEnd>) -> anyhow::Result<RunEnd> {
    let agent = ctx.agent;
    let mut last_percent = None;
    loop {
        if ctx.cancel.is_cancelled() {
            return Ok(RunEnd::Interrupted);
        }
        agent.fumo_state_changed();
        let mut progress = |p: DownloadProgress| {
            ctx.set_activity(Activity::Installing);
            ctx.set_progress(u32::from(p.percent), p.bytes_done, p.bytes_total, Some(writing()));
            // Every percent at debug, every ten at info.
            match last_percent.replace(p.percent) {
                Some(last) if last == p.percent => {}
                Some(last) if last / 10 == p.percent / 10 => {
                    tracing::debug!("download: {}% ({} of {} bytes)", p.percent, p.bytes_done, p.bytes_total);
                }
                _ => tracing::info!("download: {}% ({} of {} bytes)", p.percent, p.bytes_done, p.bytes_total),
            }
        };
        let step = agent.runner.run_next(ctx.cancel, &mut progress).context("running the FUMO job")?;
        agent.fumo_state_changed();
        match step {
            Step::Finished(end) => results.push(end),
            Step::Idle => {
                if agent.alerts.is_empty() {
                    return Ok(RunEnd::Idle);
                }
                ctx.set_activity(Activity::Checking);
                if !deliver(ctx) {
                    return Ok(RunEnd::ReportsPending);
                }
                if lock(&agent.store).current().is_none() {
                    return Ok(if agent.alerts.is_empty() { RunEnd::Idle } else { RunEnd::ReportsPending });
                }
            }
            Step::Reboot => return reboot_into_the_new_slot(ctx),
            Step::AwaitMarkGood => {
                tracing::info!("fumo: running the new slot; waiting for fotad-mark-good to confirm it");
                return Ok(RunEnd::AwaitingMarkGood);
            }
            Step::Interrupted => {
                tracing::info!("fumo: the job stopped at a checkpoint; it resumes with the next run");
                return Ok(RunEnd::Interrupted);
            }
        }
    }
}

fn writing() -> Note {
    Note { msg: Msg::Writing, args: Vec::new() }
}

/// The activated slot boots after consent (by the `[ui]` policy).
fn reboot_into_the_new_slot(ctx: &Ctx<'_>) -> anyhow::Result<RunEnd> {
    let version = lock(&ctx.agent.store).current().and_then(|j| match &j.state {
        JobState::AwaitingBoot { target, version } => Some(format!("{version} (slot {target})")),
        _ => None,
    });
    let version = version.unwrap_or_default();
    if consent::seek(ctx, &version, "") != Consent::Proceed {
        tracing::info!("fumo: {version} is active for trial boots; the reboot was not allowed now");
        return Ok(RunEnd::Interrupted);
    }
    tracing::info!("fumo: {version} is active for trial boots; rebooting");
    ctx.set_activity(Activity::Installing);
    reboot::run(&ctx.agent.settings().fumo.reboot_command)?;
    Ok(RunEnd::Rebooting)
}

/// One session per server with pending alerts; true when all went out.
fn deliver(ctx: &Ctx<'_>) -> bool {
    let servers: Vec<String> = ctx.agent.settings().dm.accounts.iter().map(|a| a.server_id.clone()).collect();
    let mut delivered = true;
    for id in servers {
        if ctx.agent.alerts.pending(&id).is_empty() {
            continue;
        }
        tracing::info!("session: reporting to {id}");
        if let Err(e) = session(ctx, Some(&id)) {
            tracing::warn!(error = %format!("{e:#}"), "session: {id}: the report stays queued");
            delivered = false;
        }
    }
    delivered
}

/// A client-initiated session with `server_id` (or the first account).
pub(super) fn session(ctx: &Ctx<'_>, server_id: Option<&str>) -> anyhow::Result<()> {
    ctx.set_activity(Activity::Checking);
    let mut exec = ctx.agent.exec();
    let report = lock(&ctx.agent.sessions)
        .session(server_id, &Trigger::Client, ctx.frontend.ui(), &mut exec)
        .context("the DM session")?;
    let acked = report.alerts_acked.len();
    tracing::info!("session: ended after {} message(s); {acked} alert(s) acknowledged", report.messages_sent);
    Ok(())
}
