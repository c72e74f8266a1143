//! The operation executor: turns one operation's data blob (and source
//! extents) into its destination bytes, checking every hash on the way.

use std::fs::File;
use std::os::unix::fs::FileExt;

use sha2::{Digest, Sha256};

use crate::package::{OpKind, Operation};

/// Why one operation could not produce its output.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error("data blob does not match its SHA-256 (corrupted in transfer or altered)")]
    DataHash,
    #[error("source extents do not match: expected SHA-256 {expected}, found {found}")]
    SourceHash { expected: String, found: String },
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
        let prefix_len = op.prefix.map_or(0, |e| e.length);
        if prefix.len() as u64 != prefix_len {
            return Err(OpError::PrefixSize { expected: prefix_len, got: prefix.len() as u64 });
        }
        if let Some(expected) = &op.data_sha256 {
            if !hash_matches(data, expected) {
                return Err(OpError::DataHash);
            }
        }
        out.clear();
        let want = op.dst.length as usize;
        match op.kind {
            OpKind::Zero => out.resize(want, 0),
            OpKind::Replace if op.prefix.is_some() => {
                crate::package::decompress_with_prefix(data, prefix, want, out).map_err(OpError::Decompress)?;
            }
            OpKind::Replace => {
                out.reserve(want);
                self.zstd.decompress_to_buffer(data, out).map_err(OpError::Decompress)?;
            }
            OpKind::Copy => {
                self.read_source(op, source)?;
                out.extend_from_slice(&self.source);
            }
            OpKind::Bsdiff => {
                self.read_source(op, source)?;
                self.decompress_patch(data, want)?;
                out.reserve(want);
                bsdiff::patch(&self.source, &mut self.patch.as_slice(), out).map_err(OpError::Patch)?;
            }
        }
        if out.len() != want {
            return Err(OpError::OutputSize { expected: op.dst.length, got: out.len() as u64 });
        }
        Ok(())
    }

    fn read_source(&mut self, op: &Operation, source: Option<&File>) -> Result<(), OpError> {
        let file = source.ok_or(OpError::NoSource)?;
        read_extents(file, &op.src, &mut self.source).map_err(OpError::SourceIo)?;
        let expected = op.src_sha256.as_deref().unwrap_or_default();
        if !hash_matches(&self.source, expected) {
            return Err(OpError::SourceHash {
                expected: expected.to_string(),
                found: hex::encode(Sha256::digest(&self.source)),
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
pub fn read_extents(file: &File, extents: &[crate::package::Extent], buf: &mut Vec<u8>) -> std::io::Result<()> {
    buf.clear();
    for e in extents {
        let start = buf.len();
        buf.resize(start + e.length as usize, 0);
        file.read_exact_at(&mut buf[start..], e.offset)?;
    }
    Ok(())
}

fn hash_matches(data: &[u8], expected_hex: &str) -> bool {
    let mut expected = [0u8; 32];
    hex::decode_to_slice(expected_hex, &mut expected).is_ok() && Sha256::digest(data)[..] == expected
}
