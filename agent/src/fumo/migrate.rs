//! Reading `fumo.json`, and migrating the store of fotad 0.1: it kept each
//! instance's FUMO state, the jobs' phases (`queued`, `running`,
//! `awaiting-reboot`, `done`), the packages Downloads left and the last
//! results in four separate maps. They become job records that carry their
//! data and per-instance outcomes, from which the same FUMO states follow.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;

use fotad_updater::slot::Slot;
use serde::Deserialize;

use super::result::FumoResult;
use super::state::FumoState;
use super::store::{Data, Ended, Instance, Job, JobState, Operation, Ready, FORMAT};

/// The activation a 0.1 job awaiting its reboot waits for (0.1 did not
/// record it in the job): the target slot and version, from the updater's
/// slot record.
pub type Activation = Option<(Slot, Option<String>)>;

/// Parses `fumo.json`; `true` when it was a 0.1 store (migrated).
pub(super) fn read(bytes: &[u8], activation: impl FnOnce() -> Activation) -> Result<(Data, bool), String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if value.get("format").is_some() {
        let data: Data = serde_json::from_value(value).map_err(|e| e.to_string())?;
        if data.format > FORMAT {
            return Err(format!("format {} is newer than this fotad's ({FORMAT})", data.format));
        }
        return Ok((data, false));
    }
    let old: V1 = serde_json::from_value(value).map_err(|e| format!("not a fotad 0.1 FUMO store either: {e}"))?;
    Ok((old.migrate(&activation()), true))
}

#[derive(Debug, Deserialize)]
struct V1 {
    next_id: u64,
    states: BTreeMap<String, FumoState>,
    jobs: VecDeque<V1Job>,
    #[serde(default)]
    downloaded: BTreeMap<String, Ready>,
    #[serde(default)]
    results: BTreeMap<String, u16>,
}

#[derive(Debug, Deserialize)]
struct V1Job {
    id: u64,
    instance: String,
    operation: Operation,
    pkg_url: Option<String>,
    #[serde(default)]
    pkg_file: Option<PathBuf>,
    correlator: Option<String>,
    server_id: String,
    phase: V1Phase,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "phase", rename_all = "kebab-case")]
enum V1Phase {
    Queued,
    Running,
    AwaitingReboot,
    Done { result: u16 },
}

impl V1 {
    fn migrate(self, activation: &Activation) -> Data {
        let mut instances: BTreeMap<String, Instance> = BTreeMap::new();
        for (uri, state) in &self.states {
            instances.entry(uri.clone()).or_default().ended = ended(*state);
        }
        for (uri, ready) in self.downloaded {
            instances.entry(uri).or_default().ready = Some(ready);
        }
        for (uri, code) in self.results {
            instances.entry(uri).or_default().result = FumoResult::try_from(code).ok();
        }
        let jobs = self.jobs.into_iter().map(|j| j.migrate(activation)).collect();
        Data { format: FORMAT, next_id: self.next_id, jobs, instances }
    }
}

/// How the last job ended, as a 0.1 state says it (a state of a running job
/// says nothing about the last one: the job record tells where it stands).
fn ended(state: FumoState) -> Option<Ended> {
    match state {
        FumoState::DownloadFailed => Some(Ended::DownloadFailed),
        FumoState::DownloadComplete | FumoState::ReadyToUpdate => Some(Ended::Downloaded),
        FumoState::UpdateFailedHaveData | FumoState::UpdateFailedNoData => Some(Ended::UpdateFailed),
        FumoState::UpdateSuccessfulHaveData | FumoState::UpdateSuccessfulNoData => Some(Ended::Updated),
        FumoState::Idle | FumoState::DownloadProgressing | FumoState::UpdateProgressing => None,
    }
}

impl V1Job {
    fn migrate(self, activation: &Activation) -> Job {
        let state = match self.phase {
            V1Phase::Queued => JobState::Queued { url: self.pkg_url, file: self.pkg_file },
            // Started: resumes where its records say (the installer's checkpoint).
            V1Phase::Running => match (self.operation, self.pkg_url, self.pkg_file) {
                (Operation::Download | Operation::DownloadAndUpdate, Some(url), _) => JobState::Downloading { url },
                (Operation::Update, _, Some(file)) => JobState::Installing { file },
                (_, url, file) => JobState::Queued { url, file },
            },
            // 0.1 kept the activation in the updater's slot record only (the
            // boot check after the reboot reads it from there either way).
            V1Phase::AwaitingReboot => {
                let (target, version) = activation.clone().unwrap_or((Slot::B, None));
                JobState::AwaitingBoot { target, version: version.unwrap_or_default() }
            }
            V1Phase::Done { result } => {
                JobState::Done { result: FumoResult::try_from(result).unwrap_or(FumoResult::UpdateFailed) }
            }
        };
        Job {
            id: self.id,
            instance: self.instance,
            operation: self.operation,
            server_id: self.server_id,
            correlator: self.correlator,
            state,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::super::store::FumoStore;
    use super::*;

    // Stores in the layout fotad 0.1's `FumoStore` wrote (`serde_json`
    // pretty-printed, the fields in the order of its structs), with the
    // states and jobs its runs leave at these points.
    /// `fotad --once --check` ordered a DownloadAndUpdate: slot B activated, the
    /// reboot done, the job waits for the outcome.
    const AWAITING_REBOOT: &str = include_str!("fixtures/fumo-0.1-awaiting-reboot.json");
    /// The same, killed at 30 % of the download.
    const RUNNING: &str = include_str!("fixtures/fumo-0.1-running.json");
    /// After the update was confirmed and its 200 queued.
    const UPDATED: &str = include_str!("fixtures/fumo-0.1-updated.json");
    /// A legacy `GetFirmwareUpdate` downloaded its package into slot B.
    const LEGACY_READY: &str = include_str!("fixtures/fumo-0.1-legacy-ready.json");

    const FUMO: &str = "./FUMO/fotad";

    /// Opens `text` as `fumo.json`, as the agent does; the file is written back.
    fn open(text: &str) -> (FumoStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("fumo.json"), text).unwrap();
        let store = FumoStore::open_migrating(dir.path(), || Some((Slot::B, Some("2.0".into())))).unwrap();
        (store, dir)
    }

    fn reopened(dir: &tempfile::TempDir) -> FumoStore {
        let written = std::fs::read_to_string(dir.path().join("fumo.json")).unwrap();
        assert!(written.contains("\"format\": 2"), "not written back in the current format: {written}");
        FumoStore::open_migrating(dir.path(), || panic!("a current store needs no migration")).unwrap()
    }

    #[test]
    fn a_job_awaiting_its_reboot_still_awaits_it() {
        let (store, dir) = open(AWAITING_REBOOT);
        for store in [store, reopened(&dir)] {
            let job = store.current().unwrap();
            assert_eq!(job.state, JobState::AwaitingBoot { target: Slot::B, version: "2.0".into() });
            assert_eq!((job.operation, job.correlator.as_deref()), (Operation::DownloadAndUpdate, Some("c-1")));
            assert_eq!(store.state(FUMO).code(), 60);
        }
    }

    #[test]
    fn a_running_download_resumes_downloading_the_same_url() {
        let (store, dir) = open(RUNNING);
        for store in [store, reopened(&dir)] {
            let job = store.current().unwrap();
            assert!(matches!(&job.state, JobState::Downloading { url } if url.ends_with("/v2-full.fota")), "{job:?}");
            assert_eq!(job.correlator.as_deref(), Some("c-run"));
            assert_eq!(store.state(FUMO).code(), 30);
        }
    }

    #[test]
    fn a_confirmed_update_stays_100_with_its_result() {
        let (store, dir) = open(UPDATED);
        for store in [store, reopened(&dir)] {
            assert!(store.current().is_none());
            assert_eq!(store.state(FUMO).code(), 100);
            assert_eq!(store.result(FUMO), Some(FumoResult::Successful));
        }
    }

    #[test]
    fn a_legacy_download_stays_ready_to_update_with_its_package() {
        let (store, dir) = open(LEGACY_READY);
        for store in [store, reopened(&dir)] {
            assert_eq!(store.state("./FwUpdate/v2").code(), 50);
            let ready = store.ready("./FwUpdate/v2").unwrap();
            assert!(ready.url.ends_with("/v2.fota") && ready.package.len() == 64, "{ready:?}");
            assert_eq!(store.result("./FwUpdate/v2"), Some(FumoResult::Successful));
        }
    }

    #[test]
    fn every_state_an_idle_instance_of_0_1_had_reads_back_the_same() {
        for code in [10u16, 20, 50, 70, 80, 100] {
            let downloaded = match code {
                50 | 70 => r#"{"x": {"url": "http://h/p.fota", "package": "ab"}}"#,
                _ => "{}",
            };
            let text =
                format!(r#"{{"next_id": 3, "states": {{"x": {code}}}, "jobs": [], "downloaded": {downloaded}}}"#);
            let (store, _dir) = open(&text);
            assert_eq!(store.state("x").code(), code, "{text}");
        }
    }

    #[test]
    fn a_store_from_a_newer_fotad_is_refused() {
        assert!(read(br#"{"format": 9, "next_id": 0, "jobs": []}"#, || None).is_err());
        assert!(read(b"{\"jobs\": 1}", || None).is_err(), "neither format");
    }
}
