//! Exponential backoff between reconnections: doubles from a minimum up to a
//! cap, with "equal jitter" (half fixed, half random) so that many devices cut
//! off together do not come back in lockstep.

use std::time::Duration;

/// The delay before the next attempt.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff { min, max: max.max(min), current: min }
    }

    /// The delay to wait now (in `[current/2, current]`); the next one doubles, up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.current;
        self.current = (self.current * 2).min(self.max);
        let half = base / 2;
        half + half.mul_f64(random_unit())
    }

    /// Back to the minimum, after an attempt that made progress.
    pub fn reset(&mut self) {
        self.current = self.min;
    }
}

/// A uniform number in [0, 1] from the OS random source (0.5 if it fails).
fn random_unit() -> f64 {
    let mut b = [0u8; 4];
    match getrandom::getrandom(&mut b) {
        Ok(()) => f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX),
        Err(_) => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_with_jitter_and_reset() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(800));
        let bounds = [100, 200, 400, 800, 800, 800];
        for max in bounds {
            let d = b.next_delay();
            assert!(d >= Duration::from_millis(max / 2) && d <= Duration::from_millis(max), "{d:?} vs {max}");
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
