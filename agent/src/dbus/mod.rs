//! The D-Bus service `org.fotad.Agent1` (contract: `dbus/org.fotad.Agent1.xml`)
//! and the daemon around it.
//!
//! The lead glues the agent's parts in through [`ServiceParts`]: an
//! [`InstallProvider`] (slot resolution), a [`SimPort`], a [`DmPort`] (the DM
//! client, handed the [`DbusUi`] bridge for user-interaction alerts), the
//! validated [`settings`] and an [`AccessPolicy`].

pub mod access;
pub mod bridge;
pub mod consent;
pub mod core;
pub mod daemon;
pub mod device;
pub mod error;
pub mod events;
pub mod interface;
pub mod jobs;
pub mod ports;
pub mod prompts;
pub mod service;
pub mod settings;
pub mod state;

pub use access::AccessPolicy;
pub use bridge::DbusUi;
pub use core::{Core, ServiceParts};
pub use error::AgentError;
pub use ports::{DmPort, InstallProvider, NoDm, NoSim, Outcome, SimPort, SimSnapshot};
pub use service::Service;

pub const BUS_NAME: &str = "org.fotad.Agent1";
pub const OBJECT_PATH: &str = "/org/fotad/Agent1";
pub const INTERFACE: &str = "org.fotad.Agent1";
