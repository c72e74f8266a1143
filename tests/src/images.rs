//! Deterministic, filesystem-like test images for benchmarks and the demo:
//! a mix of incompressible blocks (binaries), text-like blocks and zero runs,
//! and "next versions" of them with moved, inserted and edited regions.

use std::io::{self, Write};

/// xorshift64*: fast deterministic bytes.
#[derive(Debug, Clone)]
pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Self {
        Noise(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

const BLOCK: usize = 64 << 10;

/// Writes an image of `size` bytes: per 64 KiB block, 25% random, 50% text-like, 25% zeros.
pub fn write_image(out: &mut impl Write, size: u64, seed: u64) -> io::Result<()> {
    let mut rng = Noise::new(seed);
    let words: Vec<Vec<u8>> = (0..4096)
        .map(|_| {
            let len = 2 + (rng.next_u64() % 10) as usize;
            (0..len).map(|_| b'a' + (rng.next_u64() % 26) as u8).collect()
        })
        .collect();
    let mut block = vec![0u8; BLOCK];
    let mut written = 0u64;
    while written < size {
        match rng.next_u64() % 4 {
            0 => rng.fill(&mut block),
            1 => block.fill(0),
            _ => fill_text(&mut block, &words, &mut rng),
        }
        let n = (size - written).min(BLOCK as u64) as usize;
        out.write_all(&block[..n])?;
        written += n as u64;
    }
    Ok(())
}

fn fill_text(block: &mut [u8], words: &[Vec<u8>], rng: &mut Noise) {
    let mut i = 0;
    while i < block.len() {
        let w = &words[(rng.next_u64() % words.len() as u64) as usize];
        let n = w.len().min(block.len() - i);
        block[i..i + n].copy_from_slice(&w[..n]);
        i += n;
        if i < block.len() {
            block[i] = if rng.next_u64() % 12 == 0 { b'\n' } else { b' ' };
            i += 1;
        }
    }
}

/// The next version of `old`, as an update changes a root filesystem: every
/// 32 MiB a 256 KiB region is replaced by new content and 16 KiB inserted
/// (shifting everything after it), a 1 MiB region is moved elsewhere, and
/// scattered single bytes change (about one per 64 KiB). Same size as `old`.
pub fn evolve(old: &[u8], seed: u64) -> Vec<u8> {
    let mut rng = Noise::new(seed);
    let mut new = Vec::with_capacity(old.len() + (1 << 20));
    let stride = 32 << 20;
    for (i, part) in old.chunks(stride).enumerate() {
        let mut part = part.to_vec();
        if part.len() > 2 << 20 {
            let at = (rng.next_u64() as usize) % (part.len() - (1 << 20));
            let end = at + (256 << 10).min(part.len() - at);
            rng.fill(&mut part[at..end]);
            let mut inserted = vec![0u8; 16 << 10];
            rng.fill(&mut inserted);
            let at = (rng.next_u64() as usize) % part.len();
            part.splice(at..at, inserted);
            if i % 2 == 1 {
                let from = (rng.next_u64() as usize) % (old.len() - (1 << 20));
                let to = (rng.next_u64() as usize) % (part.len() - (1 << 20));
                part[to..to + (1 << 20)].copy_from_slice(&old[from..from + (1 << 20)]);
            }
        }
        new.extend_from_slice(&part);
    }
    for _ in 0..old.len() / BLOCK {
        let at = (rng.next_u64() as usize) % new.len();
        new[at] = new[at].wrapping_add(1);
    }
    new.truncate(old.len());
    new
}
