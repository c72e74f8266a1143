//! The FUMO State node (10–100) as a state machine: each event names a
//! transition, and one table says which events each state accepts.

use serde::{Deserialize, Serialize};

/// FUMO 1.0 states, with their node values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "u16", try_from = "u16")]
pub enum FumoState {
    Idle,
    DownloadFailed,
    DownloadProgressing,
    DownloadComplete,
    ReadyToUpdate,
    UpdateProgressing,
    UpdateFailedHaveData,
    UpdateFailedNoData,
    UpdateSuccessfulHaveData,
    UpdateSuccessfulNoData,
}

/// What happens to an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A Download or DownloadAndUpdate job starts fetching.
    DownloadStarted,
    DownloadFailed,
    /// The package is fetched and verified (Download alone ends in ReadyToUpdate).
    DownloadDone,
    /// The package is installed in the inactive slot and waits for activation.
    ReadyToUpdate,
    /// Activation and reboot began (Update or the second half of DownloadAndUpdate).
    UpdateStarted,
    /// The update failed; `have_data`: the package is still there for a retry.
    UpdateFailed {
        have_data: bool,
    },
    UpdateSucceeded {
        have_data: bool,
    },
    /// The result was reported and acknowledged, or the server reset the instance.
    Reset,
}

/// A transition the state machine does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("FUMO state {from:?} ({}) does not accept {event:?}", from.code())]
pub struct IllegalTransition {
    pub from: FumoState,
    pub event: Event,
}

impl FumoState {
    /// Every state, in code order.
    pub const ALL: [FumoState; 10] = [
        FumoState::Idle,
        FumoState::DownloadFailed,
        FumoState::DownloadProgressing,
        FumoState::DownloadComplete,
        FumoState::ReadyToUpdate,
        FumoState::UpdateProgressing,
        FumoState::UpdateFailedHaveData,
        FumoState::UpdateFailedNoData,
        FumoState::UpdateSuccessfulHaveData,
        FumoState::UpdateSuccessfulNoData,
    ];

    pub fn code(self) -> u16 {
        use FumoState::*;
        match self {
            Idle => 10,
            DownloadFailed => 20,
            DownloadProgressing => 30,
            DownloadComplete => 40,
            ReadyToUpdate => 50,
            UpdateProgressing => 60,
            UpdateFailedHaveData => 70,
            UpdateFailedNoData => 80,
            UpdateSuccessfulHaveData => 90,
            UpdateSuccessfulNoData => 100,
        }
    }

    /// Applies `event`, or refuses it.
    pub fn apply(self, event: Event) -> Result<FumoState, IllegalTransition> {
        use Event as E;
        use FumoState as S;
        let next = match (self, event) {
            (_, E::Reset) => S::Idle,
            (s, E::DownloadStarted) if s.accepts_new_job() => S::DownloadProgressing,
            (S::DownloadProgressing, E::DownloadFailed) => S::DownloadFailed,
            (S::DownloadProgressing, E::DownloadDone) => S::DownloadComplete,
            (S::DownloadComplete, E::ReadyToUpdate) => S::ReadyToUpdate,
            (S::ReadyToUpdate | S::UpdateFailedHaveData, E::UpdateStarted) => S::UpdateProgressing,
            (s, E::UpdateStarted) if s.accepts_new_job() => S::UpdateProgressing,
            (S::UpdateProgressing | S::DownloadComplete, E::UpdateFailed { have_data: true }) => {
                S::UpdateFailedHaveData
            }
            (S::UpdateProgressing | S::DownloadComplete, E::UpdateFailed { have_data: false }) => S::UpdateFailedNoData,
            (S::UpdateProgressing, E::UpdateSucceeded { have_data: true }) => S::UpdateSuccessfulHaveData,
            (S::UpdateProgressing, E::UpdateSucceeded { have_data: false }) => S::UpdateSuccessfulNoData,
            (from, event) => return Err(IllegalTransition { from, event }),
        };
        Ok(next)
    }

    /// States in which a new Download/DownloadAndUpdate may begin: idle, or a
    /// finished (reported) previous job.
    pub fn accepts_new_job(self) -> bool {
        use FumoState::*;
        matches!(self, Idle | DownloadFailed | UpdateFailedNoData | UpdateSuccessfulNoData | UpdateSuccessfulHaveData)
    }

    /// A job is running (a restart resumes it rather than starting another).
    pub fn is_busy(self) -> bool {
        matches!(self, FumoState::DownloadProgressing | FumoState::UpdateProgressing)
    }
}

impl From<FumoState> for u16 {
    fn from(s: FumoState) -> u16 {
        s.code()
    }
}

impl TryFrom<u16> for FumoState {
    type Error = String;
    fn try_from(code: u16) -> Result<Self, String> {
        FumoState::ALL.into_iter().find(|s| s.code() == code).ok_or_else(|| format!("{code} is not a FUMO state"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::{Event as E, FumoState as S, *};

    fn run(events: &[E]) -> Result<S, IllegalTransition> {
        events.iter().try_fold(S::Idle, |s, e| s.apply(*e))
    }

    #[test]
    fn download_and_update_walks_10_30_40_50_60_100() {
        let path = [E::DownloadStarted, E::DownloadDone, E::ReadyToUpdate, E::UpdateStarted];
        let mut s = S::Idle;
        let mut codes = vec![s.code()];
        for e in path.iter().chain([E::UpdateSucceeded { have_data: false }].iter()) {
            s = s.apply(*e).unwrap();
            codes.push(s.code());
        }
        assert_eq!(codes, [10, 30, 40, 50, 60, 100]);
    }

    #[test]
    fn failures_land_in_20_and_80() {
        assert_eq!(run(&[E::DownloadStarted, E::DownloadFailed]).unwrap().code(), 20);
        let failed = [
            E::DownloadStarted,
            E::DownloadDone,
            E::ReadyToUpdate,
            E::UpdateStarted,
            E::UpdateFailed { have_data: false },
        ];
        assert_eq!(run(&failed).unwrap().code(), 80);
    }

    #[test]
    fn illegal_moves_are_refused_with_an_error() {
        let err = run(&[E::DownloadDone]).unwrap_err();
        assert_eq!((err.from, err.event), (S::Idle, E::DownloadDone));
        assert!(run(&[E::DownloadStarted, E::DownloadStarted]).is_err(), "a second download while one runs");
        assert!(run(&[E::DownloadStarted, E::UpdateSucceeded { have_data: false }]).is_err());
    }

    #[test]
    fn state_codes_round_trip_and_unknown_codes_are_refused() {
        for code in (10..=100).step_by(10) {
            assert_eq!(S::try_from(code).unwrap().code(), code);
        }
        assert!(S::try_from(55).is_err());
    }
}
