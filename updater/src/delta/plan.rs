//! Chooses the operation for one chunk of a new image: zero, copy, bsdiff
//! over a source window, or replace, whichever is smallest.

use std::fs::File;

use crate::ops::read_extents;
use crate::package::{sha256_hex, Extent, OpKind, Operation};

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
}

impl Default for PlanSettings {
    fn default() -> Self {
        PlanSettings { level: 9, patch_level: 19, margin: 64 << 10, window_factor: 3 }
    }
}

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

/// Plans the operation producing `chunk` at `dst` of the new image.
pub fn plan_chunk(
    chunk: &[u8],
    dst: Extent,
    source: Option<&Source<'_>>,
    settings: &PlanSettings,
) -> std::io::Result<PlannedOp> {
    if chunk.iter().all(|&b| b == 0) {
        return Ok(PlannedOp::new(OpKind::Zero, dst, Vec::new(), None, Vec::new()));
    }
    let replace = zstd::bulk::compress(chunk, settings.level)?;
    let Some(source) = source else {
        return Ok(PlannedOp::new(OpKind::Replace, dst, Vec::new(), None, replace));
    };
    let mut candidates = source.index.candidates(chunk, 4);
    if dst.end() <= source.index.size && !candidates.contains(&dst.offset) {
        candidates.push(dst.offset);
    }
    let mut buf = Vec::new();
    for &start in &candidates {
        if start + dst.length > source.index.size {
            continue;
        }
        let extent = vec![Extent { offset: start, length: dst.length }];
        read_extents(source.file, &extent, &mut buf)?;
        if buf == chunk {
            return Ok(PlannedOp::new(OpKind::Copy, dst, extent, Some(&buf), Vec::new()));
        }
    }
    let limit = dst.length * settings.window_factor;
    let window = source.index.window(&candidates, dst.length, settings.margin, limit);
    if window.is_empty() {
        return Ok(PlannedOp::new(OpKind::Replace, dst, Vec::new(), None, replace));
    }
    read_extents(source.file, &window, &mut buf)?;
    let mut patch = Vec::with_capacity(chunk.len() / 4);
    bsdiff::diff(&buf, chunk, &mut patch)?;
    let patch = zstd::bulk::compress(&patch, settings.patch_level)?;
    if patch.len() < replace.len() {
        Ok(PlannedOp::new(OpKind::Bsdiff, dst, window, Some(&buf), patch))
    } else {
        Ok(PlannedOp::new(OpKind::Replace, dst, Vec::new(), None, replace))
    }
}
