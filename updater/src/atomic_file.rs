//! Replacing a small file atomically, the one helper of both crates: write a
//! temporary file beside it (`.NAME.tmp`), fsync it, rename it over the old
//! one, fsync the directory. A power cut at any point leaves either the old or
//! the new content, never a mix. [`replace_private`] also makes the file
//! readable by its owner only (mode 0600), for files that hold secrets (the
//! agent's state files).

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of a private file: owner read and write only.
pub const PRIVATE_MODE: u32 = 0o600;

/// Replaces `path` with `bytes` atomically (see the module documentation);
/// a new file gets the default mode (the umask decides).
pub fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace_with(path, bytes, None)
}

/// [`replace`] for a file readable by its owner only: mode 0600 whatever the
/// umask, and a file left with a looser mode gets 0600 too.
pub fn replace_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace_with(path, bytes, Some(PRIVATE_MODE))
}

fn replace_with(path: &Path, bytes: &[u8], mode: Option<u32>) -> io::Result<()> {
    let (dir, tmp) = temporary(path)?;
    fs::create_dir_all(dir)?;
    let mut f = match mode {
        Some(mode) => create_with_mode(&tmp, mode)?,
        None => OpenOptions::new().write(true).create(true).truncate(true).open(&tmp)?,
    };
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

/// Creates (or truncates) `path` for writing with `mode`; an existing file's
/// mode is set to `mode` before anything is written into it.
pub fn create_with_mode(path: &Path, mode: u32) -> io::Result<File> {
    let f = OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(path)?;
    f.set_permissions(Permissions::from_mode(mode))?;
    Ok(f)
}

/// Replaces `path` with `bytes` by writing a temporary file and renaming it
/// over `path`, without fsyncs: readers see the old or the new content, never
/// a mix, but after a power cut the old content may come back. Only for
/// files where an older version is harmless (the installer's checkpoint).
pub fn replace_relaxed(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let (_, tmp) = temporary(path)?;
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, path)
}

/// Removes `path` if it exists, and makes the removal durable (fsyncs the directory).
pub fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()
}

/// The directory of `path` and the temporary file beside it.
fn temporary(path: &Path) -> io::Result<(&Path, PathBuf)> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".tmp");
    Ok((dir, dir.join(tmp_name)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn replace_writes_new_content_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/state.json");
        replace(&p, b"old").unwrap();
        replace(&p, b"new").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        let names: Vec<_> = fs::read_dir(p.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["state.json"], "temporary file left behind");
    }

    #[test]
    fn private_files_are_0600_whatever_the_umask_and_a_loose_one_is_fixed() {
        use nix::sys::stat::{umask, Mode};
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("dmtree.json");
        let mode = |p: &Path| format!("{:o}", fs::metadata(p).unwrap().permissions().mode() & 0o777);
        let old = umask(Mode::from_bits_truncate(0o022));
        let first = replace_private(&p, b"{}").map(|()| mode(&p));
        // A file (and a left-over temporary) from a looser time is fixed by the next write.
        fs::set_permissions(&p, Permissions::from_mode(0o644)).unwrap();
        let tmp = dir.path().join(".dmtree.json.tmp");
        fs::write(&tmp, b"stale").unwrap();
        fs::set_permissions(&tmp, Permissions::from_mode(0o666)).unwrap();
        let second = replace_private(&p, b"{\"a\":1}").map(|()| mode(&p));
        umask(old);
        assert_eq!(first.unwrap(), "600", "a new private file");
        assert_eq!(second.unwrap(), "600", "a rewritten private file");
        assert_eq!(fs::read(&p).unwrap(), b"{\"a\":1}");
    }
}
