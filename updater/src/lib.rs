//! fotad-updater: signed `.fota` packages, their builder, and the streaming
//! installer that writes them into the inactive slot.

pub mod cli;
pub mod delta;
pub mod error;
pub mod fsutil;
pub mod install;
pub mod ops;
pub mod package;

pub use error::InstallError;
