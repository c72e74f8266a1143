//! Shared helpers for fotad's integration tests, the test DM server and the demo.

pub mod faultproxy;
pub mod images;
pub mod nginx;
pub mod testserver;
