//! Runs the accepted FUMO jobs, one after another: download (streamed into
//! the inactive slot), activation, and after the reboot the outcome, each
//! step persisted so that a restart at any point continues the same job and
//! its result is reported exactly once.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use fotad_updater::install::ManifestPolicy;
use fotad_updater::lifecycle::{BootCheck, Lifecycle, LifecycleError};
use fotad_updater::slot::record::{SlotContent, UpdateResult};
use fotad_updater::update::SlotUpdate;
use fotad_updater::InstallError;

use super::crash;
use super::state::{Event, FumoState};
use super::store::{Downloaded, FumoStore, Job, Operation, Phase, StoreError};
use crate::download::{DownloadError, DownloadJob, DownloadProgress, Downloader};
use crate::dm::session::AlertQueue;

/// FUMO result: successful.
pub const RESULT_OK: u16 = 200;
/// FUMO result: update failed (the new slot did not come up, or could not be activated).
pub const RESULT_UPDATE_FAILED: u16 = 410;
/// FUMO result: client error (Update with nothing downloaded, a job the
/// agent died in twice).
pub const RESULT_CLIENT_ERROR: u16 = 400;
/// Panics of the agent in one job after which the job is ended with
/// [`RESULT_CLIENT_ERROR`] instead of being run again: whatever input took
/// the agent down must not do so forever (see [`super::crash`]).
pub const MAX_PANICS: u32 = 2;

/// What the caller must do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// No job left.
    Idle,
    /// A job finished (reported); call again for the next one.
    Continue,
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
    #[error("FUMO store lock poisoned")]
    Poisoned,
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
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
    /// A device policy every package must pass (the SIM's operator gate).
    pub policy: Option<ManifestPolicy>,
    /// Stops a running install at its next checkpoint (`Step::Interrupted`).
    pub cancel: Option<Arc<AtomicBool>>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner").field("state_dir", &self.state_dir).finish_non_exhaustive()
    }
}

impl Runner {
    fn with_store<R>(&self, f: impl FnOnce(&mut FumoStore) -> Result<R, StoreError>) -> Result<R, RunnerError> {
        let mut store = self.store.lock().map_err(|_| RunnerError::Poisoned)?;
        Ok(f(&mut store)?)
    }

    /// Applies `event` unless the instance is already where it leads (a job
    /// resumed after a restart repeats its steps).
    fn advance(&self, job: &Job, event: Event, target: FumoState) -> Result<(), RunnerError> {
        self.with_store(|s| {
            if s.state(&job.instance) != target {
                s.transition(&job.instance, event)?;
            }
            Ok(())
        })
    }

    /// Prepares the inactive slot with this runner's policy and cancel flag.
    fn begin(&self) -> Result<SlotUpdate, fotad_updater::update::UpdateError> {
        let mut update = fotad_updater::update::begin(&self.updater)?;
        if let Some(policy) = &self.policy {
            update.installer_mut().set_policy(Arc::clone(policy));
        }
        if let Some(flag) = &self.cancel {
            update.installer_mut().set_cancel_flag(Arc::clone(flag));
        }
        Ok(update)
    }

    fn finish(&self, job: &Job, event: Event, result: u16) -> Result<Step, RunnerError> {
        self.with_store(|s| {
            let _ = s.transition(&job.instance, event); // a refused move leaves the state as it is
            s.report(job.id, result, &self.alerts)
        })?;
        crash::forget(&self.state_dir, job.id);
        Ok(Step::Continue)
    }

    /// Works on the oldest job until it needs the caller (reboot, wait) or ends.
    pub fn run_next(&self, progress: &mut dyn FnMut(DownloadProgress)) -> Result<Step, RunnerError> {
        let Some(job) = self.with_store(|s| Ok(s.current().cloned()))? else {
            return Ok(Step::Idle);
        };
        match job.phase {
            Phase::Done { result } => return self.finish(&job, Event::Reset, result),
            Phase::AwaitingReboot => return self.after_boot(&job),
            Phase::Queued | Phase::Running => {}
        }
        let panics = crash::panics(&self.state_dir, job.id);
        if panics >= MAX_PANICS {
            eprintln!("fotad: FUMO job {} made the agent panic {panics} times; ending it as failed", job.id);
            let event = match job.operation {
                Operation::Update => Event::UpdateFailed { have_data: false },
                Operation::Download | Operation::DownloadAndUpdate => Event::DownloadFailed,
            };
            return self.finish(&job, event, RESULT_CLIENT_ERROR);
        }
        self.with_store(|s| s.set_phase(job.id, Phase::Running))?;
        let _watch = crash::Running::start(&self.state_dir, job.id);
        match job.operation {
            Operation::DownloadAndUpdate | Operation::Download => self.download(&job, progress),
            Operation::Update => self.update(&job),
        }
    }

    fn download(&self, job: &Job, progress: &mut dyn FnMut(DownloadProgress)) -> Result<Step, RunnerError> {
        if self.advance(job, Event::DownloadStarted, FumoState::DownloadProgressing).is_err() {
            // Another job of this instance is in a state that takes no download.
            return self.finish(job, Event::DownloadFailed, RESULT_CLIENT_ERROR);
        }
        let update = match self.begin() {
            Ok(u) => u,
            Err(e) => return self.finish(job, Event::DownloadFailed, e.fumo_result()),
        };
        crash::failpoint("download");
        let pkg_url = job.pkg_url.clone().unwrap_or_default();
        let request = DownloadJob { pkg_url: &pkg_url, state_dir: &self.state_dir, language: &self.language };
        let installed = match self.downloader.download(&request, update.installer(), progress) {
            Ok(report) => report.installed,
            Err(DownloadError::Cancelled { .. }) => return Ok(Step::Interrupted),
            Err(e) => return self.finish(job, Event::DownloadFailed, e.fumo_result()),
        };
        let downloaded = Downloaded { url: pkg_url.clone(), package: installed.package.clone() };
        self.with_store(|s| s.set_downloaded(&job.instance, Some(downloaded)))?;
        self.advance(job, Event::DownloadDone, FumoState::DownloadComplete)?;
        self.advance(job, Event::ReadyToUpdate, FumoState::ReadyToUpdate)?;
        if job.operation == Operation::Download {
            self.with_store(|s| s.report(job.id, RESULT_OK, &self.alerts))?;
            return Ok(Step::Continue);
        }
        self.advance(job, Event::UpdateStarted, FumoState::UpdateProgressing)?;
        match update.finish(&installed) {
            Ok(_) => {
                self.with_store(|s| s.set_phase(job.id, Phase::AwaitingReboot))?;
                Ok(Step::Reboot)
            }
            Err(e) => self.finish(job, Event::UpdateFailed { have_data: false }, e.fumo_result()),
        }
    }

    /// Update with a package delivered in `Update/PkgData`: install it from
    /// the staged file into the inactive slot, verify, activate.
    fn update_from_file(&self, job: &Job, file: &std::path::Path) -> Result<Step, RunnerError> {
        self.advance(job, Event::UpdateStarted, FumoState::UpdateProgressing)?;
        let update = match self.begin() {
            Ok(u) => u,
            Err(e) => return self.finish(job, Event::UpdateFailed { have_data: true }, e.fumo_result()),
        };
        let installed = std::fs::File::open(file)
            .map_err(|source| InstallError::Io { what: "reading staged package", path: file.into(), source })
            .and_then(|f| update.installer().install(std::io::BufReader::new(f), 0, &mut |_| {}));
        let installed = match installed {
            Ok(i) => i,
            Err(InstallError::Cancelled) => return Ok(Step::Interrupted),
            Err(e) => return self.finish(job, Event::UpdateFailed { have_data: false }, e.fumo_result()),
        };
        match update.finish(&installed) {
            Ok(_) => {
                self.with_store(|s| s.set_phase(job.id, Phase::AwaitingReboot))?;
                Ok(Step::Reboot)
            }
            Err(e) => self.finish(job, Event::UpdateFailed { have_data: false }, e.fumo_result()),
        }
    }

    /// Update alone: installs a delivered package, or activates the slot a
    /// Download job installed and verified.
    fn update(&self, job: &Job) -> Result<Step, RunnerError> {
        if let Some(file) = &job.pkg_file {
            return self.update_from_file(job, file);
        }
        let state = self.with_store(|s| Ok(s.state(&job.instance)))?;
        if !matches!(state, FumoState::ReadyToUpdate | FumoState::UpdateFailedHaveData) {
            return self.finish(job, Event::Reset, RESULT_CLIENT_ERROR);
        }
        let status = fotad_updater::install::Records::new(&self.updater.state_dir).status().ok().flatten();
        // The slot must still hold the package this instance downloaded.
        let expected = self.with_store(|s| Ok(s.downloaded(&job.instance).map(|d| d.package.clone())))?;
        let content = match status {
            Some(fotad_updater::install::Status::Installed { version, package, security_version })
                if expected.as_ref().map_or(true, |p| *p == package) =>
            {
                SlotContent::new(version, security_version)
            }
            _ => return self.finish(job, Event::UpdateFailed { have_data: false }, RESULT_CLIENT_ERROR),
        };
        self.advance(job, Event::UpdateStarted, FumoState::UpdateProgressing)?;
        let mut lifecycle = Lifecycle::open(&self.updater)?;
        let target = !lifecycle.booted();
        if lifecycle.activate(target, self.updater.tries, Some(&content)).is_err() {
            return self.finish(job, Event::UpdateFailed { have_data: true }, RESULT_UPDATE_FAILED);
        }
        self.with_store(|s| {
            s.set_downloaded(&job.instance, None)?;
            s.set_phase(job.id, Phase::AwaitingReboot)
        })?;
        Ok(Step::Reboot)
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
            Some(UpdateResult::Updated) => self.finish(job, Event::UpdateSucceeded { have_data: false }, RESULT_OK)?,
            Some(UpdateResult::FellBack) | None => {
                self.finish(job, Event::UpdateFailed { have_data: false }, RESULT_UPDATE_FAILED)?
            }
        };
        lifecycle.take_outcome()?;
        Ok(step)
    }
}
