//! fotad: the OMA DM 1.2 / FUMO device update agent.
//!
//! The daemon (`fotad`) and the D-Bus client (`fotactl`) are thin binaries over
//! this library. The layers and the main path are described in
//! `docs/architecture.md`.

pub mod ctl;
pub mod dbus;
pub mod device;
pub mod dm;
pub mod download;
pub mod fumo;
pub mod i18n;
pub mod logging;
pub mod sim;
pub mod state_file;
