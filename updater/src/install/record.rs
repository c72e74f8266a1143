//! What the installer keeps in its state directory: the checkpoint (next
//! operation and package offset), the verified header for resuming, and the
//! install status of the target (writing, installed or failed).

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::atomic_file;
use crate::error::InstallError;

/// Where the stream stands: everything before `next_offset` is written and synced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// SHA-256 of the manifest bytes: identifies the package.
    pub package: String,
    pub version: String,
    /// Index (over all images) of the next operation to run.
    pub next_op: usize,
    /// Package byte offset of the next operation's data.
    pub next_offset: u64,
    pub package_size: u64,
}

/// The target's install status. Anything but `Installed` means the target
/// does not hold a usable image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum Status {
    Writing { package: String, version: String },
    Installed { package: String, version: String, security_version: u64 },
    Failed { package: String, version: String, result: u16, error: String },
}

/// The installer's files under `<state_dir>/install/`.
#[derive(Debug, Clone)]
pub struct Records {
    dir: PathBuf,
}

impl Records {
    pub fn new(state_dir: &Path) -> Self {
        Records { dir: state_dir.join("install") }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn io(&self, what: &'static str, name: &str) -> impl FnOnce(std::io::Error) -> InstallError {
        let path = self.path(name);
        move |source| InstallError::Io { what, path, source }
    }

    fn write(&self, name: &str, data: &[u8]) -> Result<(), InstallError> {
        if !self.dir.is_dir() {
            fs::create_dir_all(&self.dir).map_err(self.io("creating state directory", ""))?;
        }
        atomic_file::replace(&self.path(name), data).map_err(self.io("writing", name))
    }

    fn read_json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<Option<T>, InstallError> {
        match fs::read(self.path(name)) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io("reading", name)(e)),
        }
    }

    pub fn checkpoint(&self) -> Result<Option<Checkpoint>, InstallError> {
        self.read_json("checkpoint.json")
    }

    /// Replaces the checkpoint atomically; `durable` also fsyncs it. A
    /// checkpoint that a power cut rolls back to an earlier one only makes the
    /// install redo operations (they are idempotent), so it need not be
    /// durable after every operation; it is never ahead of the synced data.
    pub fn save_checkpoint(&self, cp: &Checkpoint, durable: bool) -> Result<(), InstallError> {
        let bytes = serde_json::to_vec(cp).unwrap_or_default();
        if durable {
            return self.write("checkpoint.json", &bytes);
        }
        atomic_file::replace_relaxed(&self.path("checkpoint.json"), &bytes)
            .map_err(self.io("writing", "checkpoint.json"))
    }

    /// Forgets the checkpoint and the stored header: the next install starts over.
    pub fn clear_checkpoint(&self) -> Result<(), InstallError> {
        for name in ["checkpoint.json", "header.bin"] {
            atomic_file::remove(&self.path(name)).map_err(self.io("removing", name))?;
        }
        Ok(())
    }

    pub fn header(&self) -> Result<Vec<u8>, InstallError> {
        fs::read(self.path("header.bin")).map_err(self.io("reading", "header.bin"))
    }

    pub fn save_header(&self, raw: &[u8]) -> Result<(), InstallError> {
        self.write("header.bin", raw)
    }

    /// The header (manifest and signatures) of the package last installed
    /// completely, kept so the slot can be checked against it later.
    pub fn installed_header(&self) -> Result<Option<Vec<u8>>, InstallError> {
        match fs::read(self.path("installed-header.bin")) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io("reading", "installed-header.bin")(e)),
        }
    }

    pub fn save_installed_header(&self, raw: &[u8]) -> Result<(), InstallError> {
        self.write("installed-header.bin", raw)
    }

    pub fn status(&self) -> Result<Option<Status>, InstallError> {
        self.read_json("status.json")
    }

    pub fn save_status(&self, status: &Status) -> Result<(), InstallError> {
        self.write("status.json", &serde_json::to_vec_pretty(status).unwrap_or_default())
    }
}
