//! What a run does ([`Work`]) and how it ends ([`Outcome`]): every kind of
//! run first finishes the accepted jobs and delivers pending reports, then
//! does its own part (a session, an install).

use std::path::PathBuf;

use anyhow::Context;
use fotad_updater::sync::lock;

use super::agent::Agent;
use super::events::{Event, Finished};
use super::frontend::Frontend;
use super::run::{Activity, Note, Progress, Run};
use super::{install, jobs};
use crate::cancel::CancelToken;
use crate::dm::session::QueuedAlert;
use crate::fumo::{FumoResult, JobEnd};
use crate::i18n::{self, Msg};

/// Alert type of a check the device starts on its own (schedule, SIM).
pub const DEVICE_REQUEST: &str = "org.openmobilealliance.dm.firmwareupdate.devicerequest";
/// Alert type of a check a user asked for.
pub const USER_REQUEST: &str = "org.openmobilealliance.dm.firmwareupdate.userrequest";

/// Who asked for a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckKind {
    Device,
    User,
}

/// The work of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// Finish the accepted jobs and deliver pending reports (on start, after
    /// a reboot, on the retry schedule).
    Resume,
    /// Ask the server for updates: a Generic Alert `devicerequest` (the
    /// schedule, `fotad --once --check`) or `userrequest` (a UI's
    /// `CheckForUpdate`) in a new session, then the jobs it orders.
    Check(CheckKind),
    /// A DM notification (package #0): D-Bus `Notify`, a WAP push over UDP,
    /// `fotad --once --notify`; the server-initiated session, then its jobs.
    Notify(Vec<u8>),
    /// A session the SIM asked for, with the account whose address it names.
    SimSession { server_uri: String },
    /// A local package into the inactive slot (D-Bus `InstallFile`).
    InstallFile(PathBuf),
}

impl Work {
    /// The work's name (the `job` of the D-Bus `Completed` signal).
    pub fn job(&self) -> &'static str {
        match self {
            Work::Resume => "resume",
            Work::Check(_) => "check",
            Work::Notify(_) => "notify",
            Work::SimSession { .. } => "sim-session",
            Work::InstallFile(_) => "install",
        }
    }

    pub(super) fn first_activity(&self) -> Activity {
        match self {
            Work::InstallFile(_) => Activity::Installing,
            _ => Activity::Checking,
        }
    }
}

/// Where the job loop stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// No job left and every report delivered.
    Idle,
    /// No job left; some reports could not be delivered yet (retry later).
    ReportsPending,
    /// A slot was activated and the reboot command ran (or none is configured).
    Rebooting,
    /// The new slot runs but is not confirmed yet: run again after mark-good.
    AwaitingMarkGood,
    /// Cancelled at a checkpoint (or the reboot was not allowed now); run again to resume.
    Interrupted,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub end: RunEnd,
    /// The jobs that ended in this run.
    pub results: Vec<JobEnd>,
    /// For the user: a FUMO result code (the last job's, 200 when nothing
    /// failed) and a message in the device's language.
    pub code: u32,
    pub message: String,
}

/// A run's context for its steps: the agent, the run's cancel token and the
/// person at the device. Sets what the outside sees of the run.
pub(super) struct Ctx<'a> {
    pub agent: &'a Agent,
    pub cancel: &'a CancelToken,
    pub frontend: &'a dyn Frontend,
}

impl Ctx<'_> {
    pub fn set_activity(&self, activity: Activity) {
        if self.agent.slot.set_activity(activity) {
            self.agent.emit(&Event::Activity(self.agent.status().activity));
        }
    }

    pub fn set_progress(&self, percent: u32, bytes_done: u64, bytes_total: u64, note: Option<Note>) {
        let progress = Progress { percent: percent.min(100), bytes_done, bytes_total, note };
        self.agent.slot.set_progress(progress);
        self.agent.emit(&Event::Progress);
    }

    /// A message in the run's progress, no bytes.
    pub fn note(&self, msg: Msg, args: &[&str]) {
        let args = args.iter().map(|a| a.to_string()).collect();
        self.set_progress(0, 0, 0, Some(Note { msg, args }));
    }

    pub fn text(&self, msg: Msg, args: &[&str]) -> String {
        i18n::text(&self.frontend.language(), msg, args)
    }
}

impl Run {
    /// Carries out the run's work, blocking; the slot is freed and the end
    /// announced when it returns.
    pub fn execute(mut self, frontend: &dyn Frontend) -> anyhow::Result<Outcome> {
        let work = self.work.take().unwrap_or(Work::Resume);
        let agent = std::sync::Arc::clone(&self.agent);
        let ctx = Ctx { agent: &agent, cancel: &self.cancel, frontend };
        let result = match &work {
            Work::InstallFile(path) => Ok(install::install_file(&ctx, path)),
            _ => dm_work(&ctx, &work),
        };
        agent.fumo_state_changed();
        let finished = match &result {
            Ok(o) => Finished { job: work.job(), code: o.code, message: o.message.clone() },
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "{} failed", work.job());
                let message = ctx.text(Msg::Failed, &[&format!("{e:#}")]);
                Finished { job: work.job(), code: u32::from(FumoResult::UpdateFailed.code()), message }
            }
        };
        // A resume that had nothing to do has nothing to tell a user.
        let quiet = work == Work::Resume && result.as_ref().is_ok_and(|o| o.results.is_empty());
        if !quiet {
            agent.set_last_result(&finished);
            self.finished = Some(finished);
        }
        result
    }
}

/// The jobs, then the run's own session, then the jobs it ordered.
fn dm_work(ctx: &Ctx<'_>, work: &Work) -> anyhow::Result<Outcome> {
    let mut results = Vec::new();
    let end = jobs::work(ctx, &mut results)?;
    let free = matches!(end, RunEnd::Idle | RunEnd::ReportsPending);
    let end = match work {
        Work::Check(kind) if free => {
            request_check(ctx, *kind)?;
            jobs::session(ctx, None)?;
            jobs::work(ctx, &mut results)?
        }
        Work::Notify(package0) if free => {
            tracing::info!("session: server-initiated (package #0)");
            let mut exec = ctx.agent.exec();
            let report =
                lock(&ctx.agent.sessions).notify(package0, ctx.frontend.ui(), &mut exec).context("the DM session")?;
            if report.is_none() {
                tracing::info!("session: declined by the user");
            }
            jobs::work(ctx, &mut results)?
        }
        Work::SimSession { server_uri } => {
            let accounts = &ctx.agent.settings().dm.accounts;
            let id = accounts.iter().find(|a| a.address == *server_uri).map(|a| a.server_id.clone());
            tracing::info!("session: requested by the SIM for {server_uri}");
            jobs::session(ctx, id.as_deref())?;
            jobs::work(ctx, &mut results)?
        }
        _ => end,
    };
    Ok(outcome(ctx, end, results))
}

/// Queues the Generic Alert that asks the server for updates.
fn request_check(ctx: &Ctx<'_>, kind: CheckKind) -> anyhow::Result<()> {
    let type_ = match kind {
        CheckKind::Device => DEVICE_REQUEST,
        CheckKind::User => USER_REQUEST,
    };
    let mut alert = QueuedAlert::generic(&ctx.agent.settings().fumo.instance_uri(), type_, 0, None, false);
    alert.format = "chr".into();
    alert.data = String::new();
    ctx.agent.alerts.push(alert).context("queueing the update request")?;
    tracing::info!("session: asking the server for updates ({type_})");
    Ok(())
}

fn outcome(ctx: &Ctx<'_>, end: RunEnd, results: Vec<JobEnd>) -> Outcome {
    let code = results.last().map_or(FumoResult::Successful, |r| r.result);
    let message = match end {
        RunEnd::Interrupted => ctx.text(Msg::Cancelled, &[]),
        RunEnd::Rebooting => ctx.text(Msg::Installed, &[&ctx.agent.system().version]),
        _ if code.is_success() => ctx.text(Msg::CheckDone, &[]),
        _ => ctx.text(Msg::Failed, &[&format!("FUMO result {code}")]),
    };
    Outcome { end, results, code: u32::from(code.code()), message }
}
