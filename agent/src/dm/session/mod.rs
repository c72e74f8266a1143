//! The OMA DM 1.2 client session: package 1, authentication both ways,
//! server commands, multi-message packages, large objects, generic alerts and
//! user-interaction alerts. Blocking; run it on a dedicated thread.

mod alerts;
mod commands;
mod engine;
mod handler;
mod large;
mod outbox;
mod phase;
mod start;
mod ui;

use std::path::PathBuf;
use std::time::Duration;

pub use alerts::{AlertQueue, QueuedAlert, ALERT_CLIENT_EVENT, ALERT_GENERIC};
pub use handler::{ExecHandler, ExecRequest, FirmwareReply, FirmwareRequest, NoExec};
pub use phase::{Phase, PhaseError};
pub use start::{accept_notification, NotificationDecision, NotifyError};
pub use ui::{
    default_answer, default_for_ui, unanswered, DefaultAnswers, NoUi, Prompt, PromptKind, UiAnswer, UiOptions,
    UserInteraction,
};

use crate::dm::auth::NonceStore;
use crate::dm::mo::DmAccount;
use crate::dm::syncml::{Codec, SyncmlError};
use crate::dm::transport::{Transport, TransportError};
use crate::dm::tree::{Tree, TreeError};
use crate::state_file::StateError;

/// Alert 1200: server-initiated session.
pub const ALERT_SERVER_INITIATED: u32 = 1200;
/// Alert 1201: client-initiated session.
pub const ALERT_CLIENT_INITIATED: u32 = 1201;

/// Why a session starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// Client-initiated (Alert 1201): a schedule, a UI request, a pending alert.
    Client,
    /// Server-initiated (Alert 1200) with the SessionID from package #0.
    Server { session_id: String },
}

/// Device-side settings of a session.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    pub device_id: String,
    pub codec: Codec,
    pub max_msg_size: u64,
    pub max_obj_size: u64,
    /// Where large objects are assembled (`<state_dir>/objects`).
    pub objects_dir: PathBuf,
    /// End the session after this many messages, not counting those that
    /// carry a chunk of a large object (a misbehaving server).
    pub max_messages: u32,
    /// End the session once it has lasted this long, however slowly the
    /// server answers (`[dm] max_session_secs`).
    pub max_duration: Duration,
    /// Alert types whose default response answers when no person did
    /// (`[dm] ui_default_answers`; none by default: 408).
    pub default_answers: DefaultAnswers,
}

/// Everything a session works with. Other modules hook in through `ui`,
/// `exec` and `alerts`.
pub struct SessionContext<'a> {
    pub tree: &'a mut Tree,
    pub account: DmAccount,
    pub nonces: &'a mut NonceStore,
    pub transport: &'a mut dyn Transport,
    pub ui: &'a dyn UserInteraction,
    pub exec: &'a mut dyn ExecHandler,
    pub alerts: AlertQueue,
    pub options: SessionOptions,
}

impl std::fmt::Debug for SessionContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionContext")
            .field("account", &self.account.server_id)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// What a finished session did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionReport {
    pub session_id: String,
    pub messages_sent: u32,
    /// Queued alerts the server acknowledged (removed from the queue).
    pub alerts_acked: Vec<u64>,
    /// The server ended the session with Alert 1223.
    pub aborted_by_server: bool,
}

/// Session failures, naming the server or URL concerned.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("server {url} answered HTTP {status}")]
    HttpStatus { url: String, status: u16 },
    #[error("message from {url} is malformed: {source}")]
    Malformed { url: String, source: SyncmlError },
    #[error("server {url} speaks {ver_proto} with DTD {ver_dtd}, not DM 1.x")]
    Protocol { url: String, ver_proto: String, ver_dtd: String },
    #[error("encoding our message failed: {0}")]
    Encode(SyncmlError),
    #[error("our next message would be {size} bytes, over the {limit}-byte MaxMsgSize; not sent")]
    MessageTooLarge { size: usize, limit: usize },
    #[error("server {server_id} refused our credentials")]
    ClientAuthFailed { server_id: String },
    #[error("server {server_id} failed authentication (no command executed)")]
    ServerAuthFailed { server_id: String },
    #[error("session with {server_id} exceeded {max} messages (the [dm] max_session_messages limit); session aborted")]
    TooManyMessages { server_id: String, max: u32 },
    #[error("session with {server_id} lasted longer than {max:?} (the [dm] max_session_secs limit); session aborted")]
    TooLong { server_id: String, max: Duration },
    #[error("message from {url} is not part of this session: {reason}; session aborted, no command executed")]
    Unbound { url: String, reason: String },
    #[error("account {server_id} has no client credentials or address")]
    Account { server_id: String },
    #[error(transparent)]
    Tree(#[from] TreeError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Phase(#[from] PhaseError),
}

/// Runs one DM session to its end.
pub fn run_session(ctx: SessionContext<'_>, trigger: &Trigger) -> Result<SessionReport, SessionError> {
    engine::Engine::new(ctx, trigger)?.run()
}
