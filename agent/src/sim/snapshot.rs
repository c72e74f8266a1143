//! What the agent knows about the SIM right now; the D-Bus `Sim` property.

use serde::Serialize;

use super::apdu::Dialect;
use super::gate::GateState;
use super::pin::PinState;

/// A copy of the SIM state (cheap to clone, serializable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimSnapshot {
    pub present: bool,
    pub reader: Option<String>,
    pub dialect: Option<Dialect>,
    pub iccid: Option<String>,
    pub imsi: Option<String>,
    pub msisdn: Option<String>,
    /// `None` while no card is in.
    pub pin: Option<PinState>,
    pub gate: GateState,
    /// The last error reading the card (clear text, never the PIN).
    pub last_error: Option<String>,
    /// Bumped on every change, so watchers can tell updates apart.
    pub generation: u64,
}

impl Default for SimSnapshot {
    fn default() -> Self {
        SimSnapshot {
            present: false,
            reader: None,
            dialect: None,
            iccid: None,
            imsi: None,
            msisdn: None,
            pin: None,
            gate: GateState::NoSim,
            last_error: None,
            generation: 0,
        }
    }
}

impl SimSnapshot {
    /// The tries left when the PIN is required.
    pub fn pin_tries(&self) -> Option<u32> {
        match self.pin {
            Some(PinState::Required { tries }) => Some(tries),
            Some(PinState::Blocked) => Some(0),
            _ => None,
        }
    }
}
