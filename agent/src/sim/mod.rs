//! The SIM over PC/SC: identity (ICCID, IMSI, MSISDN), PIN, the operator
//! update gate (EF_FOTA), SIM-change alerts and SIM-initiated DM sessions
//! (CAT proactive commands). See docs/sim.md and docs/config-sim.md.
//!
//! All PC/SC work runs on one dedicated thread (`worker`); the rest of the
//! agent holds a [`SimHandle`]: `snapshot()`, `enter_pin()`,
//! `check_package()`, and receives [`SessionRequest`]s through the
//! `SimDeps::start_session` callback.

pub mod apdu;
mod card;
pub mod cat;
pub mod decode;
mod error;
pub mod files;
pub mod gate;
mod handle;
pub mod identity;
pub mod pin;
mod proactive;
pub mod settings;
pub mod snapshot;
mod worker;

pub use error::SimError;
pub use gate::{decide, GateRefusal, GateState, NoSimPolicy};
pub use handle::{SessionReply, SessionRequest, SessionStarter, SimDeps, SimHandle};
pub use identity::{Identity, SIM_CHANGE_TYPE};
pub use pin::PinState;
pub use settings::{SimFragment, SimSettings, SimSettingsError};
pub use snapshot::SimSnapshot;
