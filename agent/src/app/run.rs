//! The busy slot: at most one run at a time, what it is doing (the source of
//! the D-Bus `State` and `Progress` and of `STATUS=`), and its cancel token.
//! A [`Run`] holds the slot; when it ends (dropped, also by a panic) its
//! token is cancelled, the slot is freed and the end is announced.

use std::fmt;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use fotad_updater::sync::{lock, wait_timeout};

use super::agent::Agent;
use super::events::{Event, Finished};
use super::work::Work;
use crate::cancel::CancelToken;
use crate::i18n::Msg;

/// What the agent does, as the outside sees it (the D-Bus `State`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    Idle,
    /// In a DM session (or about to start one).
    Checking,
    AwaitingConsent,
    Deferred,
    /// Downloading, writing, verifying or activating.
    Installing,
    /// Asked to stop; stops at the next checkpoint.
    Cancelling,
}

impl Activity {
    /// The name on the bus.
    pub fn as_str(self) -> &'static str {
        match self {
            Activity::Idle => "idle",
            Activity::Checking => "checking",
            Activity::AwaitingConsent => "awaiting-consent",
            Activity::Deferred => "deferred",
            Activity::Installing => "installing",
            Activity::Cancelling => "cancelling",
        }
    }

    /// The status line in the catalog.
    pub fn message(self) -> Msg {
        match self {
            Activity::Idle => Msg::StateIdle,
            Activity::Checking => Msg::StateChecking,
            Activity::AwaitingConsent => Msg::StateAwaitingConsent,
            Activity::Deferred => Msg::StateDeferred,
            Activity::Installing => Msg::StateInstalling,
            Activity::Cancelling => Msg::StateCancelling,
        }
    }
}

impl fmt::Display for Activity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A catalog message with its arguments, shown in the UI's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub msg: Msg,
    pub args: Vec<String>,
}

/// How far the run is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub percent: u32,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub note: Option<Note>,
}

/// What the outside sees of the agent now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub activity: Activity,
    /// The running work (`check`, `notify`, `install`, ...), if any.
    pub job: Option<&'static str>,
    pub progress: Progress,
}

/// Why [`Agent::submit`] did not start a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("another run ({job}) is {activity}; wait for it to end or cancel it")]
    Busy { job: &'static str, activity: Activity },
    #[error("the agent is stopping")]
    Closed,
}

/// Whether [`Agent::submit`] waits for the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Refuse with [`Refused::Busy`] (a UI's call).
    No,
    /// Wait until the running run ends (the schedule, a push, the SIM).
    UntilFree,
}

/// The running run, as the slot keeps it.
#[derive(Debug)]
struct Current {
    job: &'static str,
    activity: Activity,
    progress: Progress,
    cancel: CancelToken,
}

#[derive(Debug, Default)]
struct SlotState {
    current: Option<Current>,
    closed: bool,
}

/// The one busy slot of an agent.
#[derive(Debug, Default)]
pub(super) struct Slot {
    state: Mutex<SlotState>,
    changed: Condvar,
}

impl Slot {
    /// Takes the slot for `job`, waiting as `wait` says; returns the run's token.
    pub(super) fn take(&self, job: &'static str, first: Activity, wait: Wait) -> Result<CancelToken, Refused> {
        let mut s = lock(&self.state);
        loop {
            if s.closed {
                return Err(Refused::Closed);
            }
            match (&s.current, wait) {
                (None, _) => break,
                (Some(c), Wait::No) => return Err(Refused::Busy { job: c.job, activity: c.activity }),
                (Some(_), Wait::UntilFree) => s = wait_timeout(&self.changed, s, Duration::from_secs(1)),
            }
        }
        let cancel = CancelToken::new();
        s.current = Some(Current { job, activity: first, progress: Progress::default(), cancel: cancel.clone() });
        Ok(cancel)
    }

    fn free(&self) {
        lock(&self.state).current = None;
        self.changed.notify_all();
    }

    pub(super) fn status(&self) -> Status {
        let s = lock(&self.state);
        match &s.current {
            None => Status { activity: Activity::Idle, job: None, progress: Progress::default() },
            Some(c) => Status { activity: c.activity, job: Some(c.job), progress: c.progress.clone() },
        }
    }

    /// Sets the running run's activity (a cancelled run stays cancelling);
    /// true when it changed.
    pub(super) fn set_activity(&self, activity: Activity) -> bool {
        let mut s = lock(&self.state);
        let Some(c) = s.current.as_mut() else { return false };
        let next = if c.cancel.is_cancelled() { Activity::Cancelling } else { activity };
        std::mem::replace(&mut c.activity, next) != next
    }

    pub(super) fn set_progress(&self, progress: Progress) {
        if let Some(c) = lock(&self.state).current.as_mut() {
            c.progress = progress;
        }
    }

    /// Cancels the running run; `false` when none runs.
    pub(super) fn cancel(&self) -> bool {
        let mut s = lock(&self.state);
        let Some(c) = s.current.as_mut() else { return false };
        c.cancel.cancel();
        c.activity = Activity::Cancelling;
        true
    }

    /// Refuses new runs from now on and cancels the running one; true when one runs.
    pub(super) fn close(&self) -> bool {
        let mut s = lock(&self.state);
        s.closed = true;
        let running = s.current.as_ref().map(|c| c.cancel.cancel()).is_some();
        drop(s);
        self.changed.notify_all();
        running
    }

    pub(super) fn is_closed(&self) -> bool {
        lock(&self.state).closed
    }

    /// Waits until no run holds the slot, at most `timeout`; true when free.
    pub(super) fn wait_free(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut s = lock(&self.state);
        while s.current.is_some() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            s = wait_timeout(&self.changed, s, left);
        }
        true
    }

    /// Sleeps `d`, waking early when the agent closes; false when closed.
    pub(super) fn sleep_unless_closed(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut s = lock(&self.state);
        while !s.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            s = wait_timeout(&self.changed, s, left);
        }
        false
    }
}

/// A run holding the agent's busy slot, from [`Agent::submit`]. Do the
/// work with [`Run::execute`]; the run ends when this is dropped.
#[must_use = "a run holds the busy slot until it is executed or dropped"]
pub struct Run {
    pub(super) agent: Arc<Agent>,
    pub(super) work: Option<Work>,
    pub(super) cancel: CancelToken,
    /// Announced after the slot is free.
    pub(super) finished: Option<Finished>,
}

impl fmt::Debug for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run").field("job", &self.work.as_ref().map(Work::job)).finish_non_exhaustive()
    }
}

impl Run {
    /// The run's cancel token.
    pub fn cancel_token(&self) -> &CancelToken {
        &self.cancel
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        self.cancel.cancel();
        self.agent.slot.free();
        self.agent.emit(&Event::Activity(Activity::Idle));
        self.agent.emit(&Event::System);
        if let Some(f) = self.finished.take() {
            self.agent.emit(&Event::Finished(f));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_call_is_refused_while_a_run_holds_the_slot_and_background_work_waits_for_it() {
        let slot = Arc::new(Slot::default());
        let first = slot.take("check", Activity::Checking, Wait::No).unwrap();
        assert_eq!(
            slot.take("install", Activity::Installing, Wait::No).err(),
            Some(Refused::Busy { job: "check", activity: Activity::Checking })
        );
        let waiting = Arc::clone(&slot);
        let background = std::thread::spawn(move || waiting.take("resume", Activity::Checking, Wait::UntilFree));
        std::thread::sleep(Duration::from_millis(100));
        assert!(!background.is_finished(), "background work did not wait for the running run");
        slot.free();
        let second = background.join().unwrap().unwrap();
        assert_eq!(slot.status().job, Some("resume"));
        assert!(!first.is_cancelled() && !second.is_cancelled());
    }

    #[test]
    fn cancel_reaches_whatever_run_holds_the_slot_and_the_next_run_has_a_fresh_token() {
        let slot = Slot::default();
        assert!(!slot.cancel(), "nothing to cancel");
        let background = slot.take("sim-session", Activity::Installing, Wait::UntilFree).unwrap();
        assert!(slot.cancel());
        assert!(background.is_cancelled());
        assert_eq!(slot.status().activity, Activity::Cancelling);
        assert!(!slot.set_activity(Activity::Installing), "a cancelled run stays cancelling");
        slot.free();
        assert_eq!(slot.status().activity, Activity::Idle);
        let next = slot.take("sim-session", Activity::Checking, Wait::No).unwrap();
        assert!(!next.is_cancelled());
    }

    #[test]
    fn closing_cancels_the_run_and_refuses_new_ones() {
        let slot = Slot::default();
        let running = slot.take("check", Activity::Checking, Wait::No).unwrap();
        assert!(slot.close());
        assert!(running.is_cancelled());
        slot.free();
        assert_eq!(slot.take("resume", Activity::Checking, Wait::UntilFree).err(), Some(Refused::Closed));
        assert!(!slot.sleep_unless_closed(Duration::from_secs(5)), "a closed agent does not sleep");
    }
}
