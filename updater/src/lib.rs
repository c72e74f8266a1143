//! fotad-updater: signed `.fota` packages, their builder, and the streaming
//! installer that writes them into the inactive slot.

pub mod atomic_file;
pub mod boot;
pub mod cli;
pub mod config;
pub mod delta;
pub mod error;
pub mod install;
pub mod lifecycle;
pub mod ops;
pub mod package;
pub mod slot;
pub mod sync;
#[cfg(test)]
mod test_bytes;
pub mod text;
pub mod update;

pub use error::{ErrorKind, InstallError};
