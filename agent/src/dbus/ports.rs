//! The SIM as the D-Bus service sees it (a seam: tests put a fake SIM here).

use std::sync::Arc;

use crate::sim::{PinState, SimHandle};

/// What the service knows of the SIM. Everyone sees `state` and
/// `pin_tries_left` (the `Sim` property); the identity (ICCID, IMSI, MSISDN
/// and the operator) only root and the UI group (`GetSimIdentity`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimSnapshot {
    /// `absent`, `pin-required`, `puk-required`, `ready`, `blocked` or `unknown`.
    pub state: String,
    /// The ICCID, empty when unknown.
    pub iccid: String,
    /// The IMSI, empty when unknown (before the PIN is entered).
    pub imsi: String,
    /// The MSISDN (own number), empty when unknown or not on the SIM.
    pub msisdn: String,
    /// MCC+MNC of the home network, empty when unknown.
    pub operator: String,
    /// PIN tries left, 0 when unknown.
    pub pin_tries_left: u32,
}

/// The SIM as the D-Bus service needs it. Blocking; called from a worker thread.
pub trait SimPort: Send + Sync {
    fn snapshot(&self) -> SimSnapshot;
    /// Verifies the PIN; `Ok(tries left)` after a correct PIN, `Err(reason)`
    /// otherwise (the reason must not contain the PIN).
    fn enter_pin(&self, pin: &str) -> Result<u32, String>;
}

/// No SIM reader on this device.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoSim;

impl SimPort for NoSim {
    fn snapshot(&self) -> SimSnapshot {
        SimSnapshot { state: "absent".into(), ..SimSnapshot::default() }
    }
    fn enter_pin(&self, _: &str) -> Result<u32, String> {
        Err("this device has no SIM reader".into())
    }
}

/// The agent's SIM.
#[derive(Debug)]
pub struct DeviceSim(pub Arc<SimHandle>);

impl SimPort for DeviceSim {
    fn snapshot(&self) -> SimSnapshot {
        let s = self.0.snapshot();
        let state = match (s.present, s.pin) {
            (false, _) => "absent",
            (true, Some(PinState::Required { .. })) => "pin-required",
            (true, Some(PinState::Blocked)) => "blocked",
            (true, Some(PinState::NotRequired | PinState::Verified)) => "ready",
            (true, None) => "unknown",
        };
        SimSnapshot {
            state: state.into(),
            iccid: s.iccid.clone().unwrap_or_default(),
            imsi: s.imsi.clone().unwrap_or_default(),
            msisdn: s.msisdn.clone().unwrap_or_default(),
            operator: s.imsi.as_deref().map(|i| i.chars().take(5).collect()).unwrap_or_default(),
            pin_tries_left: s.pin_tries().unwrap_or(0),
        }
    }

    fn enter_pin(&self, pin: &str) -> Result<u32, String> {
        self.0.enter_pin(pin)
    }
}

/// The SIM port for `agent`: its SIM, or none.
pub fn sim_of(agent: &crate::app::Agent) -> Arc<dyn SimPort> {
    match agent.sim() {
        Some(handle) => Arc::new(DeviceSim(handle)),
        None => Arc::new(NoSim),
    }
}
