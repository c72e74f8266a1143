//! What a caller of [`super::Device`] sees while it works: narration,
//! download progress and the FUMO state. The daemon forwards them to D-Bus
//! properties and its log; `fotad --once` prints them.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::download::DownloadProgress;

pub trait Observer: Sync {
    /// One line of narration (never a secret).
    fn say(&self, line: &str);
    fn progress(&self, p: DownloadProgress);
    /// The FUMO state node of the A/B instance (10–100).
    fn fumo_state(&self, state: u16);
    /// The device's language as the UI set it.
    fn language(&self) -> String {
        String::from("en")
    }
    /// The running job's cancel flag, for a UI's `Cancel`.
    fn cancel_with(&self, _flag: Arc<AtomicBool>) {}
    /// Whether the device may reboot into the activated slot now (blocks
    /// while a user decides or a maintenance window is awaited).
    fn may_reboot(&self) -> bool {
        true
    }
}

/// Sees nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;

impl Observer for Quiet {
    fn say(&self, _: &str) {}
    fn progress(&self, _: DownloadProgress) {}
    fn fumo_state(&self, _: u16) {}
}

/// Prints narration and each percent of progress to standard error, for `fotad --once`
/// and the journal.
#[derive(Debug, Default)]
pub struct Log {
    last_percent: std::sync::atomic::AtomicU8,
    last_state: std::sync::atomic::AtomicU16,
}

impl Observer for Log {
    fn say(&self, line: &str) {
        eprintln!("fotad: {line}");
    }

    fn progress(&self, p: DownloadProgress) {
        use std::sync::atomic::Ordering;
        if self.last_percent.swap(p.percent, Ordering::Relaxed) != p.percent {
            eprintln!("fotad: download: {}% ({} of {} bytes)", p.percent, p.bytes_done, p.bytes_total);
        }
    }

    fn fumo_state(&self, state: u16) {
        use std::sync::atomic::Ordering;
        if self.last_state.swap(state, Ordering::Relaxed) != state {
            eprintln!("fotad: FUMO state {state}");
        }
    }
}
