//! Chooses the operation for one chunk of a new image: zero, copy, bsdiff
//! over a source window, or replace, whichever is smallest.

use std::fs::File;

use crate::ops::read_extents;
use crate::package::{sha256_hex, Extent, OpKind, Operation};

use super::diff::Differ;
use super::index::SourceIndex;

/// How hard to look and compress.
#[derive(Debug, Clone, Copy)]
pub struct PlanSettings {
    /// zstd level for replace blobs.
    pub level: i32,
    /// zstd level for bsdiff patches (small, mostly zeros: compress hard).
    pub patch_level: i32,
    /// Bytes added on each side of a candidate source region.
    pub margin: u64,
    /// Upper bound of a source window, as a multiple of the chunk length.
    pub window_factor: u64,
    /// Full images: the replace blob of a chunk is compressed with up to this
    /// many bytes of the image right before it as a prefix (format 2); 0
    /// compresses every chunk on its own (format 1).
    pub prefix: u64,
}

impl Default for PlanSettings {
    fn default() -> Self {
        PlanSettings { level: 9, patch_level: 19, margin: 64 << 10, window_factor: 3, prefix: DEFAULT_PREFIX }
    }
}

/// The packer's default prefix for full images: the most the format allows
/// (6 MiB left the package 3.8 % above `zstd -19 --long=28` of the image,
/// 16 MiB 1.8 %).
pub const DEFAULT_PREFIX: u64 = crate::package::MAX_OP_PREFIX;

/// An operation with its data blob, before its payload offset is known.
#[derive(Debug, Clone)]
pub struct PlannedOp {
    pub op: Operation,
    pub blob: Vec<u8>,
}

impl PlannedOp {
    pub fn new(kind: OpKind, dst: Extent, src: Vec<Extent>, src_data: Option<&[u8]>, blob: Vec<u8>) -> Self {
        let op = Operation {
            kind,
            dst,
            src,
            src_sha256: src_data.map(sha256_hex),
            data_offset: 0,
            data_length: blob.len() as u64,
            data_sha256: (!blob.is_empty()).then(|| sha256_hex(&blob)),
            prefix: None,
        };
        PlannedOp { op, blob }
    }
}

/// The source side of a delta: the file and its index.
#[derive(Debug)]
pub struct Source<'a> {
    pub file: &'a File,
    pub index: &'a SourceIndex,
}

/// One chunk of the new image to plan.
#[derive(Debug, Clone, Copy)]
pub struct Chunk<'a> {
    pub data: &'a [u8],
    pub dst: Extent,
    /// Image bytes before `dst` (empty: compress on its own).
    pub prefix: &'a [u8],
    /// Where `prefix` starts in the image.
    pub prefix_offset: u64,
}

/// A planning thread's reusable state: the diff index, the buffers and a
/// zstd context (its tables are allocated once, not for every blob).
pub struct Planner {
    differ: Differ,
    window: Vec<u8>,
    patch: Vec<u8>,
    zstd: zstd::bulk::Compressor<'static>,
}

impl std::fmt::Debug for Planner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Planner").field("window", &self.window.len()).field("patch", &self.patch.len()).finish()
    }
}

impl Planner {
    pub fn new() -> std::io::Result<Self> {
        Ok(Planner {
            differ: Differ::new(),
            window: Vec::new(),
            patch: Vec::new(),
            zstd: zstd::bulk::Compressor::new(0)?,
        })
    }

    fn compress(&mut self, data: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
        self.zstd.set_compression_level(level)?;
        self.zstd.compress(data)
    }

    /// Plans the operation producing `chunk`.
    pub fn plan(
        &mut self,
        chunk: Chunk<'_>,
        source: Option<&Source<'_>>,
        settings: &PlanSettings,
    ) -> std::io::Result<PlannedOp> {
        let dst = chunk.dst;
        if chunk.data.iter().all(|&b| b == 0) {
            return Ok(PlannedOp::new(OpKind::Zero, dst, Vec::new(), None, Vec::new()));
        }
        let Some(source) = source else {
            return self.replace(chunk, settings.level);
        };
        let mut candidates = source.index.candidates(chunk.data, 4);
        if dst.end() <= source.index.size && !candidates.contains(&dst.offset) {
            candidates.push(dst.offset);
        }
        for &start in &candidates {
            if start + dst.length > source.index.size {
                continue;
            }
            // The first bytes decide for most candidates: read the rest only then.
            let head = dst.length.min(64 << 10);
            read_extents(source.file, &[Extent { offset: start, length: head }], &mut self.window)?;
            if self.window[..] != chunk.data[..head as usize] {
                continue;
            }
            let extent = vec![Extent { offset: start, length: dst.length }];
            read_extents(source.file, &extent, &mut self.window)?;
            if self.window == chunk.data {
                return Ok(PlannedOp::new(OpKind::Copy, dst, extent, Some(&self.window), Vec::new()));
            }
        }
        let limit = dst.length * settings.window_factor;
        let window = source.index.window(&candidates, dst.length, settings.margin, limit);
        if window.is_empty() {
            return self.replace(chunk, settings.level);
        }
        read_extents(source.file, &window, &mut self.window)?;
        self.patch.clear();
        self.differ.diff(&self.window, chunk.data, &mut self.patch);
        let patch = std::mem::take(&mut self.patch);
        let compressed = self.compress(&patch, settings.patch_level);
        self.patch = patch;
        let patch = compressed?;
        // A patch under half the chunk's fast compression wins whatever the
        // level of a replace: skip compressing the chunk hard.
        let fast = self.compress(chunk.data, 1)?;
        if patch.len() * 2 < fast.len() {
            return Ok(PlannedOp::new(OpKind::Bsdiff, dst, window, Some(&self.window), patch));
        }
        let replace = self.replace(chunk, settings.level)?;
        if patch.len() < replace.blob.len() {
            Ok(PlannedOp::new(OpKind::Bsdiff, dst, window, Some(&self.window), patch))
        } else {
            Ok(replace)
        }
    }

    /// A replace operation: the chunk compressed, with its prefix if it has one.
    fn replace(&mut self, chunk: Chunk<'_>, level: i32) -> std::io::Result<PlannedOp> {
        if chunk.prefix.is_empty() {
            let blob = self.compress(chunk.data, level)?;
            return Ok(PlannedOp::new(OpKind::Replace, chunk.dst, Vec::new(), None, blob));
        }
        let blob = crate::package::compress_with_prefix(chunk.data, chunk.prefix, level)?;
        let mut planned = PlannedOp::new(OpKind::Replace, chunk.dst, Vec::new(), None, blob);
        let length = chunk.prefix.len() as u64;
        planned.op.prefix = Some(Extent { offset: chunk.prefix_offset, length });
        Ok(planned)
    }
}
