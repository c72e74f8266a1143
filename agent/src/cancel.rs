//! A run's cancel token: one per run of the agent, checked by the run's steps
//! at their checkpoints (the download, the installer, consent waits, the job
//! loop). The run cancels it when it ends, so nothing it started outlives it,
//! and the next run starts with a fresh one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// The flag itself, for the updater's installer (it stops at the next
    /// checkpoint when the flag is set).
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.0)
    }

    /// Sleeps `total` in short steps; false when cancelled meanwhile.
    pub fn sleep(&self, total: Duration) -> bool {
        let step = Duration::from_millis(200);
        let mut left = total;
        while !left.is_zero() {
            if self.is_cancelled() {
                return false;
            }
            let d = left.min(step);
            std::thread::sleep(d);
            left -= d;
        }
        !self.is_cancelled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::redundant_clone)] // a clone shares the flag: that is what is tested
    fn a_token_and_its_flag_are_one_and_a_new_token_is_not_cancelled() {
        let t = CancelToken::new();
        let flag = t.flag();
        assert!(!t.is_cancelled() && t.sleep(Duration::from_millis(10)));
        let other = t.clone();
        other.cancel();
        assert!(t.is_cancelled() && flag.load(Ordering::SeqCst));
        assert!(!t.sleep(Duration::from_secs(5)), "a cancelled token does not sleep");
        assert!(!CancelToken::new().is_cancelled());
    }
}
