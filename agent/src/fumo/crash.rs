//! The last line of defence against input that crashes the agent: a FUMO
//! job is persisted before it runs, so a panic in it (the release build
//! aborts) would run it, and crash, on every start forever. The panic hook,
//! which runs before the abort, counts panics per job in
//! `<state_dir>/fumo-panics.json`; the runner ends a job that panicked
//! [`super::runner::MAX_PANICS`] times with a failure report instead of
//! running it again. A kill -9 or a power cut is not a panic: those jobs
//! resume as always.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::state_file;

const FILE: &str = "fumo-panics.json";

/// The job running now, for the panic hook: (state directory, job id).
static RUNNING: Mutex<Option<(PathBuf, u64)>> = Mutex::new(None);

/// Panics recorded for one job.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Panics {
    job: u64,
    count: u32,
    /// The last panic's message and place, for the log.
    last: String,
}

/// Installs the panic hook that counts panics against the running job (the
/// `fotad` binary does this once at start); the previous hook still prints.
pub fn install_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        record(&info.to_string());
        previous(info);
    }));
}

/// While it lives, a panic counts against job `id`.
#[derive(Debug)]
pub struct Running(());

impl Running {
    pub fn start(state_dir: &Path, id: u64) -> Running {
        *fotad_updater::sync::lock(&RUNNING) = Some((state_dir.to_path_buf(), id));
        Running(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        *fotad_updater::sync::lock(&RUNNING) = None;
    }
}

/// Counts a panic against the running job, if any. Called from the panic
/// hook: never blocks, never panics.
fn record(message: &str) {
    let running = match RUNNING.try_lock() {
        Ok(guard) => guard,
        Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) => return,
    };
    let Some((dir, id)) = running.clone() else { return };
    drop(running);
    let mut panics = load(&dir).filter(|p| p.job == id).unwrap_or(Panics { job: id, ..Panics::default() });
    panics.count += 1;
    panics.last = message.chars().take(500).collect();
    if let Ok(bytes) = serde_json::to_vec(&panics) {
        let _ = state_file::write_atomic(&dir.join(FILE), &bytes);
    }
}

fn load(dir: &Path) -> Option<Panics> {
    let bytes = state_file::read_optional(&dir.join(FILE)).ok()??;
    serde_json::from_slice(&bytes).ok()
}

/// How often job `id` made the agent panic.
pub fn panics(state_dir: &Path, id: u64) -> u32 {
    load(state_dir).filter(|p| p.job == id).map_or(0, |p| {
        tracing::warn!(job = id, "the FUMO job made the agent panic before: {}", p.last);
        p.count
    })
}

/// Forgets the panics of job `id` (it ended).
pub fn forget(state_dir: &Path, id: u64) {
    if load(state_dir).is_some_and(|p| p.job == id) {
        let _ = std::fs::remove_file(state_dir.join(FILE));
    }
}

/// Test builds only: panics at the named point when `FOTAD_FAILPOINT` names
/// it, so that the tests can show what a crash in a job leads to. Release
/// builds carry no failpoint.
pub fn failpoint(name: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("FOTAD_FAILPOINT").is_ok_and(|v| v == name) {
        panic!("failpoint {name}");
    }
    #[cfg(not(debug_assertions))]
    let _ = name;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn panics_count_against_the_running_job_only() {
        let dir = tempfile::tempdir().unwrap();
        record("no job runs: not counted");
        assert_eq!(panics(dir.path(), 7), 0);
        {
            let _running = Running::start(dir.path(), 7);
            record("first");
            record("second");
        }
        record("after the job: not counted");
        assert_eq!(panics(dir.path(), 7), 2);
        assert_eq!(panics(dir.path(), 8), 0, "another job");
        forget(dir.path(), 8);
        assert_eq!(panics(dir.path(), 7), 2, "forgetting another job keeps this one's");
        forget(dir.path(), 7);
        assert_eq!(panics(dir.path(), 7), 0);
    }
}
