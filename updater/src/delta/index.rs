//! Finds where a chunk of the new image came from in the source image.
//!
//! Content-defined anchors: a gear rolling hash over the last 64 bytes marks
//! an anchor wherever its low bits are zero (about every 128 bytes), so the
//! same content yields the same anchors wherever it moved. The source's
//! anchors are sorted by hash; a chunk's anchors vote for the source offset
//! where the chunk would start, and the best-voted offsets become the
//! operation's source window.

use std::fs::File;
use std::os::unix::fs::FileExt;

use crate::package::Extent;

const ANCHOR_MASK: u64 = (1 << 7) - 1;
/// Hashes seen more often than this in the source (runs, padding) carry no position.
const MAX_OCCURRENCES: usize = 8;

fn gear_table() -> [u64; 256] {
    // splitmix64: a fixed, well-mixed table; any fixed random table works.
    let mut state = 0x6a09_e667_f3bc_c908_u64;
    let mut table = [0u64; 256];
    for slot in table.iter_mut() {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        *slot = z ^ (z >> 31);
    }
    table
}

/// Calls `f(hash, offset_after_window)` for every anchor in `data`.
fn anchors(gear: &[u64; 256], data: &[u8], mut f: impl FnMut(u64, usize)) {
    let mut h = 0u64;
    for (i, &b) in data.iter().enumerate() {
        h = (h << 1).wrapping_add(gear[b as usize]);
        if i >= 63 && h & ANCHOR_MASK == 0 {
            f(h, i + 1);
        }
    }
}

/// The anchors of a source image.
#[derive(Debug)]
pub struct SourceIndex {
    gear: [u64; 256],
    /// (hash, source offset just after the anchor window), sorted.
    entries: Vec<(u64, u64)>,
    /// `starts[b]`: the first entry whose hash has `b` as its top `bits` bits
    /// (so a lookup searches a few entries instead of all of them).
    starts: Vec<u32>,
    bits: u32,
    pub size: u64,
}

impl SourceIndex {
    /// Indexes the first `size` bytes of `file`, reading it in blocks.
    pub fn build(file: &File, size: u64) -> std::io::Result<SourceIndex> {
        let gear = gear_table();
        let mut entries = Vec::with_capacity((size / 100) as usize);
        const BLOCK: u64 = 8 << 20;
        const OVERLAP: u64 = 63;
        let mut buf = vec![0u8; (BLOCK + OVERLAP) as usize];
        let mut pos = 0u64;
        while pos < size {
            let start = pos.saturating_sub(OVERLAP);
            let len = (pos + BLOCK).min(size) - start;
            let data = &mut buf[..len as usize];
            file.read_exact_at(data, start)?;
            let skip = (pos - start) as usize;
            anchors(&gear, data, |h, end| {
                if end > skip.max(63) || start == 0 {
                    entries.push((h, start + end as u64));
                }
            });
            pos += BLOCK;
        }
        entries.sort_unstable();
        entries.dedup();
        let bits = (usize::BITS - entries.len().leading_zeros()).clamp(1, 30);
        let mut starts = Vec::with_capacity((1 << bits) + 1);
        let mut i = 0;
        for b in 0..=(1u64 << bits) {
            while i < entries.len() && (entries[i].0 >> (64 - bits)) < b {
                i += 1;
            }
            starts.push(i as u32);
        }
        Ok(SourceIndex { gear, entries, starts, bits, size })
    }

    /// The entries with hash `h`.
    fn lookup(&self, h: u64) -> &[(u64, u64)] {
        let b = (h >> (64 - self.bits)) as usize;
        let bucket = &self.entries[self.starts[b] as usize..self.starts[b + 1] as usize];
        let lo = bucket.partition_point(|e| e.0 < h);
        let hi = bucket[lo..].partition_point(|e| e.0 == h) + lo;
        &bucket[lo..hi]
    }

    /// Source offsets where `chunk` most likely starts, best first (at most `max`).
    pub fn candidates(&self, chunk: &[u8], max: usize) -> Vec<u64> {
        // Each anchor found in the source votes for where the chunk would
        // start; the votes are counted by sorting them (cheaper than a map).
        let mut votes: Vec<i64> = Vec::with_capacity(chunk.len() / 64);
        anchors(&self.gear, chunk, |h, end| {
            let found = self.lookup(h);
            if found.len() <= MAX_OCCURRENCES {
                votes.extend(found.iter().map(|&(_, src_end)| src_end as i64 - end as i64));
            }
        });
        votes.sort_unstable();
        let mut ranked: Vec<(u32, i64)> =
            votes.chunk_by(|a, b| a == b).filter(|run| run.len() >= 2).map(|run| (run.len() as u32, run[0])).collect();
        ranked.sort_unstable_by(|a, b| b.cmp(a));
        ranked.into_iter().map(|(_, s)| s.max(0) as u64).take(max).collect()
    }

    /// The source window for a chunk of `len` bytes: the extents around the
    /// best candidates (each widened by `margin`), merged, at most `limit` bytes.
    pub fn window(&self, candidates: &[u64], len: u64, margin: u64, limit: u64) -> Vec<Extent> {
        let mut spans: Vec<(u64, u64)> = Vec::new();
        let mut total = 0u64;
        for &s in candidates {
            let start = s.saturating_sub(margin);
            let end = (s + len + margin).min(self.size);
            if start >= end || spans.iter().any(|&(a, b)| start >= a && end <= b) {
                continue;
            }
            if total + (end - start) > limit {
                break;
            }
            total += end - start;
            spans.push((start, end));
        }
        spans.sort_unstable();
        let mut merged: Vec<Extent> = Vec::new();
        for (start, end) in spans {
            match merged.last_mut() {
                Some(last) if start <= last.end() => last.length = end.max(last.end()) - last.offset,
                _ => merged.push(Extent { offset: start, length: end - start }),
            }
        }
        merged
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn finds_a_moved_region() {
        let source = pseudo_random(1 << 20, 7);
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, &source).unwrap();
        let index = SourceIndex::build(&file, source.len() as u64).unwrap();
        let chunk = &source[300_001..300_001 + 65_536];
        let best = index.candidates(chunk, 3);
        assert_eq!(best.first(), Some(&300_001));
    }
}
