//! What the installer keeps in its state directory: the checkpoint (next
//! operation and package offset), the verified header for resuming, and the
//! install status of the target (writing, installed or failed).

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::atomic_file;
use crate::error::InstallError;

/// Where the stream stands: everything before `next_offset` is written, and
/// everything before `durable_offset` synced.
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
    /// The boot during which it was written (`/proc/sys/kernel/random/boot_id`).
    /// In the same boot the page cache still holds every write, synced or
    /// not (a killed process loses nothing), so `next_op` is safe; after a
    /// power cut or a reboot only the synced point `durable_op` is.
    #[serde(default)]
    pub boot_id: Option<String>,
    /// Everything before this operation (and package offset) was fsynced
    /// before this checkpoint was written.
    #[serde(default)]
    pub durable_op: usize,
    #[serde(default)]
    pub durable_offset: u64,
}

impl Checkpoint {
    /// The checkpoint as seen from boot `current`: in another (or an unknown)
    /// boot it points at its last synced operation.
    fn seen_from(mut self, current: Option<&str>) -> Checkpoint {
        let same_boot = matches!((self.boot_id.as_deref(), current), (Some(a), Some(b)) if a == b);
        if !same_boot && self.boot_id.is_some() {
            self.next_op = self.durable_op;
            self.next_offset = self.durable_offset;
        }
        self
    }
}

/// Where Linux names the current boot.
pub const BOOT_ID_PATH: &str = "/proc/sys/kernel/random/boot_id";

/// The id of the current boot read from `path`, if it can be read.
pub fn boot_id(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The target's install status. Anything but `Installed` means the target
/// does not hold a usable image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum Status {
    Writing {
        package: String,
        version: String,
    },
    Installed {
        package: String,
        version: String,
        security_version: u64,
    },
    /// The install failed: what kind of failure (a record of fotad 0.1,
    /// which kept a FUMO result code instead, reads as a device failure).
    Failed {
        package: String,
        version: String,
        #[serde(default)]
        kind: crate::ErrorKind,
        error: String,
    },
}

/// The installer's files under `<state_dir>/install/`.
#[derive(Debug, Clone)]
pub struct Records {
    dir: PathBuf,
    boot_id_path: PathBuf,
}

impl Records {
    pub fn new(state_dir: &Path) -> Self {
        Records { dir: state_dir.join("install"), boot_id_path: BOOT_ID_PATH.into() }
    }

    /// Reads the current boot's id from `path` instead of [`BOOT_ID_PATH`] (tests).
    pub fn with_boot_id_path(mut self, path: &Path) -> Self {
        self.boot_id_path = path.into();
        self
    }

    /// The id of the current boot, stamped into checkpoints.
    pub fn boot_id(&self) -> Option<String> {
        boot_id(&self.boot_id_path)
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

    /// The checkpoint, as it applies in this boot (see [`Checkpoint::boot_id`]).
    pub fn checkpoint(&self) -> Result<Option<Checkpoint>, InstallError> {
        let current = self.boot_id();
        Ok(self.read_json::<Checkpoint>("checkpoint.json")?.map(|cp| cp.seen_from(current.as_deref())))
    }

    /// Replaces the checkpoint atomically; `durable` also fsyncs it. A
    /// checkpoint that a power cut rolls back to an earlier one only makes the
    /// install redo operations (they are idempotent: a prefix is read only from
    /// what the operations before it wrote, redone first), so it need not be
    /// durable after every operation. After a power cut, only its synced
    /// point (`durable_op`) is used, which is never ahead of the synced data.
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn after_another_boot_a_checkpoint_falls_back_to_its_synced_point() {
        let dir = tempfile::tempdir().unwrap();
        let boot = dir.path().join("boot_id");
        fs::write(&boot, "boot-1\n").unwrap();
        let records = Records::new(dir.path()).with_boot_id_path(&boot);
        let cp = Checkpoint {
            package: "p".into(),
            version: "2".into(),
            next_op: 7,
            next_offset: 7000,
            package_size: 9000,
            boot_id: records.boot_id(),
            durable_op: 3,
            durable_offset: 3000,
        };
        records.save_checkpoint(&cp, true).unwrap();
        let same = records.checkpoint().unwrap().unwrap();
        assert_eq!((same.next_op, same.next_offset), (7, 7000), "a kill in the same boot loses nothing");
        fs::write(&boot, "boot-2\n").unwrap();
        let other = records.checkpoint().unwrap().unwrap();
        assert_eq!((other.next_op, other.next_offset), (3, 3000), "after a power cut only synced data counts");
        fs::remove_file(&boot).unwrap();
        let unknown = records.checkpoint().unwrap().unwrap();
        assert_eq!(unknown.next_op, 3, "an unreadable boot id must not trust unsynced data");
    }
}
