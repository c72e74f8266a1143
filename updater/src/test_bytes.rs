//! Deterministic pseudo-random bytes for the unit tests.

/// `n` bytes from the xorshift64 sequence seeded by `seed`, each state mapped
/// through `byte`.
pub(crate) fn xorshift_bytes(n: usize, seed: u64, byte: impl Fn(u64) -> u8) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            byte(x)
        })
        .collect()
}
