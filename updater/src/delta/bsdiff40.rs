//! Turns a classic `BSDIFF40` patch (Colin Percival's format, as Debian's
//! `bsdiff` writes it) into bounded package operations.
//!
//! The patch is a stream of control triples (x, y, z): add x bytes of the
//! diff block to x bytes of the old file, then copy y bytes of the extra
//! block, then move the old position by z. Old bytes outside the old file
//! count as zero (as `bspatch` does). Each operation covers at most
//! `op_size` bytes of output; its source is the old extents its part of the
//! patch reads, in order, and its data is the same part re-encoded as a
//! patch over that source (mix, copy, seek triples with seek 0).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use bzip2::read::BzDecoder;
use sha2::{Digest, Sha256};

use crate::ops::read_extents;
use crate::package::{Extent, ImageDigest, OpKind, Operation};

use super::{PackError, PackSpec, Payload, PlannedOp};

const MAGIC: &[u8; 8] = b"BSDIFF40";

/// Reads bsdiff's sign-magnitude little-endian 64-bit integer.
fn offtin(b: [u8; 8]) -> i64 {
    let magnitude = (u64::from_le_bytes(b) & !(1 << 63)) as i64;
    if b[7] & 0x80 != 0 {
        -magnitude
    } else {
        magnitude
    }
}

struct Blocks<'a> {
    ctrl: BzDecoder<&'a [u8]>,
    diff: BzDecoder<&'a [u8]>,
    extra: BzDecoder<&'a [u8]>,
    new_size: u64,
}

fn parse<'a>(data: &'a [u8], bad: &dyn Fn(&str) -> PackError) -> Result<Blocks<'a>, PackError> {
    if data.len() < 32 || &data[..8] != MAGIC {
        return Err(bad("not a BSDIFF40 patch"));
    }
    let field = |i: usize| offtin(data[i..i + 8].try_into().unwrap_or_default());
    let (ctrl_len, diff_len, new_size) = (field(8), field(16), field(24));
    if ctrl_len < 0 || diff_len < 0 || new_size < 0 {
        return Err(bad("negative length in header"));
    }
    let ctrl_end = 32usize.saturating_add(ctrl_len as usize);
    let diff_end = ctrl_end.saturating_add(diff_len as usize);
    if diff_end > data.len() {
        return Err(bad("block lengths run past the end of the patch (truncated?)"));
    }
    Ok(Blocks {
        ctrl: BzDecoder::new(&data[32..ctrl_end]),
        diff: BzDecoder::new(&data[ctrl_end..diff_end]),
        extra: BzDecoder::new(&data[diff_end..]),
        new_size: new_size as u64,
    })
}

/// Converts the patch at `path` over `source` into operations pushed to `payload`.
pub(super) fn convert(
    path: &Path,
    source: &File,
    source_size: u64,
    spec: &PackSpec,
    payload: &mut Payload,
) -> Result<(ImageDigest, Vec<Operation>), PackError> {
    let data = std::fs::read(path).map_err(super::io_err("reading", path))?;
    let bad = |why: &str| PackError::BadPatch { path: path.to_path_buf(), why: why.to_string() };
    let mut blocks = parse(&data, &bad)?;
    let mut builder = OpBuilder::new(spec.op_size, source, source_size);
    let (mut new_pos, mut old_pos) = (0u64, 0i64);
    let mut ops = Vec::new();
    let io_bad = |e: io::Error| bad(&format!("corrupt block: {e}"));
    while new_pos < blocks.new_size {
        let mut triple = [0i64; 3];
        for v in triple.iter_mut() {
            let mut b = [0u8; 8];
            blocks.ctrl.read_exact(&mut b).map_err(io_bad)?;
            *v = offtin(b);
        }
        let [x, y, z] = triple;
        if x < 0 || y < 0 || new_pos + x as u64 + y as u64 > blocks.new_size {
            return Err(bad("control entry runs past the new size"));
        }
        for (len, is_mix) in [(x as u64, true), (y as u64, false)] {
            let mut left = len;
            while left > 0 {
                let n = left.min(builder.room());
                let block = if is_mix { &mut blocks.diff } else { &mut blocks.extra };
                let mut bytes = vec![0u8; n as usize];
                block.read_exact(&mut bytes).map_err(io_bad)?;
                if is_mix {
                    builder.mix(old_pos, bytes);
                    old_pos += n as i64;
                } else {
                    builder.extra(bytes);
                }
                left -= n;
                new_pos += n;
                if builder.room() == 0 || new_pos == blocks.new_size {
                    ops.push(payload.push(builder.finish(spec)?)?);
                }
            }
        }
        old_pos += z;
    }
    let target = ImageDigest { size: blocks.new_size, sha256: hex::encode(builder.hasher.finalize()) };
    Ok((target, ops))
}

/// Collects one operation's part of the patch.
struct OpBuilder<'a> {
    op_size: u64,
    source: &'a File,
    source_size: u64,
    dst_offset: u64,
    len: u64,
    /// (mix bytes, extra bytes) per control entry.
    triples: Vec<(Vec<u8>, Vec<u8>)>,
    src: Vec<Extent>,
    hasher: Sha256,
}

impl<'a> OpBuilder<'a> {
    fn new(op_size: u64, source: &'a File, source_size: u64) -> Self {
        let hasher = Sha256::new();
        OpBuilder { op_size, source, source_size, dst_offset: 0, len: 0, triples: Vec::new(), src: Vec::new(), hasher }
    }

    fn room(&self) -> u64 {
        self.op_size - self.len
    }

    /// Adds diff bytes over old position `old`; parts outside the old file become extra bytes.
    fn mix(&mut self, old: i64, bytes: Vec<u8>) {
        let n = bytes.len() as i64;
        let lo = old.clamp(0, self.source_size as i64);
        let hi = (old + n).clamp(0, self.source_size as i64);
        if hi <= lo {
            return self.extra(bytes);
        }
        let (before, inside) = ((lo - old) as usize, (hi - lo) as usize);
        if before > 0 {
            self.extra(bytes[..before].to_vec());
        }
        self.len += inside as u64;
        match self.triples.last_mut() {
            Some((_, extra)) if extra.is_empty() => {}
            _ => self.triples.push((Vec::new(), Vec::new())),
        }
        if let Some((mix, _)) = self.triples.last_mut() {
            mix.extend_from_slice(&bytes[before..before + inside]);
        }
        match self.src.last_mut() {
            Some(e) if e.end() == lo as u64 => e.length += inside as u64,
            _ => self.src.push(Extent { offset: lo as u64, length: inside as u64 }),
        }
        if before + inside < bytes.len() {
            self.extra(bytes[before + inside..].to_vec());
        }
    }

    fn extra(&mut self, bytes: Vec<u8>) {
        self.len += bytes.len() as u64;
        match self.triples.last_mut() {
            Some((_, extra)) => extra.extend_from_slice(&bytes),
            None => self.triples.push((Vec::new(), bytes)),
        }
    }

    /// Encodes the collected part as one operation, checks it by applying it,
    /// and starts the next one.
    fn finish(&mut self, spec: &PackSpec) -> Result<PlannedOp, PackError> {
        let dst = Extent { offset: self.dst_offset, length: self.len };
        let mut patch = Vec::new();
        for (mix, extra) in &self.triples {
            patch.extend_from_slice(&(mix.len() as u64).to_le_bytes());
            patch.extend_from_slice(&(extra.len() as u64).to_le_bytes());
            patch.extend_from_slice(&0u64.to_le_bytes());
            patch.extend_from_slice(mix);
            patch.extend_from_slice(extra);
        }
        let io = |source| PackError::Io { what: "reading source of", path: "BSDIFF40 conversion".into(), source };
        let mut src_data = Vec::new();
        read_extents(self.source, &self.src, &mut src_data).map_err(io)?;
        let mut out = Vec::with_capacity(self.len as usize);
        bsdiff::patch(&src_data, &mut patch.as_slice(), &mut out).map_err(io)?;
        self.hasher.update(&out);
        let planned = if out.iter().all(|&b| b == 0) {
            PlannedOp::new(OpKind::Zero, dst, Vec::new(), None, Vec::new())
        } else {
            let replace = zstd::bulk::compress(&out, spec.settings.level).map_err(io)?;
            let patch = zstd::bulk::compress(&patch, spec.settings.patch_level).map_err(io)?;
            if self.src.is_empty() || replace.len() <= patch.len() {
                PlannedOp::new(OpKind::Replace, dst, Vec::new(), None, replace)
            } else {
                PlannedOp::new(OpKind::Bsdiff, dst, std::mem::take(&mut self.src), Some(&src_data), patch)
            }
        };
        self.dst_offset += self.len;
        self.len = 0;
        self.triples.clear();
        self.src.clear();
        Ok(planned)
    }
}
