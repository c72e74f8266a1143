//! The agent's state (the `State` property) as an enum with checked transitions.

use std::fmt;

use crate::i18n::Msg;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentState {
    Idle,
    Checking,
    AwaitingConsent,
    Deferred,
    Installing,
    Cancelling,
}

/// What moves the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    StartCheck,
    StartInstall,
    AskConsent,
    Defer,
    BeginWrite,
    Cancel,
    Finish,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{event:?} is not possible while the agent is {state}")]
pub struct IllegalTransition {
    pub state: AgentState,
    pub event: Transition,
}

impl AgentState {
    /// The next state, or an error naming the refused move.
    pub fn next(self, event: Transition) -> Result<AgentState, IllegalTransition> {
        use AgentState as S;
        use Transition as T;
        let next = match (event, self) {
            (T::StartCheck, S::Idle) => S::Checking,
            (T::StartInstall, S::Idle) => S::Installing,
            (T::AskConsent, S::Installing | S::Deferred) => S::AwaitingConsent,
            (T::Defer, S::AwaitingConsent | S::Installing) => S::Deferred,
            (T::BeginWrite, S::Checking | S::Installing | S::AwaitingConsent | S::Deferred) => S::Installing,
            (T::Cancel, S::Checking | S::AwaitingConsent | S::Deferred | S::Installing | S::Cancelling) => {
                S::Cancelling
            }
            (T::Finish, s) if s != S::Idle => S::Idle,
            (event, state) => return Err(IllegalTransition { state, event }),
        };
        Ok(next)
    }

    /// The name on the bus.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Idle => "idle",
            AgentState::Checking => "checking",
            AgentState::AwaitingConsent => "awaiting-consent",
            AgentState::Deferred => "deferred",
            AgentState::Installing => "installing",
            AgentState::Cancelling => "cancelling",
        }
    }

    /// The status line in the catalog.
    pub fn message(self) -> Msg {
        match self {
            AgentState::Idle => Msg::StateIdle,
            AgentState::Checking => Msg::StateChecking,
            AgentState::AwaitingConsent => Msg::StateAwaitingConsent,
            AgentState::Deferred => Msg::StateDeferred,
            AgentState::Installing => Msg::StateInstalling,
            AgentState::Cancelling => Msg::StateCancelling,
        }
    }
}

impl fmt::Display for AgentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn install_with_consent_and_defer() {
        let s = AgentState::Idle.next(Transition::StartInstall).unwrap();
        let s = s.next(Transition::AskConsent).unwrap();
        assert_eq!(s, AgentState::AwaitingConsent);
        let s = s.next(Transition::Defer).unwrap().next(Transition::AskConsent).unwrap();
        let s = s.next(Transition::BeginWrite).unwrap();
        assert_eq!(s.next(Transition::Finish).unwrap(), AgentState::Idle);
    }

    #[test]
    fn refuses_a_second_job_and_idle_cancel() {
        let busy = AgentState::Checking;
        assert_eq!(
            busy.next(Transition::StartInstall),
            Err(IllegalTransition { state: busy, event: Transition::StartInstall })
        );
        assert!(AgentState::Idle.next(Transition::Cancel).is_err());
        assert!(AgentState::Idle.next(Transition::Finish).is_err());
        assert!(AgentState::Checking.next(Transition::AskConsent).is_err());
    }
}
