//! What the agent announces to the outside (the D-Bus adapter turns these
//! into `PropertiesChanged`, `Completed` and `STATUS=`). Listeners are called
//! on the run's thread and must not block.

use super::run::Activity;

/// A run ended, as a UI is told (`Completed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// The work: `check`, `notify`, `install`, `resume`, `sim-session`.
    pub job: &'static str,
    /// A FUMO result code (200 when nothing failed).
    pub code: u32,
    /// For the user, in the device's language.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The agent's activity changed (to `Idle` when a run ended).
    Activity(Activity),
    /// The running run's progress changed.
    Progress,
    /// The FUMO state of the A/B instance changed (10–100).
    FumoState(u16),
    /// A run ended: the versions and slot states may have changed.
    System,
    /// A run ended with a result for the user (after the slot is free).
    Finished(Finished),
}

/// Called with every event.
pub type Listener = Box<dyn Fn(&Event) + Send + Sync>;
