//! fotad: the OMA DM 1.2 / FUMO device update agent.
//!
//! The daemon (`fotad`) and the D-Bus client (`fotactl`) are thin binaries over
//! this library. The layers and the main path are described in
//! `docs/architecture.md`: [`app`] owns every run; [`dm`] is the protocol
//! stack, [`fumo`] the firmware update object and its jobs, [`download`] the
//! download agent, [`sim`] the SIM; [`dbus`] adapts the agent to D-Bus and
//! [`daemon`] is the process.

pub mod app;
pub mod cancel;
pub mod ctl;
pub mod daemon;
pub mod dbus;
pub mod dm;
pub mod download;
pub mod fumo;
pub mod i18n;
pub mod logging;
pub mod sim;
pub mod state_file;
