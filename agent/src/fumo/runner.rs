//! Runs the accepted FUMO jobs, one after another: download (streamed into
//! the inactive slot through the updater's pipeline), activation, and after
//! the reboot the outcome. Each step moves the job record first, so that a
//! restart at any point continues the same job, and its result is reported
//! exactly once.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use fotad_updater::lifecycle::{BootCheck, Lifecycle, LifecycleError};
use fotad_updater::slot::record::UpdateResult;
use fotad_updater::update::{DevicePolicy, SlotUpdate, UpdateError};
use fotad_updater::InstallError;

use super::crash;
use super::result::FumoResult;
use super::state::FumoState;
use super::store::{Ended, FumoStore, IllegalStep, Job, JobState, Operation, Ready, StoreError};
use crate::cancel::CancelToken;
use crate::dm::session::AlertQueue;
use crate::download::{DownloadError, DownloadJob, DownloadProgress, Downloader};

/// Panics of the agent in one job after which the job is ended with
/// [`FumoResult::ClientError`] instead of being run again: whatever input
/// took the agent down must not do so forever (see [`super::crash`]).
pub const MAX_PANICS: u32 = 2;

/// A job that ended, as the caller learns it from [`Runner::run_next`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEnd {
    pub instance: String,
    pub operation: Operation,
    pub result: FumoResult,
}

/// What the caller must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// No job left.
    Idle,
    /// A job ended (its report is queued); call again for the next one.
    Finished(JobEnd),
    /// A slot was activated: reboot the device, then call again.
    Reboot,
    /// The new slot runs but is not confirmed yet (mark-good pending): call again later.
    AwaitMarkGood,
    /// The job stopped at a checkpoint (cancelled); calling again resumes it.
    Interrupted,
}

/// Failures of the runner itself (not of a job: those are reported to the server).
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error(transparent)]
    Step(#[from] IllegalStep),
}

/// Everything a job needs.
pub struct Runner {
    pub store: Arc<Mutex<FumoStore>>,
    pub alerts: AlertQueue,
    /// Slots, bootloader, keys and state of the updater.
    pub updater: fotad_updater::config::Settings,
    pub downloader: Downloader,
    /// The agent's state directory (download resume record).
    pub state_dir: PathBuf,
    /// The device's language, to choose among download descriptors.
    pub language: String,
    /// The device's own check of every package (the SIM's operator gate).
    pub policy: DevicePolicy,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner").field("state_dir", &self.state_dir).finish_non_exhaustive()
    }
}

impl Runner {
    fn with_store<R>(&self, f: impl FnOnce(&mut FumoStore) -> Result<R, StoreError>) -> Result<R, RunnerError> {
        Ok(f(&mut fotad_updater::sync::lock(&self.store))?)
    }

    fn set_state(&self, job: &Job, state: JobState) -> Result<(), RunnerError> {
        self.with_store(|s| s.set_state(job.id, state))
    }

    /// Begins an update of the inactive slot through the updater's one
    /// pipeline, with this device's policy and `cancel` (the running job's).
    pub fn begin_update(&self, cancel: &CancelToken) -> Result<SlotUpdate, UpdateError> {
        fotad_updater::update::begin(&self.updater, self.policy.clone(), cancel.flag())
    }

    fn finish(&self, job: &Job, ended: Option<Ended>, result: FumoResult) -> Result<Step, RunnerError> {
        self.with_store(|s| s.finish(job.id, ended, result, &self.alerts))?;
        crash::forget(&self.state_dir, job.id);
        tracing::info!(job = job.id, instance = %job.instance, "FUMO {} ended with result {result}", job.operation.node());
        Ok(Step::Finished(JobEnd { instance: job.instance.clone(), operation: job.operation, result }))
    }

    /// Works on the oldest job until it needs the caller (reboot, wait) or
    /// ends; `cancel` stops it at its next checkpoint.
    pub fn run_next(
        &self,
        cancel: &CancelToken,
        progress: &mut dyn FnMut(DownloadProgress),
    ) -> Result<Step, RunnerError> {
        let Some(job) = self.with_store(|s| Ok(s.current().cloned()))? else {
            return Ok(Step::Idle);
        };
        match &job.state {
            JobState::Done { result } => return self.finish(&job, None, *result),
            JobState::AwaitingBoot { .. } => return self.after_boot(&job),
            JobState::Queued { .. } | JobState::Downloading { .. } | JobState::Installing { .. } => {}
        }
        let panics = crash::panics(&self.state_dir, job.id);
        if panics >= MAX_PANICS {
            tracing::error!(job = job.id, "the FUMO job made the agent panic {panics} times; ending it as failed");
            let ended = match job.operation {
                Operation::Update => Ended::UpdateFailed,
                Operation::Download | Operation::DownloadAndUpdate => Ended::DownloadFailed,
            };
            return self.finish(&job, Some(ended), FumoResult::ClientError);
        }
        let _watch = crash::Running::start(&self.state_dir, job.id);
        match (job.operation, job.file().map(Path::to_path_buf)) {
            (Operation::DownloadAndUpdate | Operation::Download, _) => self.download(&job, cancel, progress),
            (Operation::Update, Some(file)) => self.update_from_file(&job, &file, cancel),
            (Operation::Update, None) => self.update(&job),
        }
    }

    fn download(
        &self,
        job: &Job,
        cancel: &CancelToken,
        progress: &mut dyn FnMut(DownloadProgress),
    ) -> Result<Step, RunnerError> {
        let instance_state = self.with_store(|s| Ok(s.state(&job.instance)))?;
        let fresh = matches!(job.state, JobState::Queued { .. });
        let downloading = match job.state.start_download() {
            // Another job of this instance left a state that takes no download.
            Ok(_) if fresh && !instance_state.accepts_new_job() => {
                return self.finish(job, None, FumoResult::ClientError);
            }
            Ok(next) => next,
            Err(_) => return self.finish(job, Some(Ended::DownloadFailed), FumoResult::MalformedUrl),
        };
        let url = job.url().unwrap_or_default().to_string();
        self.set_state(job, downloading.clone())?;
        let update = match self.begin_update(cancel) {
            Ok(u) => u,
            Err(e) => return self.failed(job, Ended::DownloadFailed, FumoResult::from(&e), &e),
        };
        crash::failpoint("download");
        let request = DownloadJob { pkg_url: &url, state_dir: &self.state_dir, language: &self.language };
        let installed = match self.downloader.download(&request, update.installer(), progress) {
            Ok(report) => report.installed,
            Err(DownloadError::Cancelled { .. }) => return Ok(Step::Interrupted),
            Err(e) => return self.failed(job, Ended::DownloadFailed, FumoResult::from(&e), &e),
        };
        if job.operation == Operation::Download {
            let ready = Ready { url, package: installed.package };
            self.with_store(|s| s.set_ready(&job.instance, Some(ready)))?;
            return self.finish(job, Some(Ended::Downloaded), FumoResult::Successful);
        }
        match update.activate(&installed) {
            Ok(slot) => {
                self.set_state(job, downloading.activated(slot, &installed.version)?)?;
                Ok(Step::Reboot)
            }
            Err(e) => self.failed(job, Ended::UpdateFailed, FumoResult::from(&e), &e),
        }
    }

    /// Logs why a job failed (with the error chain), then ends it.
    fn failed(
        &self,
        job: &Job,
        ended: Ended,
        result: FumoResult,
        error: &(dyn std::error::Error + 'static),
    ) -> Result<Step, RunnerError> {
        tracing::warn!(job = job.id, error = %crate::logging::chain(error), "FUMO {} failed", job.operation.node());
        self.finish(job, Some(ended), result)
    }

    /// Update with a package delivered in `Update/PkgData`: install it from
    /// the staged file into the inactive slot, verify, activate.
    fn update_from_file(&self, job: &Job, file: &Path, cancel: &CancelToken) -> Result<Step, RunnerError> {
        let installing = job.state.start_install()?;
        self.set_state(job, installing.clone())?;
        let update = match self.begin_update(cancel) {
            Ok(u) => u,
            Err(e) => return self.failed(job, Ended::UpdateFailed, FumoResult::from(&e), &e),
        };
        let installed = std::fs::File::open(file)
            .map_err(|source| InstallError::Io { what: "reading staged package", path: file.into(), source })
            .map_err(UpdateError::from)
            .and_then(|f| update.stream(std::io::BufReader::new(f), 0, &mut |_| {}));
        let installed = match installed {
            Ok(i) => i,
            Err(UpdateError::Install(InstallError::Cancelled)) => return Ok(Step::Interrupted),
            Err(e) => return self.failed(job, Ended::UpdateFailed, FumoResult::from(&e), &e),
        };
        match update.activate(&installed) {
            Ok(slot) => {
                self.set_state(job, installing.activated(slot, &installed.version)?)?;
                Ok(Step::Reboot)
            }
            Err(e) => self.failed(job, Ended::UpdateFailed, FumoResult::from(&e), &e),
        }
    }

    /// Update alone: activates the slot a Download job of the instance
    /// installed and verified, if it still holds that package.
    fn update(&self, job: &Job) -> Result<Step, RunnerError> {
        let (state, expected) = self.with_store(|s| Ok((s.state(&job.instance), s.ready(&job.instance).cloned())))?;
        if !matches!(state, FumoState::ReadyToUpdate | FumoState::UpdateFailedHaveData) {
            return self.finish(job, None, FumoResult::ClientError);
        }
        let package = expected.map(|r| r.package);
        match fotad_updater::update::activate_installed(&self.updater, package.as_deref()) {
            Ok((slot, version)) => {
                self.with_store(|s| s.set_ready(&job.instance, None))?;
                self.set_state(job, job.state.activated(slot, &version)?)?;
                Ok(Step::Reboot)
            }
            // The slot holds another package now (or none).
            Err(e @ UpdateError::NothingInstalled { .. }) => {
                self.with_store(|s| s.set_ready(&job.instance, None))?;
                self.failed(job, Ended::UpdateFailed, FumoResult::ClientError, &e)
            }
            Err(e) => self.failed(job, Ended::UpdateFailed, FumoResult::UpdateFailed, &e),
        }
    }

    /// After a reboot: did the new slot come up and get confirmed, or did the
    /// bootloader fall back?
    fn after_boot(&self, job: &Job) -> Result<Step, RunnerError> {
        let mut lifecycle = Lifecycle::open(&self.updater)?;
        let result = match lifecycle.check_boot()? {
            BootCheck::Done(outcome) => Some(outcome.result),
            BootCheck::BootedNew { .. } => return Ok(Step::AwaitMarkGood),
            BootCheck::Waiting { .. } => return Ok(Step::Reboot),
            // mark-good already judged the update: its verdict is the recorded
            // outcome. With none, the activation never reached the bootloader.
            BootCheck::NoUpdate => lifecycle.status()?.last_outcome.map(|o| o.result),
        };
        let step = match result {
            Some(UpdateResult::Updated) => self.finish(job, Some(Ended::Updated), FumoResult::Successful)?,
            Some(UpdateResult::FellBack) | None => {
                self.finish(job, Some(Ended::UpdateFailed), FumoResult::UpdateFailed)?
            }
        };
        lifecycle.take_outcome()?;
        Ok(step)
    }
}
