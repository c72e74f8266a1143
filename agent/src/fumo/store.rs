//! The FUMO job records and the instances' outcomes, persisted in
//! `<state_dir>/fumo.json` (replaced atomically), so that a job accepted with
//! 202 runs, and is reported, exactly once across restarts and reboots.
//!
//! A job record carries what its next step needs ([`JobState`]); an instance
//! keeps how its last job ended and the package a Download left in the slot
//! ([`Instance`]). The FUMO State node of an instance (10–100) is computed
//! from these ([`FumoStore::state`]), never stored beside them. A store
//! written by fotad 0.1 (states, phases and results kept apart) is migrated
//! when it is opened (`migrate.rs`).

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use fotad_updater::slot::Slot;
use serde::{Deserialize, Serialize};

use super::migrate::{self, Activation};
use super::result::FumoResult;
use super::state::FumoState;
use crate::dm::session::{AlertQueue, QueuedAlert};
use crate::state_file::{self, StateError};

/// The three executable FUMO nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operation {
    Download,
    Update,
    DownloadAndUpdate,
}

impl Operation {
    /// The node name under the instance (`./FUMO/x/<name>`).
    pub fn node(self) -> &'static str {
        match self {
            Operation::Download => "Download",
            Operation::Update => "Update",
            Operation::DownloadAndUpdate => "DownloadAndUpdate",
        }
    }

    pub fn from_node(name: &str) -> Option<Operation> {
        [Operation::Download, Operation::Update, Operation::DownloadAndUpdate].into_iter().find(|o| o.node() == name)
    }

    /// Meta Type of the Generic Alert reporting this operation's result.
    pub fn alert_type(self) -> &'static str {
        match self {
            Operation::Download => "org.openmobilealliance.dm.firmwareupdate.download",
            Operation::Update => "org.openmobilealliance.dm.firmwareupdate.update",
            Operation::DownloadAndUpdate => "org.openmobilealliance.dm.firmwareupdate.downloadandupdate",
        }
    }
}

/// Where a job stands, with what its next step needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum JobState {
    /// Accepted with 202, not started: the package URL (Download,
    /// DownloadAndUpdate) or the package the server delivered in
    /// `Update/PkgData` (Update), as they were when the Exec ran.
    Queued {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file: Option<PathBuf>,
    },
    /// Fetching `url` and streaming it into the inactive slot; a restart
    /// resumes from the installer's checkpoint.
    Downloading { url: String },
    /// Installing the delivered package `file` into the inactive slot.
    Installing { file: PathBuf },
    /// Activated: slot `target` boots `version` for trial; the result is
    /// known after the reboot (mark-good, or the bootloader's fallback).
    AwaitingBoot { target: Slot, version: String },
    /// Ended with `result`; its report is being queued.
    Done { result: FumoResult },
}

/// A step a job in its state cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a FUMO job in state {from} cannot {step}")]
pub struct IllegalStep {
    pub from: &'static str,
    pub step: &'static str,
}

impl JobState {
    /// The state's name, as in `fumo.json`.
    pub fn name(&self) -> &'static str {
        match self {
            JobState::Queued { .. } => "queued",
            JobState::Downloading { .. } => "downloading",
            JobState::Installing { .. } => "installing",
            JobState::AwaitingBoot { .. } => "awaiting-boot",
            JobState::Done { .. } => "done",
        }
    }

    fn refuse(&self, step: &'static str) -> IllegalStep {
        IllegalStep { from: self.name(), step }
    }

    /// Starts (or resumes) downloading the job's URL.
    pub fn start_download(&self) -> Result<JobState, IllegalStep> {
        match self {
            JobState::Queued { url: Some(url), .. } | JobState::Downloading { url } => {
                Ok(JobState::Downloading { url: url.clone() })
            }
            _ => Err(self.refuse("start a download")),
        }
    }

    /// Starts (or resumes) installing the delivered package.
    pub fn start_install(&self) -> Result<JobState, IllegalStep> {
        match self {
            JobState::Queued { file: Some(file), .. } | JobState::Installing { file } => {
                Ok(JobState::Installing { file: file.clone() })
            }
            _ => Err(self.refuse("start an install")),
        }
    }

    /// The slot `target` was activated with `version`.
    pub fn activated(&self, target: Slot, version: &str) -> Result<JobState, IllegalStep> {
        match self {
            JobState::Queued { .. } | JobState::Downloading { .. } | JobState::Installing { .. } => {
                Ok(JobState::AwaitingBoot { target, version: version.to_string() })
            }
            _ => Err(self.refuse("activate a slot")),
        }
    }
}

/// An Exec accepted with 202.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub id: u64,
    /// Instance URI, e.g. `./FUMO/fotad`.
    pub instance: String,
    pub operation: Operation,
    /// The server that ordered it (gets the report).
    pub server_id: String,
    /// The Exec's Correlator, echoed in the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlator: Option<String>,
    #[serde(flatten)]
    pub state: JobState,
}

impl Job {
    /// A job for a command the server sent, before the queue numbers it.
    pub fn accepted(instance: &str, operation: Operation, server_id: &str, correlator: Option<&str>) -> Job {
        Job {
            id: 0,
            instance: instance.to_string(),
            operation,
            server_id: server_id.to_string(),
            correlator: correlator.map(str::to_string),
            state: JobState::Queued { url: None, file: None },
        }
    }

    /// With the package URL of the Exec's moment.
    pub fn with_url(mut self, url: Option<String>) -> Job {
        if let JobState::Queued { url: u, .. } = &mut self.state {
            *u = url;
        }
        self
    }

    /// With the package the server delivered in `Update/PkgData`.
    pub fn with_file(mut self, file: Option<PathBuf>) -> Job {
        if let JobState::Queued { file: f, .. } = &mut self.state {
            *f = file;
        }
        self
    }

    /// The package URL the job downloads, if it downloads.
    pub fn url(&self) -> Option<&str> {
        match &self.state {
            JobState::Queued { url, .. } => url.as_deref(),
            JobState::Downloading { url } => Some(url),
            _ => None,
        }
    }

    /// The delivered package the job installs, if any.
    pub fn file(&self) -> Option<&Path> {
        match &self.state {
            JobState::Queued { file, .. } => file.as_deref(),
            JobState::Installing { file } => Some(file),
            _ => None,
        }
    }
}

/// How the last job of an instance ended: what its FUMO state is while no
/// job of it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ended {
    /// The download failed (20).
    DownloadFailed,
    /// A Download completed: the slot holds the package (50 while it does).
    Downloaded,
    /// The new slot booted and was confirmed (100).
    Updated,
    /// The update failed (80; 70 while the package is still there to retry).
    UpdateFailed,
}

/// The package a Download left, verified, in the inactive slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ready {
    pub url: String,
    /// SHA-256 of the package's manifest: which package the installer's
    /// record must name for the slot to still hold it.
    pub package: String,
}

/// What an instance keeps between its jobs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// Result of the last finished job or legacy command (a legacy package
    /// node's value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<FumoResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<Ended>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<Ready>,
}

impl Instance {
    /// The FUMO state while no job of the instance runs.
    fn idle_state(&self) -> FumoState {
        match (self.ended, self.ready.is_some()) {
            (None, _) | (Some(Ended::Downloaded), false) => FumoState::Idle,
            (Some(Ended::DownloadFailed), _) => FumoState::DownloadFailed,
            (Some(Ended::Downloaded), true) => FumoState::ReadyToUpdate,
            (Some(Ended::Updated), _) => FumoState::UpdateSuccessfulNoData,
            (Some(Ended::UpdateFailed), true) => FumoState::UpdateFailedHaveData,
            (Some(Ended::UpdateFailed), false) => FumoState::UpdateFailedNoData,
        }
    }
}

/// The format version of `fumo.json` written now.
pub(super) const FORMAT: u32 = 2;

#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Data {
    pub format: u32,
    pub next_id: u64,
    pub jobs: VecDeque<Job>,
    #[serde(default)]
    pub instances: BTreeMap<String, Instance>,
}

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Step(#[from] IllegalStep),
    #[error("FUMO state file {path} is corrupt: {why}; remove it to start over")]
    Corrupt { path: PathBuf, why: String },
    #[error("no FUMO job {0}")]
    NoJob(u64),
}

/// The persisted FUMO jobs and instances.
#[derive(Debug)]
pub struct FumoStore {
    path: Option<PathBuf>,
    data: Data,
}

impl FumoStore {
    /// Opens (or starts) the store in `state_dir`.
    pub fn open(state_dir: &Path) -> Result<FumoStore, StoreError> {
        FumoStore::open_migrating(state_dir, || None)
    }

    /// Opens the store; a store of fotad 0.1 is migrated (and written back in
    /// the current format), its job awaiting a reboot with the activation
    /// `activation` gives (the updater's pending one; slot B when unknown).
    pub fn open_migrating(state_dir: &Path, activation: impl FnOnce() -> Activation) -> Result<FumoStore, StoreError> {
        let path = state_dir.join("fumo.json");
        let corrupt = |why: String| StoreError::Corrupt { path: path.clone(), why };
        let (data, migrated) = match state_file::read_optional(&path)? {
            Some(bytes) => migrate::read(&bytes, activation).map_err(corrupt)?,
            None => (Data { format: FORMAT, ..Data::default() }, false),
        };
        let store = FumoStore { path: Some(path), data };
        if migrated {
            tracing::info!("FUMO store of fotad 0.1 migrated to format {FORMAT}");
            store.save()?;
        }
        Ok(store)
    }

    /// A store that is not persisted (tests).
    pub fn in_memory() -> FumoStore {
        FumoStore { path: None, data: Data { format: FORMAT, ..Data::default() } }
    }

    fn save(&self) -> Result<(), StoreError> {
        if let Some(path) = &self.path {
            let bytes = serde_json::to_vec_pretty(&self.data).unwrap_or_default();
            state_file::write_atomic(path, &bytes)?;
        }
        Ok(())
    }

    /// Where staged packages go (beside `fumo.json`); `None` when not persisted.
    pub fn staging_dir(&self) -> Option<&Path> {
        self.path.as_deref().and_then(Path::parent)
    }

    /// The id the next queued job gets.
    pub fn next_job_id(&self) -> u64 {
        self.data.next_id + 1
    }

    fn instance(&self, uri: &str) -> Option<&Instance> {
        self.data.instances.get(uri)
    }

    fn instance_mut(&mut self, uri: &str) -> &mut Instance {
        self.data.instances.entry(uri.to_string()).or_default()
    }

    /// The FUMO state of `instance`, from its running job, else from how its
    /// last job ended.
    pub fn state(&self, instance: &str) -> FumoState {
        let running =
            self.data.jobs.iter().find(|j| j.instance == instance && !matches!(j.state, JobState::Queued { .. }));
        match running.map(|j| &j.state) {
            Some(JobState::Downloading { .. }) => FumoState::DownloadProgressing,
            Some(JobState::Installing { .. } | JobState::AwaitingBoot { .. }) => FumoState::UpdateProgressing,
            _ => self.instance(instance).map_or(FumoState::Idle, Instance::idle_state),
        }
    }

    /// The package the last Download of `instance` left in the inactive slot.
    pub fn ready(&self, instance: &str) -> Option<&Ready> {
        self.instance(instance).and_then(|i| i.ready.as_ref())
    }

    /// Records (or, with `None`, forgets) what the inactive slot holds for
    /// `instance`; any other instance's record is dropped, as the slot holds
    /// one package.
    pub fn set_ready(&mut self, instance: &str, ready: Option<Ready>) -> Result<(), StoreError> {
        if ready.is_some() {
            self.data.instances.values_mut().for_each(|i| i.ready = None);
        }
        self.instance_mut(instance).ready = ready;
        self.save()
    }

    /// Result of the last finished job (or legacy command) of `instance`.
    pub fn result(&self, instance: &str) -> Option<FumoResult> {
        self.instance(instance).and_then(|i| i.result)
    }

    /// Records the result of a legacy command on `instance` (its node's value).
    pub fn set_result(&mut self, instance: &str, result: FumoResult) -> Result<(), StoreError> {
        self.instance_mut(instance).result = Some(result);
        self.save()
    }

    /// Returns `instance` to Idle (the server closed its update, or the
    /// package it held did not verify); its result stays readable.
    pub fn reset(&mut self, instance: &str) -> Result<(), StoreError> {
        let i = self.instance_mut(instance);
        i.ended = None;
        i.ready = None;
        self.save()
    }

    /// Queues an accepted Exec; returns its job id.
    pub fn enqueue(&mut self, mut job: Job) -> Result<u64, StoreError> {
        self.data.next_id += 1;
        job.id = self.data.next_id;
        self.data.jobs.push_back(job);
        self.save()?;
        Ok(self.data.next_id)
    }

    /// The job to work on next (the oldest), if any.
    pub fn current(&self) -> Option<&Job> {
        self.data.jobs.front()
    }

    pub fn jobs(&self) -> impl Iterator<Item = &Job> {
        self.data.jobs.iter()
    }

    fn job_mut(&mut self, id: u64) -> Result<&mut Job, StoreError> {
        self.data.jobs.iter_mut().find(|j| j.id == id).ok_or(StoreError::NoJob(id))
    }

    /// Moves job `id` to `state` (computed by one of [`JobState`]'s steps).
    pub fn set_state(&mut self, id: u64, state: JobState) -> Result<(), StoreError> {
        self.job_mut(id)?.state = state;
        self.save()
    }

    /// Ends job `id` with `result`: records how its instance ended (`ended`;
    /// `None` leaves the instance as it was: the job was refused before it
    /// began) and the result, queues its Generic Alert (unless a crash after
    /// queueing it already did), and drops the job. Also the way to finish a
    /// job found `Done` after a restart.
    pub fn finish(
        &mut self,
        id: u64,
        ended: Option<Ended>,
        result: FumoResult,
        alerts: &AlertQueue,
    ) -> Result<(), StoreError> {
        let job = self.job_mut(id)?;
        job.state = JobState::Done { result };
        let job = job.clone();
        let instance = self.instance_mut(&job.instance);
        instance.result = Some(result);
        if ended.is_some() {
            instance.ended = ended;
        }
        if matches!(ended, Some(Ended::Updated | Ended::DownloadFailed)) {
            instance.ready = None;
        }
        self.save()?;
        let mut alert = QueuedAlert::generic(
            &job.instance,
            job.operation.alert_type(),
            result.code(),
            job.correlator.as_deref(),
            !result.is_success(),
        );
        alert.server_id = Some(job.server_id.clone());
        let queued = alerts.pending(&job.server_id).iter().any(|a| same_report(a, &alert));
        if !queued {
            alerts.push(alert)?;
        }
        self.data.jobs.retain(|j| j.id != id);
        self.save()
    }
}

fn same_report(a: &QueuedAlert, b: &QueuedAlert) -> bool {
    (&a.source, &a.type_, &a.data, &a.correlator) == (&b.source, &b.type_, &b.data, &b.correlator)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const FUMO: &str = "./FUMO/fotad";

    fn job(url: &str) -> Job {
        Job::accepted(FUMO, Operation::DownloadAndUpdate, "srv", Some("c-1")).with_url(Some(url.into()))
    }

    #[test]
    fn jobs_and_their_states_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FumoStore::open(dir.path()).unwrap();
        let a = store.enqueue(job("http://h/a.fota")).unwrap();
        store.enqueue(job("http://h/b.fota")).unwrap();
        let next = store.current().unwrap().state.start_download().unwrap();
        store.set_state(a, next).unwrap();
        let store = FumoStore::open(dir.path()).unwrap();
        assert_eq!(store.state(FUMO), FumoState::DownloadProgressing);
        let urls: Vec<_> = store.jobs().map(|j| j.url().unwrap().to_string()).collect();
        assert_eq!(urls, ["http://h/a.fota", "http://h/b.fota"]);
    }

    #[test]
    fn the_fumo_state_follows_the_running_job_and_how_the_last_one_ended() {
        let alerts = AlertQueue::in_memory();
        let mut store = FumoStore::in_memory();
        assert_eq!(store.state(FUMO), FumoState::Idle);
        let id = store.enqueue(job("u")).unwrap();
        assert_eq!(store.state(FUMO), FumoState::Idle, "queued, not started");
        let downloading = store.current().unwrap().state.start_download().unwrap();
        store.set_state(id, downloading.clone()).unwrap();
        assert_eq!(store.state(FUMO).code(), 30);
        store.set_state(id, downloading.activated(Slot::B, "2.0").unwrap()).unwrap();
        assert_eq!(store.state(FUMO).code(), 60);
        store.finish(id, Some(Ended::Updated), FumoResult::Successful, &alerts).unwrap();
        assert_eq!(store.state(FUMO).code(), 100);
        let d = store.enqueue(Job { operation: Operation::Download, ..job("u") }).unwrap();
        store.set_ready(FUMO, Some(Ready { url: "u".into(), package: "p".into() })).unwrap();
        store.finish(d, Some(Ended::Downloaded), FumoResult::Successful, &alerts).unwrap();
        assert_eq!(store.state(FUMO).code(), 50);
        let u = store.enqueue(Job { operation: Operation::Update, ..job("u") }).unwrap();
        store.finish(u, Some(Ended::UpdateFailed), FumoResult::UpdateFailed, &alerts).unwrap();
        assert_eq!(store.state(FUMO).code(), 70, "the package is still in the slot");
        store.set_ready(FUMO, None).unwrap();
        assert_eq!(store.state(FUMO).code(), 80);
        let f = store.enqueue(job("u")).unwrap();
        store.finish(f, Some(Ended::DownloadFailed), FumoResult::MalformedUrl, &alerts).unwrap();
        assert_eq!(store.state(FUMO).code(), 20);
        let r = store.enqueue(job("u")).unwrap();
        store.finish(r, None, FumoResult::ClientError, &alerts).unwrap();
        assert_eq!(store.state(FUMO).code(), 20, "a job refused before it began changes no state");
        store.reset(FUMO).unwrap();
        assert_eq!(store.state(FUMO), FumoState::Idle);
        assert_eq!(store.result(FUMO), Some(FumoResult::ClientError));
    }

    #[test]
    fn steps_a_job_cannot_take_are_refused() {
        let queued = job("u").state;
        assert!(queued.start_install().is_err(), "no package file");
        let update = Job::accepted(FUMO, Operation::Update, "srv", None).state;
        assert!(update.start_download().is_err(), "no URL");
        let done = JobState::Done { result: FumoResult::Successful };
        let e = done.activated(Slot::B, "2").unwrap_err();
        assert_eq!(e.to_string(), "a FUMO job in state done cannot activate a slot");
    }

    #[test]
    fn a_report_is_queued_once_even_when_repeated_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let alerts = AlertQueue::open(dir.path()).unwrap();
        let mut store = FumoStore::open(dir.path()).unwrap();
        let id = store.enqueue(job("http://h/a.fota")).unwrap();
        // A crash after the alert was queued but before the job was dropped:
        // simulate it by queueing the same report, then finishing again.
        let mut first = QueuedAlert::generic(FUMO, Operation::DownloadAndUpdate.alert_type(), 410, Some("c-1"), true);
        first.server_id = Some("srv".into());
        alerts.push(first).unwrap();
        store.finish(id, Some(Ended::UpdateFailed), FumoResult::UpdateFailed, &alerts).unwrap();
        let pending = alerts.pending("srv");
        assert_eq!(pending.len(), 1, "{pending:?}");
        assert_eq!(pending[0].mark.as_deref(), Some("critical"));
        assert!(store.current().is_none());
    }

    #[test]
    fn a_successful_report_is_not_critical_and_names_the_operation() {
        let alerts = AlertQueue::in_memory();
        let mut store = FumoStore::in_memory();
        let id = store.enqueue(Job { operation: Operation::Download, ..job("u") }).unwrap();
        store.finish(id, Some(Ended::Downloaded), FumoResult::Successful, &alerts).unwrap();
        let a = &alerts.pending("srv")[0];
        assert_eq!((a.code, a.data.as_str(), a.mark.as_deref()), (1226, "200", None));
        assert_eq!(a.type_, "org.openmobilealliance.dm.firmwareupdate.download");
        assert_eq!(a.correlator.as_deref(), Some("c-1"));
    }
}
