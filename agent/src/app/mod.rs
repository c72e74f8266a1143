//! The agent: one owner for every run.
//!
//! Every run — a D-Bus call, a scheduled check, the resume after a boot, a
//! WAP push over UDP, a session the SIM asks for, `InstallFile`,
//! `fotad --once` — goes through [`Agent::submit`] with a [`Work`]: it takes
//! the one busy slot (or says what holds it) and creates the run's one
//! [`CancelToken`](crate::cancel::CancelToken), cancelled when the run ends.
//! What the outside sees — the D-Bus `State` and `Progress`, `STATUS=` for
//! systemd, the FUMO state — is derived from the running run and the job
//! records ([`Agent::status`], [`Agent::fumo_state`]) and announced as
//! [`Event`]s; nothing keeps a copy beside them.
//!
//! Order of every run: finish the jobs already accepted (a restart or a
//! reboot resumes them and learns the outcome of an activated slot), then
//! deliver the pending reports, then the work itself. A report leaves the
//! queue only when the server acknowledged it.
//!
//! Here too: consent ([`consent`]), the reboot ([`reboot`]), the background
//! schedule with the UDP and SIM triggers ([`background`]), and the settings.

mod agent;
pub mod background;
pub mod consent;
mod events;
mod frontend;
mod install;
mod jobs;
pub mod reboot;
mod run;
pub mod service_settings;
pub mod settings;
mod work;

pub use agent::{Agent, Options, Sessions, System};
pub use events::{Event, Finished};
pub use frontend::{ConsentReply, Frontend, Unattended};
pub use run::{Activity, Note, Progress, Refused, Run, Status, Wait};
pub use settings::Settings;
pub use work::{CheckKind, Outcome, RunEnd, Work, DEVICE_REQUEST, USER_REQUEST};
