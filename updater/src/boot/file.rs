//! A plain-file backend (JSON of the [`BootState`]) for tests, the demo and boards
//! whose boot script reads a file. Replaced atomically; a missing file is the
//! factory state ([`BootState::FACTORY`]).

use std::path::PathBuf;

use super::{Backend, BootError, BootState};
use crate::atomic_file;

#[derive(Debug, Clone)]
pub struct FileBackend {
    pub path: PathBuf,
}

impl FileBackend {
    pub fn new(path: impl Into<PathBuf>) -> FileBackend {
        FileBackend { path: path.into() }
    }
}

impl Backend for FileBackend {
    fn name(&self) -> &'static str {
        "file"
    }

    fn read(&self) -> Result<BootState, BootError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| BootError::format(&self.path, e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BootState::FACTORY),
            Err(e) => Err(BootError::Io { path: self.path.clone(), source: e }),
        }
    }

    fn write(&self, state: &BootState) -> Result<(), BootError> {
        let mut bytes = serde_json::to_vec_pretty(state).map_err(|e| BootError::format(&self.path, e.to_string()))?;
        bytes.push(b'\n');
        atomic_file::replace(&self.path, &bytes).map_err(BootError::io(&self.path))
    }
}
