//! Shared helpers for fotad's integration tests, the test DM server and the demo.

pub mod agent_rig;
pub mod bus;
pub mod device;
pub mod faultproxy;
pub mod images;
pub mod nginx;
pub mod pcscd;
pub mod qemu;
pub mod testserver;
pub mod vsim;
