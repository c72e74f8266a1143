//! FUMO (OMA Firmware Update Management Object 1.0): the management object,
//! its state machine, the jobs accepted by Exec, and their Generic Alert reports.

pub mod crash;
pub mod exec;
pub mod legacy;
pub mod mo;
pub mod runner;
pub mod state;
pub mod store;
pub mod vendor;

pub use exec::FumoExec;
pub use legacy::{install_legacy, Legacy};
pub use mo::{install_fumo, FUMO_TYPE};
pub use runner::{Runner, RunnerError, Step};
pub use state::{Event, FumoState, IllegalTransition};
pub use store::{Downloaded, FumoStore, Job, Operation, Phase, StoreError};
