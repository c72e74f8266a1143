//! Shared helpers for fotad's integration tests, the test DM server and the demo.

pub mod images;
