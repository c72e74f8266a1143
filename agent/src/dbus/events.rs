//! What worker threads tell the bus side: property changes and signals. One
//! async task ([`super::service::pump`]) turns them into D-Bus messages, so
//! blocking code never waits on the bus.

use super::prompts::PromptSpec;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// These properties changed (names as on the bus).
    Changed(&'static [&'static str]),
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
