//! The updater's small slot record in the state directory (`slots.json`): the
//! version and security version each slot holds, the anti-rollback floor (the
//! highest security version ever confirmed), the activation waiting for its
//! boot, and the outcome of the last update for the agent to report. Replaced
//! atomically.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::atomic_file;
use crate::boot::{BootState, SlotState};
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

/// What an activated slot holds, from its package's verified manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotContent {
    pub version: String,
    pub security_version: u64,
}

impl SlotContent {
    pub fn new(version: impl Into<String>, security_version: u64) -> SlotContent {
        SlotContent { version: version.into(), security_version }
    }
}

/// The whole record.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SlotRecord {
    #[serde(default)]
    pub versions: BTreeMap<Slot, String>,
    /// The security version of the package each slot holds: set when the slot
    /// is activated, removed only when the slot is marked bad to be written.
    #[serde(default)]
    pub security_versions: BTreeMap<Slot, u64>,
    /// The highest security version ever confirmed (see [`SlotRecord::floor`]);
    /// only ever raised.
    #[serde(default)]
    pub security_floor: u64,
    #[serde(default)]
    pub pending: Option<Pending>,
    #[serde(default)]
    pub outcome: Option<Outcome>,
}

impl SlotRecord {
    /// The anti-rollback floor with the bootloader in `boot`: the recorded
    /// floor, or the security version of a slot the bootloader holds confirmed
    /// (good), whichever is higher. Packages below it are refused.
    pub fn floor(&self, boot: &BootState) -> u64 {
        Slot::ALL
            .into_iter()
            .filter(|s| boot.get(*s) == SlotState::Good)
            .filter_map(|s| self.security_versions.get(&s).copied())
            .fold(self.security_floor, u64::max)
    }

    /// Raises the recorded floor to [`SlotRecord::floor`]; true when it rose.
    /// Done before every write that could end a slot's confirmation, so the
    /// floor never depends on a slot staying good.
    pub fn fold_confirmed(&mut self, boot: &BootState) -> bool {
        let floor = self.floor(boot);
        let rose = floor > self.security_floor;
        self.security_floor = floor;
        rose
    }
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
