//! The agent's state files. They hold credentials (DMAcc secrets in
//! `dmtree.json`, `nonces`), the SIM's identity and package URLs, so every one
//! is written private (mode 0600 whatever the umask; a file left with a looser
//! mode gets 0600 on its next write) and replaced atomically, through the one
//! helper both crates use (`fotad_updater::atomic_file`).

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use fotad_updater::atomic_file;

/// Mode of every file fotad writes into its state directory.
pub const PRIVATE_MODE: u32 = atomic_file::PRIVATE_MODE;

/// An error writing or reading a state file, with the path concerned.
#[derive(Debug, thiserror::Error)]
#[error("state file {path}: {source}")]
pub struct StateError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

fn err(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError { path: path.to_path_buf(), source }
}

/// Replaces `path` with `bytes` atomically and durably, mode 0600.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    atomic_file::replace_private(path, bytes).map_err(err(path))
}

/// Creates (or truncates) `path` for writing, readable by its owner only
/// (large objects streamed to disk).
pub fn create_private(path: &Path) -> std::io::Result<File> {
    atomic_file::create_with_mode(path, PRIVATE_MODE)
}

/// Reads a state file; `None` when it does not exist yet.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StateError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(err(path)(e)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn state_files_are_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/tree");
        assert_eq!(read_optional(&p).unwrap(), None);
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(read_optional(&p).unwrap().unwrap(), b"two");
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        let names: Vec<_> = fs::read_dir(p.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["tree"]);
    }
}
