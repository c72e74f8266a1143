//! The D-Bus adapter of the agent: the service `org.fotad.Agent1` (contract:
//! `dbus/org.fotad.Agent1.xml`) over an [`crate::app::Agent`]. Methods submit
//! runs to the agent, properties are read from it, its events become
//! signals; caller checks ([`access`]), prompts ([`prompts`], [`bridge`]) and
//! typed errors ([`error`]) are the adapter's own.

pub mod access;
pub mod bridge;
pub mod core;
pub mod error;
pub mod events;
pub mod interface;
pub mod ports;
pub mod prompts;
pub mod service;

pub use access::AccessPolicy;
pub use bridge::DbusUi;
pub use core::{Core, ServiceParts};
pub use error::AgentError;
pub use ports::{sim_of, DeviceSim, NoSim, SimPort, SimSnapshot};
pub use service::Service;

pub const BUS_NAME: &str = "org.fotad.Agent1";
pub const OBJECT_PATH: &str = "/org/fotad/Agent1";
pub const INTERFACE: &str = "org.fotad.Agent1";
