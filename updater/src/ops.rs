//! The operation executor: turns one operation's data blob (and source
//! extents) into its destination bytes, checking every hash on the way.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use sha2::{Digest, Sha256};

use crate::package::{Extent, OpKind, Operation};

/// Why one operation could not produce its output.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error("data blob does not match its SHA-256 (corrupted in transfer or altered)")]
    DataHash,
    #[error(
        "source extents do not match the image the delta was made from at {extents} of the source (SHA-256 \
         {found}, expected {expected}): the source slot changed since it was written (mounted read-write, \
         repaired by fsck, or written by something else); install a full package"
    )]
    // Boxed strings keep OpError (and so InstallError) as small as before.
    SourceHash { extents: Box<str>, expected: Box<str>, found: Box<str> },
    #[error("operation reads a source image, but none was given")]
    NoSource,
    #[error("reading the source image: {0}")]
    SourceIo(std::io::Error),
    #[error("decompressing the data blob: {0}")]
    Decompress(std::io::Error),
    #[error("applying the bsdiff patch: {0}")]
    Patch(std::io::Error),
    #[error("operation produced {got} bytes, its destination takes {expected}")]
    OutputSize { expected: u64, got: u64 },
    #[error("operation needs {expected} bytes of the target as its prefix, was given {got}")]
    PrefixSize { expected: u64, got: u64 },
}

/// Reusable buffers and the zstd context for executing operations.
pub struct Executor {
    zstd: zstd::bulk::Decompressor<'static>,
    source: Vec<u8>,
    patch: Vec<u8>,
    /// A bsdiff operation's output (the `bsdiff` crate appends to a `Vec`).
    patched: Vec<u8>,
    /// Aligned window for reads of an O_DIRECT source.
    direct: Vec<u8>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor").finish_non_exhaustive()
    }
}

impl Executor {
    pub fn new() -> Result<Self, OpError> {
        Ok(Executor {
            zstd: zstd::bulk::Decompressor::new().map_err(OpError::Decompress)?,
            source: Vec::new(),
            patch: Vec::new(),
            patched: Vec::new(),
            direct: Vec::new(),
        })
    }

    /// Executes `op`: checks `data` against its hash, reads and checks the
    /// source extents from `source`, and leaves the destination bytes in `out`.
    /// An operation with a prefix fails here: see [`Executor::run_with_prefix`].
    pub fn run(
        &mut self,
        op: &Operation,
        data: &[u8],
        source: Option<&File>,
        out: &mut Vec<u8>,
    ) -> Result<(), OpError> {
        self.run_with_prefix(op, data, source, &[], out)
    }

    /// [`Executor::run`] for any operation: `prefix` holds the bytes of the
    /// target at the operation's `prefix` extent (empty when it has none).
    pub fn run_with_prefix(
        &mut self,
        op: &Operation,
        data: &[u8],
        source: Option<&File>,
        prefix: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), OpError> {
        out.clear();
        out.resize(op.dst.length as usize, 0);
        self.run_into(op, data, source, prefix, out)
    }

    /// [`Executor::run_with_prefix`] into `out`, which the operation's output
    /// must fill exactly (the installer gives it a slice of its own buffer).
    pub fn run_into(
        &mut self,
        op: &Operation,
        data: &[u8],
        source: Option<&File>,
        prefix: &[u8],
        out: &mut [u8],
    ) -> Result<(), OpError> {
        let prefix_len = op.prefix.map_or(0, |e| e.length);
        if prefix.len() as u64 != prefix_len {
            return Err(OpError::PrefixSize { expected: prefix_len, got: prefix.len() as u64 });
        }
        if out.len() as u64 != op.dst.length {
            return Err(OpError::OutputSize { expected: op.dst.length, got: out.len() as u64 });
        }
        if let Some(expected) = &op.data_sha256 {
            if !hash_matches(data, expected) {
                return Err(OpError::DataHash);
            }
        }
        let size_error = |got: usize| OpError::OutputSize { expected: op.dst.length, got: got as u64 };
        match op.kind {
            OpKind::Zero => out.fill(0),
            OpKind::Replace if op.prefix.is_some() => {
                crate::package::decompress_with_prefix(data, prefix, out).map_err(OpError::Decompress)?;
            }
            OpKind::Replace => {
                let got = self.zstd.decompress_to_buffer(data, out).map_err(OpError::Decompress)?;
                if got != out.len() {
                    return Err(size_error(got));
                }
            }
            OpKind::Copy => {
                self.read_source(op, source)?;
                if self.source.len() != out.len() {
                    return Err(size_error(self.source.len()));
                }
                out.copy_from_slice(&self.source);
            }
            OpKind::Bsdiff => {
                self.read_source(op, source)?;
                self.decompress_patch(data, out.len())?;
                self.patched.clear();
                self.patched.reserve(out.len());
                bsdiff::patch(&self.source, &mut self.patch.as_slice(), &mut self.patched).map_err(OpError::Patch)?;
                if self.patched.len() != out.len() {
                    return Err(size_error(self.patched.len()));
                }
                out.copy_from_slice(&self.patched);
            }
        }
        Ok(())
    }

    fn read_source(&mut self, op: &Operation, source: Option<&File>) -> Result<(), OpError> {
        let file = source.ok_or(OpError::NoSource)?;
        read_source_extents(file, &op.src, &mut self.source, &mut self.direct).map_err(OpError::SourceIo)?;
        let expected = op.src_sha256.as_deref().unwrap_or_default();
        if !hash_matches(&self.source, expected) {
            return Err(OpError::SourceHash {
                extents: describe_extents(&op.src).into(),
                expected: expected.into(),
                found: hex::encode(Sha256::digest(&self.source)).into(),
            });
        }
        Ok(())
    }

    /// A bsdiff patch for `want` output bytes holds at most `want` data bytes
    /// plus 24 bytes of control per entry; anything larger is refused.
    fn decompress_patch(&mut self, data: &[u8], want: usize) -> Result<(), OpError> {
        let limit = want.saturating_mul(2).saturating_add(1 << 20);
        self.patch.clear();
        self.patch.reserve(limit.min(data.len().saturating_mul(8)).max(want));
        let mut decoder = zstd::stream::read::Decoder::with_buffer(data).map_err(OpError::Decompress)?;
        let read =
            std::io::Read::read_to_end(&mut std::io::Read::take(&mut decoder, limit as u64 + 1), &mut self.patch)
                .map_err(OpError::Decompress)?;
        if read > limit {
            return Err(OpError::Patch(std::io::Error::other("patch larger than its output allows")));
        }
        Ok(())
    }
}

/// Reads the concatenation of `extents` of `file` into `buf`.
pub fn read_extents(file: &File, extents: &[Extent], buf: &mut Vec<u8>) -> std::io::Result<()> {
    buf.clear();
    for e in extents {
        let start = buf.len();
        buf.resize(start + e.length as usize, 0);
        file.read_exact_at(&mut buf[start..], e.offset)?;
    }
    Ok(())
}

/// Alignment of O_DIRECT reads (a multiple of every logical block size in use).
pub const DIRECT_ALIGN: usize = 4096;
/// Largest single O_DIRECT read.
const DIRECT_CHUNK: usize = 1 << 20;

/// Reads the concatenation of `extents` of a source image into `buf`. A file
/// opened with `O_DIRECT` (see `install::target`) is read around the page
/// cache through the aligned window `scratch`, so what is checked is what is on
/// the disk; when the kernel refuses an O_DIRECT read (EINVAL) the file is
/// switched to buffered reads and read again.
pub fn read_source_extents(
    file: &File,
    extents: &[Extent],
    buf: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
) -> std::io::Result<()> {
    if !is_direct(file) {
        return read_extents(file, extents, buf);
    }
    buf.clear();
    for e in extents {
        match read_direct(file, e.offset, e.length, buf, scratch) {
            Err(err) if err.raw_os_error() == Some(libc::EINVAL) => {
                set_buffered(file)?;
                return read_extents(file, extents, buf);
            }
            r => r?,
        }
    }
    Ok(())
}

/// Appends bytes `offset..offset + len` of an O_DIRECT `file` to `out`, read in
/// aligned blocks through an aligned part of `scratch`.
fn read_direct(file: &File, offset: u64, len: u64, out: &mut Vec<u8>, scratch: &mut Vec<u8>) -> std::io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    let align = DIRECT_ALIGN as u64;
    let end = offset + len;
    if scratch.len() < DIRECT_CHUNK + DIRECT_ALIGN {
        scratch.resize(DIRECT_CHUNK + DIRECT_ALIGN, 0);
    }
    let skew = scratch.as_ptr().align_offset(DIRECT_ALIGN);
    let window = &mut scratch[skew..skew + DIRECT_CHUNK];
    let mut at = offset - offset % align;
    while at < end {
        let want = (end - at).next_multiple_of(align).min(DIRECT_CHUNK as u64) as usize;
        let got = read_full_at(file, &mut window[..want], at)?;
        let (from, to) = (offset.max(at), end.min(at + got as u64));
        if to <= from || (got < want && to < end) {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        out.extend_from_slice(&window[(from - at) as usize..(to - at) as usize]);
        at += got as u64;
    }
    Ok(())
}

/// Reads into `buf` at `offset` until it is full or the file ends.
fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn flags(file: &File) -> std::io::Result<OFlag> {
    let bits = fcntl(file.as_raw_fd(), FcntlArg::F_GETFL).map_err(std::io::Error::from)?;
    Ok(OFlag::from_bits_truncate(bits))
}

fn is_direct(file: &File) -> bool {
    flags(file).is_ok_and(|f| f.contains(OFlag::O_DIRECT))
}

fn set_buffered(file: &File) -> std::io::Result<()> {
    let f = flags(file)? - OFlag::O_DIRECT;
    fcntl(file.as_raw_fd(), FcntlArg::F_SETFL(f)).map_err(std::io::Error::from)?;
    Ok(())
}

/// `bytes A..B (4 KiB block N)` for the first extents, for error messages.
fn describe_extents(extents: &[Extent]) -> String {
    let mut parts: Vec<String> = extents
        .iter()
        .take(3)
        .map(|e| format!("bytes {}..{} (4 KiB block {})", e.offset, e.offset + e.length, e.offset / 4096))
        .collect();
    if extents.len() > 3 {
        parts.push(format!("{} more extents", extents.len() - 3));
    }
    parts.join(", ")
}

fn hash_matches(data: &[u8], expected_hex: &str) -> bool {
    let mut expected = [0u8; 32];
    hex::decode_to_slice(expected_hex, &mut expected).is_ok() && Sha256::digest(data)[..] == expected
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::os::unix::fs::OpenOptionsExt;

    use super::*;

    fn extent(offset: u64, length: u64) -> Extent {
        Extent { offset, length }
    }

    #[test]
    fn direct_source_reads_match_buffered_reads_and_fall_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("source.img");
        let data: Vec<u8> = (0..3 * DIRECT_CHUNK + 12_345).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let len = data.len() as u64;
        let extents = [
            extent(1, 5000),
            extent(4096, 4096),
            extent((1 << 20) - 3, 2 * DIRECT_CHUNK as u64 + 10),
            extent(len - 7, 7),
            extent(77, 0),
        ];
        let expected: Vec<u8> =
            extents.iter().flat_map(|e| data[e.offset as usize..e.end() as usize].iter().copied()).collect();
        let (mut buf, mut scratch) = (Vec::new(), Vec::new());
        // Where the file system takes O_DIRECT (ext4, xfs, tmpfs since Linux 6.6).
        if let Ok(direct) = File::options().read(true).custom_flags(libc::O_DIRECT).open(&path) {
            assert!(is_direct(&direct));
            read_source_extents(&direct, &extents, &mut buf, &mut scratch).unwrap();
            assert_eq!(buf, expected, "O_DIRECT reads");
            let past_end = [extent(len - 10, 20)];
            let err = read_source_extents(&direct, &past_end, &mut buf, &mut scratch).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
            set_buffered(&direct).unwrap();
            assert!(!is_direct(&direct), "the fallback did not drop O_DIRECT");
            read_source_extents(&direct, &extents, &mut buf, &mut scratch).unwrap();
            assert_eq!(buf, expected, "reads after the fallback");
        }
        let buffered = File::open(&path).unwrap();
        read_source_extents(&buffered, &extents, &mut buf, &mut scratch).unwrap();
        assert_eq!(buf, expected, "buffered reads");
    }

    #[test]
    fn a_source_mismatch_names_the_extents() {
        assert_eq!(describe_extents(&[extent(8192, 4096)]), "bytes 8192..12288 (4 KiB block 2)");
        let many: Vec<Extent> = (0..5).map(|i| extent(i * 4096, 4096)).collect();
        assert!(describe_extents(&many).ends_with(", 2 more extents"), "{}", describe_extents(&many));
    }
}
