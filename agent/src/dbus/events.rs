//! What worker threads tell the bus side: property changes and signals. One
//! async task ([`super::service::pump`]) turns them into D-Bus messages, so
//! blocking code never waits on the bus.

use super::prompts::PromptSpec;
use super::state::AgentState;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// These properties changed (names as on the bus).
    Changed(&'static [&'static str]),
    /// The state the agent moved to, for the service manager's `STATUS=`
    /// (carried here: by the time the event is handled the state may have moved on).
    Status(AgentState),
    Prompt {
        id: u32,
        spec: PromptSpec,
    },
    PromptClosed {
        id: u32,
        outcome: String,
    },
    Completed {
        job: String,
        code: u32,
        message: String,
    },
}
