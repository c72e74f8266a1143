//! FUMO (OMA Firmware Update Management Object 1.0): the management object,
//! the job records accepted by Exec and the runner that carries them out
//! through the updater's pipeline, their Generic Alert reports, the result
//! codes with their one mapping table, and the legacy firmware-update commands.

pub mod crash;
pub mod exec;
pub mod legacy;
mod migrate;
pub mod mo;
pub mod result;
pub mod runner;
pub mod state;
pub mod store;
pub mod vendor;

pub use exec::FumoExec;
pub use legacy::{install_legacy, Legacy};
pub use migrate::Activation;
pub use mo::{install_fumo, FUMO_TYPE};
pub use result::FumoResult;
pub use runner::{JobEnd, Runner, RunnerError, Step, MAX_PANICS};
pub use state::FumoState;
pub use store::{Ended, FumoStore, IllegalStep, Instance, Job, JobState, Operation, Ready, StoreError};
