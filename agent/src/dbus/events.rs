//! What the agent's runs and the prompts tell the bus side: property changes
//! and signals. One async task (`service::pump`) turns them into D-Bus
//! messages, so blocking code never waits on the bus.

use super::prompts::PromptSpec;
use crate::app::Activity;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// These properties changed (names as on the bus).
    Changed(&'static [&'static str]),
    /// The activity the agent moved to, for the service manager's `STATUS=`
    /// (carried here: by the time the event is handled it may have moved on).
    Status(Activity),
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
