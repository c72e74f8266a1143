//! FUMO instance states and the queue of accepted jobs, persisted in
//! `<state_dir>/fumo.json` (replaced atomically) so that a job accepted with
//! 202 runs, and is reported, exactly once across restarts and reboots.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::state::{Event, FumoState, IllegalTransition};
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

/// Where a job stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "kebab-case")]
pub enum Phase {
    Queued,
    Running,
    /// Activated; the result is known only after the reboot.
    AwaitingReboot,
    /// Finished with a FUMO result code; the report is being queued.
    Done {
        result: u16,
    },
}

/// An Exec accepted with 202.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub id: u64,
    /// Instance URI, e.g. `./FUMO/fotad`.
    pub instance: String,
    pub operation: Operation,
    /// PkgURL as it was when the Exec ran (Download, DownloadAndUpdate).
    pub pkg_url: Option<String>,
    /// For Update: the package delivered in `Update/PkgData` (a large object
    /// the session stored as a file), if the server sent one.
    #[serde(default)]
    pub pkg_file: Option<PathBuf>,
    pub correlator: Option<String>,
    pub server_id: String,
    pub phase: Phase,
}

/// The package a Download job of an instance left in the inactive slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Downloaded {
    pub url: String,
    /// SHA-256 of the package's manifest: which package the slot holds.
    pub package: String,
}

impl Job {
    /// A job for a command the server sent, before the queue numbers it.
    pub fn accepted(instance: &str, operation: Operation, server_id: &str, correlator: Option<&str>) -> Job {
        Job {
            id: 0,
            instance: instance.to_string(),
            operation,
            pkg_url: None,
            pkg_file: None,
            correlator: correlator.map(str::to_string),
            server_id: server_id.to_string(),
            phase: Phase::Queued,
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Data {
    next_id: u64,
    states: BTreeMap<String, FumoState>,
    jobs: VecDeque<Job>,
    /// Instance → the package its last Download left in the inactive slot.
    #[serde(default)]
    downloaded: BTreeMap<String, Downloaded>,
    /// Instance → result code of its last finished job or legacy check.
    #[serde(default)]
    results: BTreeMap<String, u16>,
}

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Transition(#[from] IllegalTransition),
    #[error("FUMO state file {path} is corrupt: {why}; remove it to start over")]
    Corrupt { path: PathBuf, why: String },
    #[error("no FUMO job {0}")]
    NoJob(u64),
}

/// The persisted FUMO state of every instance and the job queue.
#[derive(Debug)]
pub struct FumoStore {
    path: Option<PathBuf>,
    data: Data,
}

impl FumoStore {
    /// Opens (or starts) the store in `state_dir`.
    pub fn open(state_dir: &Path) -> Result<FumoStore, StoreError> {
        let path = state_dir.join("fumo.json");
        let data = match state_file::read_optional(&path)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| StoreError::Corrupt { path: path.clone(), why: e.to_string() })?,
            None => Data::default(),
        };
        Ok(FumoStore { path: Some(path), data })
    }

    /// A store that is not persisted (tests).
    pub fn in_memory() -> FumoStore {
        FumoStore { path: None, data: Data::default() }
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

    pub fn state(&self, instance: &str) -> FumoState {
        self.data.states.get(instance).copied().unwrap_or(FumoState::Idle)
    }

    /// Applies `event` to `instance` and persists the new state.
    pub fn transition(&mut self, instance: &str, event: Event) -> Result<FumoState, StoreError> {
        let next = self.state(instance).apply(event)?;
        self.data.states.insert(instance.to_string(), next);
        self.save()?;
        Ok(next)
    }

    /// The package the last Download of `instance` left in the inactive slot.
    pub fn downloaded(&self, instance: &str) -> Option<&Downloaded> {
        self.data.downloaded.get(instance)
    }

    /// Records (or, with `None`, forgets) what the inactive slot holds for
    /// `instance`; any other instance's record is dropped, as the slot holds
    /// one package.
    pub fn set_downloaded(&mut self, instance: &str, d: Option<Downloaded>) -> Result<(), StoreError> {
        match d {
            Some(d) => {
                self.data.downloaded.clear();
                self.data.downloaded.insert(instance.to_string(), d);
            }
            None => {
                self.data.downloaded.remove(instance);
            }
        }
        self.save()
    }

    /// Result code of the last finished job (or legacy check) of `instance`.
    pub fn result(&self, instance: &str) -> Option<u16> {
        self.data.results.get(instance).copied()
    }

    pub fn set_result(&mut self, instance: &str, result: u16) -> Result<(), StoreError> {
        self.data.results.insert(instance.to_string(), result);
        self.save()
    }

    /// Queues an accepted Exec; returns its job id.
    pub fn enqueue(&mut self, mut job: Job) -> Result<u64, StoreError> {
        self.data.next_id += 1;
        job.id = self.data.next_id;
        job.phase = Phase::Queued;
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

    pub fn set_phase(&mut self, id: u64, phase: Phase) -> Result<(), StoreError> {
        let job = self.data.jobs.iter_mut().find(|j| j.id == id).ok_or(StoreError::NoJob(id))?;
        job.phase = phase;
        self.save()
    }

    /// Ends job `id` with `result`: records the result, queues its Generic
    /// Alert (unless a crash after queueing it already did), drops the job.
    pub fn report(&mut self, id: u64, result: u16, alerts: &AlertQueue) -> Result<(), StoreError> {
        self.set_phase(id, Phase::Done { result })?;
        let job = self.data.jobs.iter().find(|j| j.id == id).cloned().ok_or(StoreError::NoJob(id))?;
        self.data.results.insert(job.instance.clone(), result);
        let mut alert = QueuedAlert::generic(
            &job.instance,
            job.operation.alert_type(),
            result,
            job.correlator.as_deref(),
            !(200..300).contains(&result),
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

    fn job(url: &str) -> Job {
        Job {
            id: 0,
            instance: "./FUMO/fotad".into(),
            operation: Operation::DownloadAndUpdate,
            pkg_url: Some(url.into()),
            pkg_file: None,
            correlator: Some("c-1".into()),
            server_id: "srv".into(),
            phase: Phase::Queued,
        }
    }

    #[test]
    fn jobs_and_states_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FumoStore::open(dir.path()).unwrap();
        store.enqueue(job("http://h/a.fota")).unwrap();
        store.enqueue(job("http://h/b.fota")).unwrap();
        store.transition("./FUMO/fotad", Event::DownloadStarted).unwrap();
        let store = FumoStore::open(dir.path()).unwrap();
        assert_eq!(store.state("./FUMO/fotad"), FumoState::DownloadProgressing);
        let urls: Vec<_> = store.jobs().map(|j| j.pkg_url.clone().unwrap()).collect();
        assert_eq!(urls, ["http://h/a.fota", "http://h/b.fota"]);
    }

    #[test]
    fn a_report_is_queued_once_even_when_repeated_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let alerts = AlertQueue::open(dir.path()).unwrap();
        let mut store = FumoStore::open(dir.path()).unwrap();
        let id = store.enqueue(job("http://h/a.fota")).unwrap();
        // A crash after the alert was queued but before the job was dropped:
        // simulate it by queueing the same report, then reporting again.
        let mut first =
            QueuedAlert::generic("./FUMO/fotad", Operation::DownloadAndUpdate.alert_type(), 410, Some("c-1"), true);
        first.server_id = Some("srv".into());
        alerts.push(first).unwrap();
        store.report(id, 410, &alerts).unwrap();
        let pending = alerts.pending("srv");
        assert_eq!(pending.len(), 1, "{pending:?}");
        assert_eq!(pending[0].mark.as_deref(), Some("critical"));
        assert!(store.current().is_none());
    }

    #[test]
    fn a_successful_report_is_not_critical_and_names_the_operation() {
        let alerts = AlertQueue::in_memory();
        let mut store = FumoStore::in_memory();
        let mut j = job("u");
        j.operation = Operation::Download;
        let id = store.enqueue(j).unwrap();
        store.report(id, 200, &alerts).unwrap();
        let a = &alerts.pending("srv")[0];
        assert_eq!((a.code, a.data.as_str(), a.mark.as_deref()), (1226, "200", None));
        assert_eq!(a.type_, "org.openmobilealliance.dm.firmwareupdate.download");
        assert_eq!(a.correlator.as_deref(), Some("c-1"));
    }
}
