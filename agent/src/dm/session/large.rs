//! Large objects: incoming chunks (MoreData) appended to a file in the state
//! directory, never held whole in memory; outgoing values sent in chunks.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::dm::status::StatusCode;
use crate::dm::tree::Value;

/// An object being received.
#[derive(Debug)]
struct Incoming {
    cmd: &'static str,
    uri: String,
    declared: u64,
    written: u64,
    file: PathBuf,
    format: Option<String>,
    type_: Option<String>,
}

/// What one chunk led to.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk {
    /// Stored; more expected (reply 213).
    More,
    /// The last chunk arrived and the sizes match: the assembled value.
    Complete { value: Value, format: Option<String>, type_: Option<String> },
    /// The object is refused (424 size mismatch, 413 too large, 420 full...).
    Failed(StatusCode),
}

/// A chunk as it arrives in an Item.
#[derive(Debug)]
pub struct ChunkIn<'a> {
    pub cmd: &'static str,
    pub uri: &'a str,
    pub size: Option<u64>,
    pub data: &'a [u8],
    pub more: bool,
    pub format: Option<String>,
    pub type_: Option<String>,
}

/// Receives large objects into `<state_dir>/objects/`.
#[derive(Debug)]
pub struct LargeObjects {
    dir: PathBuf,
    max_obj_size: u64,
    pending: Option<Incoming>,
    counter: u64,
    /// Chunks with data taken so far (they do not count as idle messages).
    chunks_received: u64,
}

impl LargeObjects {
    pub fn new(dir: &Path, max_obj_size: u64) -> Self {
        LargeObjects { dir: dir.to_path_buf(), max_obj_size, pending: None, counter: 0, chunks_received: 0 }
    }

    /// Chunks carrying data taken in this session.
    pub fn chunks_received(&self) -> u64 {
        self.chunks_received
    }

    /// The URI of the object in progress.
    pub fn pending_uri(&self) -> Option<&str> {
        self.pending.as_ref().map(|p| p.uri.as_str())
    }

    /// Drops the object in progress (a new command arrived before its last
    /// chunk: the caller sends Alert 1225). Returns its URI.
    pub fn abandon(&mut self) -> Option<String> {
        let p = self.pending.take()?;
        let _ = fs::remove_file(&p.file);
        Some(p.uri)
    }

    /// Takes one chunk of `uri` (the first one carries the size).
    pub fn chunk(&mut self, c: &ChunkIn<'_>) -> Chunk {
        if self.pending.as_ref().is_some_and(|p| p.uri != c.uri || p.cmd != c.cmd) {
            self.abandon();
        }
        if self.pending.is_none() {
            match self.start(c) {
                Ok(p) => self.pending = Some(p),
                Err(code) => return Chunk::Failed(code),
            }
        }
        match self.append(c.data) {
            Ok(()) if c.data.is_empty() => {}
            Ok(()) => self.chunks_received += 1,
            Err(code) => {
                self.abandon();
                return Chunk::Failed(code);
            }
        }
        if c.more {
            return Chunk::More;
        }
        self.finish()
    }

    fn start(&mut self, c: &ChunkIn<'_>) -> Result<Incoming, StatusCode> {
        let declared = c.size.ok_or(StatusCode::IncompleteCommand)?;
        if declared > self.max_obj_size {
            return Err(StatusCode::RequestEntityTooLarge);
        }
        fs::create_dir_all(&self.dir).map_err(|e| io_code(&e))?;
        self.counter += 1;
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let file = self.dir.join(format!("lo-{stamp}-{}", self.counter));
        crate::state_file::create_private(&file).map_err(|e| io_code(&e))?;
        Ok(Incoming {
            cmd: c.cmd,
            uri: c.uri.to_string(),
            declared,
            written: 0,
            file,
            format: c.format.clone(),
            type_: c.type_.clone(),
        })
    }

    fn append(&mut self, data: &[u8]) -> Result<(), StatusCode> {
        let p = self.pending.as_mut().ok_or(StatusCode::CommandFailed)?;
        p.written += data.len() as u64;
        if p.written > p.declared {
            return Err(StatusCode::SizeMismatch);
        }
        let mut f = OpenOptions::new().append(true).open(&p.file).map_err(|e| io_code(&e))?;
        f.write_all(data).map_err(|e| io_code(&e))
    }

    fn finish(&mut self) -> Chunk {
        let Some(p) = self.pending.take() else {
            return Chunk::Failed(StatusCode::CommandFailed);
        };
        if p.written != p.declared {
            let _ = fs::remove_file(&p.file);
            return Chunk::Failed(StatusCode::SizeMismatch);
        }
        if let Err(e) = File::open(&p.file).and_then(|f| f.sync_all()) {
            return Chunk::Failed(io_code(&e));
        }
        Chunk::Complete { value: Value::File { path: p.file, size: p.written }, format: p.format, type_: p.type_ }
    }
}

fn io_code(e: &std::io::Error) -> StatusCode {
    if e.raw_os_error() == Some(libc::ENOSPC) {
        StatusCode::DeviceFull
    } else {
        StatusCode::CommandFailed
    }
}

/// Reads `len` bytes of a value from `offset` (from its file when large).
pub fn read_range(v: &Value, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    match v {
        Value::Inline(b) => {
            let start = (offset as usize).min(b.len());
            Ok(b[start..(start + len).min(b.len())].to_vec())
        }
        Value::File { path, .. } => {
            let mut f = File::open(path)?;
            f.seek(SeekFrom::Start(offset))?;
            let mut out = Vec::with_capacity(len);
            f.take(len as u64).read_to_end(&mut out)?;
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn chunk<'a>(uri: &'a str, size: Option<u64>, data: &'a [u8], more: bool) -> ChunkIn<'a> {
        ChunkIn { cmd: "Replace", uri, size, data, more, format: Some("bin".into()), type_: None }
    }

    #[test]
    fn assembles_chunks_into_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut lo = LargeObjects::new(dir.path(), 100);
        assert_eq!(lo.chunk(&chunk("./A", Some(6), b"abc", true)), Chunk::More);
        assert_eq!(lo.pending_uri(), Some("./A"));
        let Chunk::Complete { value, .. } = lo.chunk(&chunk("./A", None, b"def", false)) else { panic!() };
        assert_eq!(read_range(&value, 0, 100).unwrap(), b"abcdef");
        assert_eq!(read_range(&value, 2, 3).unwrap(), b"cde");
        // A large object may be a secret (an AAuthSecret): private like every state file.
        let Value::File { path, .. } = &value else { panic!() };
        let mode = std::os::unix::fs::PermissionsExt::mode(&fs::metadata(path).unwrap().permissions());
        assert_eq!(format!("{:o}", mode & 0o777), "600");
    }

    #[test]
    fn size_mismatch_too_large_and_missing_size_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut lo = LargeObjects::new(dir.path(), 100);
        lo.chunk(&chunk("./A", Some(6), b"abc", true));
        assert_eq!(lo.chunk(&chunk("./A", None, b"d", false)), Chunk::Failed(StatusCode::SizeMismatch));
        lo.chunk(&chunk("./A", Some(2), b"a", true));
        assert_eq!(lo.chunk(&chunk("./A", None, b"bc", false)), Chunk::Failed(StatusCode::SizeMismatch));
        assert_eq!(lo.chunk(&chunk("./A", Some(101), b"a", true)), Chunk::Failed(StatusCode::RequestEntityTooLarge));
        assert_eq!(lo.chunk(&chunk("./A", None, b"a", true)), Chunk::Failed(StatusCode::IncompleteCommand));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "partial files left behind");
    }

    #[test]
    fn a_new_object_abandons_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut lo = LargeObjects::new(dir.path(), 100);
        lo.chunk(&chunk("./A", Some(6), b"abc", true));
        assert_eq!(lo.abandon().as_deref(), Some("./A"));
        assert_eq!(lo.pending_uri(), None);
    }
}
