//! The typed errors of `org.fotad.Agent1` (names `org.fotad.Agent1.Error.*`).

use zbus::DBusError;

#[derive(Debug, DBusError)]
#[zbus(prefix = "org.fotad.Agent1.Error")]
pub enum AgentError {
    #[zbus(error)]
    ZBus(zbus::Error),
    /// Another job runs; wait for `Completed` or call `Cancel`.
    Busy(String),
    /// The caller lacks the uid or group the method needs.
    AccessDenied(String),
    /// No prompt with this id is open (answered, timed out or never asked).
    NoSuchPrompt(String),
    /// The answer does not fit the prompt (wrong action, choice out of range, too long).
    InvalidAnswer(String),
    /// An argument is malformed (language tag, path).
    InvalidArgs(String),
    /// Nothing to act on (no job running, no consent asked).
    NotPending(String),
    /// The operation failed; the message says why.
    Failed(String),
}
