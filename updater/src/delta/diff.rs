//! The patch generator: writes a bsdiff patch (the entry format in
//! `docs/package-format.md`) that turns a source window into a chunk of the
//! new image.
//!
//! It follows the scan of Colin Percival's bsdiff (prefer continuing the
//! current alignment, with its mismatches, over a new exact match unless the
//! new one is clearly longer; extend each alignment forwards and backwards
//! while at least half of the bytes agree), so its patches are as small. What
//! differs is how matches are found: instead of a suffix array of the window
//! (a sort of the whole window for every chunk, then a binary search per
//! scanned byte), a hash chain of every 8-byte string of the window, built in
//! one pass, and a bounded walk along it per search. Building it is linear,
//! and a search touches a handful of places instead of some twenty.

/// Shortest match the index can find: the bytes hashed per position.
const MIN_MATCH: usize = 8;
/// Candidates compared per search (the longest one wins).
const MAX_CHAIN: usize = 24;
/// A new exact match replaces the current alignment when it is this much
/// longer than what the alignment still matches (bsdiff's rule).
const BETTER_BY: usize = 8;

/// A reusable hash chain over the 8-byte strings of a source window.
#[derive(Debug, Default)]
pub struct Differ {
    /// hash → 1 + the last position with that hash (0: none).
    head: Vec<u32>,
    /// position → 1 + the previous position with the same hash (0: none).
    chain: Vec<u32>,
    bits: u32,
}

fn load8(data: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&data[at..at + 8]);
    u64::from_le_bytes(word)
}

/// Length of the common prefix of `a` and `b`, eight bytes at a time.
fn match_len(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n {
        let x = load8(a, i) ^ load8(b, i);
        if x != 0 {
            return i + (x.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

impl Differ {
    pub fn new() -> Self {
        Differ::default()
    }

    fn hash(&self, word: u64) -> usize {
        (word.wrapping_mul(0x9E37_79B1_85EB_CA87) >> (64 - self.bits)) as usize
    }

    /// Indexes `old` (at most 4 GiB).
    fn index(&mut self, old: &[u8]) {
        // About one head entry per two positions: short chains, a table that
        // stays a fraction of the cache-hungry size of one per position.
        self.bits = (usize::BITS - old.len().max(1 << 12).leading_zeros()).saturating_sub(1).clamp(12, 28);
        self.head.clear();
        self.head.resize(1 << self.bits, 0);
        // Every position gets its entry below: no need to clear the old ones.
        if self.chain.len() < old.len() {
            self.chain.resize(old.len(), 0);
        }
        if old.len() < MIN_MATCH {
            return;
        }
        for i in 0..=old.len() - MIN_MATCH {
            let h = self.hash(load8(old, i));
            self.chain[i] = self.head[h];
            self.head[h] = i as u32 + 1;
        }
    }

    /// The longest match of a prefix of `new` in `old` among the candidates
    /// the chain offers and `hint` (where the current alignment continues,
    /// which a long chain may not reach): (position in old, length). Length
    /// 0 when none.
    fn search(&self, old: &[u8], new: &[u8], hint: Option<usize>) -> (usize, usize) {
        if new.len() < MIN_MATCH || old.len() < MIN_MATCH {
            return (0, 0);
        }
        let first = load8(new, 0);
        let mut next = self.head[self.hash(first)];
        let mut best = (0, 0);
        if let Some(pos) = hint.filter(|&p| p < old.len()) {
            best = (pos, match_len(&old[pos..], new));
            if best.1 == new.len() || pos + best.1 == old.len() {
                return best;
            }
        }
        let mut walked = 0;
        while next != 0 && walked < MAX_CHAIN {
            let pos = (next - 1) as usize;
            next = self.chain[pos];
            walked += 1;
            // Cannot beat the best so far unless it matches one byte further.
            if load8(old, pos) != first || old.get(pos + best.1) != new.get(best.1) {
                continue;
            }
            let len = MIN_MATCH + match_len(&old[pos + MIN_MATCH..], &new[MIN_MATCH..]);
            if len > best.1 {
                best = (pos, len);
                if pos + len == old.len() || len == new.len() {
                    break;
                }
            }
        }
        best
    }

    /// Writes the patch that turns `old` into `new` to `out`.
    pub fn diff(&mut self, old: &[u8], new: &[u8], out: &mut Vec<u8>) {
        self.index(old);
        let mut scan = 0usize;
        let mut len = 0usize;
        let mut pos = 0usize;
        let mut last = Alignment { scan: 0, pos: 0 };
        // old position − new position of the current alignment
        let mut last_offset = 0isize;
        let old_at = |i: usize, offset: isize| -> Option<u8> {
            let at = i as isize + offset;
            (at >= 0 && (at as usize) < old.len()).then(|| old[at as usize])
        };
        while scan < new.len() {
            let mut old_score = 0usize;
            scan += len;
            let mut scored = scan;
            while scan < new.len() {
                let hint = usize::try_from(scan as isize + last_offset).ok();
                (pos, len) = self.search(old, &new[scan..], hint);
                while scored < scan + len {
                    if old_at(scored, last_offset) == Some(new[scored]) {
                        old_score += 1;
                    }
                    scored += 1;
                }
                if (len == old_score && len != 0) || len > old_score + BETTER_BY {
                    break;
                }
                if old_at(scan, last_offset) == Some(new[scan]) {
                    old_score = old_score.saturating_sub(1);
                }
                scan += 1;
            }
            if len == old_score && scan != new.len() {
                continue;
            }
            let step = Step { scan, pos };
            emit(old, new, &mut last, step, out);
            last_offset = pos as isize - scan as isize;
        }
    }
}

/// Where the current alignment started: new position and old position.
#[derive(Debug, Clone, Copy)]
struct Alignment {
    scan: usize,
    pos: usize,
}

/// Where the next alignment starts (its exact match at `scan` in new, `pos` in old).
#[derive(Debug, Clone, Copy)]
struct Step {
    scan: usize,
    pos: usize,
}

/// Writes the entry from the last alignment up to the next one: the last
/// alignment extended forwards (mix bytes), the bytes between (literal), and
/// the seek to where the next alignment, extended backwards, starts.
fn emit(old: &[u8], new: &[u8], last: &mut Alignment, next: Step, out: &mut Vec<u8>) {
    let mut forward = extend_forward(old, new, *last, next.scan);
    let mut backward = if next.scan < new.len() { extend_backward(old, new, *last, next) } else { 0 };
    if last.scan + forward > next.scan - backward {
        let overlap = last.scan + forward - (next.scan - backward);
        let (mut score, mut best, mut keep) = (0isize, 0isize, 0usize);
        for i in 0..overlap {
            if new[last.scan + forward - overlap + i] == old[last.pos + forward - overlap + i] {
                score += 1;
            }
            if new[next.scan - backward + i] == old[next.pos - backward + i] {
                score -= 1;
            }
            if score > best {
                best = score;
                keep = i + 1;
            }
        }
        forward = forward + keep - overlap;
        backward -= keep;
    }
    let literal = next.scan - backward - (last.scan + forward);
    let seek = next.pos as i64 - backward as i64 - (last.pos + forward) as i64;
    out.extend_from_slice(&(forward as u64).to_le_bytes());
    out.extend_from_slice(&(literal as u64).to_le_bytes());
    out.extend_from_slice(&sign_magnitude(seek).to_le_bytes());
    out.extend(new[last.scan..last.scan + forward].iter().zip(&old[last.pos..]).map(|(n, o)| n.wrapping_sub(*o)));
    out.extend_from_slice(&new[last.scan + forward..last.scan + forward + literal]);
    *last = Alignment { scan: next.scan - backward, pos: next.pos - backward };
}

/// How far the last alignment reaches forwards: the length where twice the
/// matching bytes minus the length is largest.
fn extend_forward(old: &[u8], new: &[u8], last: Alignment, until: usize) -> usize {
    let (mut score, mut best, mut len) = (0isize, 0isize, 0usize);
    let mut i = 0usize;
    while last.scan + i < until && last.pos + i < old.len() {
        if old[last.pos + i] == new[last.scan + i] {
            score += 1;
        }
        i += 1;
        if score * 2 - i as isize > best * 2 - len as isize {
            best = score;
            len = i;
        }
    }
    len
}

/// How far the next alignment reaches backwards, by the same measure.
fn extend_backward(old: &[u8], new: &[u8], last: Alignment, next: Step) -> usize {
    let (mut score, mut best, mut len) = (0isize, 0isize, 0usize);
    let mut i = 1usize;
    while next.scan >= last.scan + i && next.pos >= i {
        if old[next.pos - i] == new[next.scan - i] {
            score += 1;
        }
        if score * 2 - i as isize > best * 2 - len as isize {
            best = score;
            len = i;
        }
        i += 1;
    }
    len
}

fn sign_magnitude(x: i64) -> u64 {
    if x >= 0 {
        x as u64
    } else {
        x.unsigned_abs() | (1 << 63)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn noise(n: usize, seed: u64) -> Vec<u8> {
        crate::test_bytes::xorshift_bytes(n, seed, |x| (x >> 24) as u8)
    }

    fn roundtrip(old: &[u8], new: &[u8]) -> usize {
        let mut patch = Vec::new();
        Differ::new().diff(old, new, &mut patch);
        let mut out = Vec::new();
        bsdiff::patch(old, &mut patch.as_slice(), &mut out).unwrap();
        assert!(out == new, "patch does not reproduce the new data");
        patch.len()
    }

    #[test]
    fn patches_apply_with_the_bsdiff_crate() {
        let old = noise(300_000, 3);
        let mut new = old.clone();
        new.splice(1000..1000, noise(5000, 9));
        new.drain(200_000..210_000);
        for i in (0..new.len()).step_by(997) {
            new[i] = new[i].wrapping_add(3);
        }
        new.extend_from_slice(&old[10_000..40_000]);
        roundtrip(&old, &new);
        roundtrip(&old, &[]);
        roundtrip(&[], &new[..100]);
        roundtrip(&old[..5], &new[..7]);
        roundtrip(&vec![0u8; 100_000], &vec![0u8; 120_000]);
    }

    #[test]
    fn a_shifted_copy_with_edits_costs_little_besides_its_zeros() {
        let old = noise(1 << 20, 5);
        let mut new = old[4096..].to_vec();
        for i in (0..new.len()).step_by(4096) {
            new[i] ^= 0x55;
        }
        let mut patch = Vec::new();
        Differ::new().diff(&old, &new, &mut patch);
        let compressed = zstd::bulk::compress(&patch, 19).unwrap();
        assert!(compressed.len() < 4096, "{} bytes", compressed.len());
    }
}
