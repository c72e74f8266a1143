//! The updater's small slot record in the state directory (`slots.json`): the
//! version each slot holds, the activation waiting for its boot, and the outcome of
//! the last update for the agent to report. Replaced atomically.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::atomic_file;
use crate::slot::Slot;

/// File name of the record inside the state directory.
pub const FILE_NAME: &str = "slots.json";

/// An activation that has not been judged yet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pending {
    /// The slot that was activated.
    pub target: Slot,
    /// The slot that was running when it was activated.
    pub from: Slot,
    pub version: Option<String>,
}

/// How an update ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateResult {
    /// The new slot booted and was marked good.
    Updated,
    /// The old slot is running again and the new slot is no longer bootable: the
    /// bootloader fell back (or the activation never reached the bootloader).
    FellBack,
}

/// The outcome of the last update, kept until the agent has reported it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    pub result: UpdateResult,
    pub target: Slot,
    pub booted: Slot,
    pub version: Option<String>,
}

/// The whole record.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SlotRecord {
    #[serde(default)]
    pub versions: BTreeMap<Slot, String>,
    #[serde(default)]
    pub pending: Option<Pending>,
    #[serde(default)]
    pub outcome: Option<Outcome>,
}

/// The record file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot access the slot record {path}: {source}; check the state directory")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("slot record {path} is corrupt: {source}; move it away to start afresh")]
    Corrupt { path: PathBuf, source: serde_json::Error },
}

/// The record's path in `state_dir`.
pub fn path_in(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE_NAME)
}

/// Reads the record; a missing file is an empty record.
pub fn load(path: &Path) -> Result<SlotRecord, RecordError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map_err(|source| RecordError::Corrupt { path: path.into(), source })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SlotRecord::default()),
        Err(source) => Err(RecordError::Io { path: path.into(), source }),
    }
}

/// Replaces the record atomically, creating the state directory when missing.
pub fn store(path: &Path, record: &SlotRecord) -> Result<(), RecordError> {
    let io = |source| RecordError::Io { path: path.into(), source };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut bytes =
        serde_json::to_vec_pretty(record).map_err(|source| RecordError::Corrupt { path: path.into(), source })?;
    bytes.push(b'\n');
    atomic_file::replace(path, &bytes).map_err(io)
}
