//! fotad: the OMA DM 1.2 / FUMO device update agent.
//!
//! The daemon (`fotad`) and the D-Bus client (`fotactl`) are thin binaries over
//! this library. Modules are added here as the agent grows (see
//! `docs/architecture.md`).

pub mod auth;
pub mod client;
pub mod config;
pub mod ctl;
pub mod dbus;
pub mod device;
pub mod download;
pub mod fumo;
pub mod http_client;
pub mod i18n;
pub mod logging;
pub mod mo;
pub mod notification;
pub mod session;
pub mod sim;
pub mod state;
pub mod status;
pub mod syncml;
pub mod transport;
pub mod tree;
pub mod wap_push;
