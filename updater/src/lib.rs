//! fotad-updater: signed `.fota` packages, their builder, and the streaming
//! installer that writes them into the inactive slot.

pub mod atomic_file;
pub mod boot;
pub mod cli_slots;
pub mod config;
pub mod lifecycle;
pub mod slot;
pub mod slot_record;
