//! The person at the device, as a run reaches them: the D-Bus UI on a device
//! (`dbus::DbusUi`), nobody for `fotad --once` ([`Unattended`]).

use std::time::Duration;

use crate::dm::session::{Prompt, UiAnswer, UserInteraction};

/// An answer to a consent prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentReply {
    Accept,
    /// Later: after this long, or the configured `[ui] defer_secs`.
    Defer(Option<Duration>),
    /// No: the run ends cancelled.
    Refuse,
    /// Nobody answered in time: as a defer by the configured time.
    NoAnswer,
}

pub trait Frontend: Send + Sync {
    /// The DM session's user-interaction alerts go here.
    fn ui(&self) -> &dyn UserInteraction;
    /// The device's language now (consent texts, results).
    fn language(&self) -> String;
    /// Asks for consent with `text`, waiting at most `timeout` for an answer.
    fn ask_consent(&self, text: &str, timeout: Duration) -> ConsentReply;
}

/// Nobody to ask: prompts go unanswered (the session's defaults decide).
#[derive(Debug, Clone)]
pub struct Unattended {
    pub language: String,
}

impl UserInteraction for Unattended {
    fn prompt(&self, _: &Prompt) -> Option<UiAnswer> {
        None
    }
}

impl Frontend for Unattended {
    fn ui(&self) -> &dyn UserInteraction {
        self
    }

    fn language(&self) -> String {
        self.language.clone()
    }

    fn ask_consent(&self, _: &str, _: Duration) -> ConsentReply {
        ConsentReply::NoAnswer
    }
}
