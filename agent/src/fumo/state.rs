//! The values of the FUMO State node (10–100). An instance's state is
//! computed from its job records (`store.rs`), not kept beside them.

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

    /// States in which a new Download/DownloadAndUpdate may begin: idle, or a
    /// finished (reported) previous job.
    pub fn accepts_new_job(self) -> bool {
        use FumoState::*;
        matches!(self, Idle | DownloadFailed | UpdateFailedNoData | UpdateSuccessfulNoData | UpdateSuccessfulHaveData)
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
    use super::*;

    #[test]
    fn state_codes_round_trip_and_unknown_codes_are_refused() {
        for code in (10..=100).step_by(10) {
            assert_eq!(FumoState::try_from(code).unwrap().code(), code);
        }
        assert!(FumoState::try_from(55).is_err());
    }
}
