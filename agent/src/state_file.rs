//! Files in the state directory, each replaced atomically: write a temporary
//! file, fsync it, rename it over the old one, fsync the directory. They hold
//! credentials (DMAcc secrets in `dmtree.json`, `nonces`), the SIM's identity
//! and package URLs, so every one is created mode 0600 whatever the umask,
//! and a file left with a looser mode gets 0600 on its next write.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of every file fotad writes into its state directory.
pub const PRIVATE_MODE: u32 = 0o600;

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

/// Replaces `path` with `bytes` atomically and durably.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(err(dir))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = create_private(&tmp).map_err(err(&tmp))?;
    f.write_all(bytes).map_err(err(&tmp))?;
    f.sync_all().map_err(err(&tmp))?;
    drop(f);
    fs::rename(&tmp, path).map_err(err(path))?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(err(dir))
}

/// Creates (or truncates) `path` for writing, readable by its owner only:
/// mode 0600 on creation, and an existing file's mode is set to 0600 too.
pub fn create_private(path: &Path) -> std::io::Result<File> {
    let f = OpenOptions::new().write(true).create(true).truncate(true).mode(PRIVATE_MODE).open(path)?;
    f.set_permissions(Permissions::from_mode(PRIVATE_MODE))?;
    Ok(f)
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
    use super::*;

    #[test]
    fn write_atomic_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/tree");
        assert_eq!(read_optional(&p).unwrap(), None);
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(read_optional(&p).unwrap().unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(p.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["tree"]);
    }

    #[test]
    fn state_files_are_private_whatever_the_umask() {
        use nix::sys::stat::{umask, Mode};
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("dmtree.json");
        let mode = |p: &Path| format!("{:o}", fs::metadata(p).unwrap().permissions().mode() & 0o777);
        let old = umask(Mode::from_bits_truncate(0o022));
        let first = write_atomic(&p, b"{}").map(|()| mode(&p));
        // A file (and a left-over temporary) from a looser time is fixed by the next write.
        fs::set_permissions(&p, Permissions::from_mode(0o644)).unwrap();
        let tmp = dir.path().join(".dmtree.json.tmp");
        fs::write(&tmp, b"stale").unwrap();
        fs::set_permissions(&tmp, Permissions::from_mode(0o666)).unwrap();
        let second = write_atomic(&p, b"{\"a\":1}").map(|()| mode(&p));
        umask(old);
        assert_eq!(first.unwrap(), "600", "a new state file");
        assert_eq!(second.unwrap(), "600", "a rewritten state file");
        assert_eq!(read_optional(&p).unwrap().unwrap(), b"{\"a\":1}");
    }
}
