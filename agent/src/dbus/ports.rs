//! The seams the lead glues other parts of the agent into: where an install
//! writes (slot resolution), the SIM, and the DM client.

use fotad_updater::install::{Installed, Installer};
use fotad_updater::update::SlotUpdate;

use crate::device::Observer;
use crate::dm::session::UserInteraction;

/// Where an `InstallFile` writes: an installer, and what to do after a
/// verified install (activate the slot).
pub trait InstallTarget {
    fn installer(&self) -> &Installer;
    /// Called after a verified install; `Err(reason)` fails the job.
    fn finish(self: Box<Self>, installed: &Installed) -> Result<(), String>;
}

/// The inactive slot: activated for trial boots after the install.
impl InstallTarget for SlotUpdate {
    fn installer(&self) -> &Installer {
        SlotUpdate::installer(self)
    }
    fn finish(self: Box<Self>, installed: &Installed) -> Result<(), String> {
        SlotUpdate::finish(*self, installed).map(|_| ()).map_err(|e| e.to_string())
    }
}

/// Plain targets (tests): nothing to do after the install.
impl InstallTarget for Installer {
    fn installer(&self) -> &Installer {
        self
    }
    fn finish(self: Box<Self>, _: &Installed) -> Result<(), String> {
        Ok(())
    }
}

/// Prepares the target of each `InstallFile` (the inactive slot; its installer
/// marks it bad right before the first write); an error says why no target is
/// available.
pub type InstallProvider = Box<dyn Fn() -> Result<Box<dyn InstallTarget>, String> + Send + Sync>;

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

/// How a DM job ended: a FUMO/DM result code and a message for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub code: u32,
    pub message: String,
}

/// The DM client as the D-Bus service drives it. Blocking; run in a worker
/// thread. `ui` turns the server's user-interaction alerts into `Prompt`
/// signals; `obs` takes progress and the FUMO state and lets `Cancel` reach
/// the running install.
pub trait DmPort: Send + Sync {
    /// A client-initiated session (`CheckForUpdate`).
    fn check(&self, ui: &dyn UserInteraction, obs: &dyn Observer) -> Result<Outcome, String>;
    /// A server-initiated session from a package #0 (`Notify`).
    fn notify(&self, package0: &[u8], ui: &dyn UserInteraction, obs: &dyn Observer) -> Result<Outcome, String>;
}

/// No DM server configured: checks fail with an explanation.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoDm;

impl DmPort for NoDm {
    fn check(&self, _: &dyn UserInteraction, _: &dyn Observer) -> Result<Outcome, String> {
        Err("no DM account is configured; add [[accounts]] to /etc/fotad/fotad.toml".into())
    }
    fn notify(&self, _: &[u8], _: &dyn UserInteraction, _: &dyn Observer) -> Result<Outcome, String> {
        Err("no DM account is configured; add [[accounts]] to /etc/fotad/fotad.toml".into())
    }
}
