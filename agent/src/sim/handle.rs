//! The handle the rest of the agent holds: a snapshot, PIN entry, the gate
//! check, stop. The PC/SC work happens on the worker thread; requests reach
//! it through a queue and wake it with `Context::cancel()`.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::cat::SyncRequest;
use super::error::SimError;
use super::gate::{self, GateRefusal, NoSimPolicy};
use super::settings::SimSettings;
use super::snapshot::SimSnapshot;
use super::worker::Worker;
use crate::dm::session::AlertQueue;

/// A request from the SIM to start a DM session; `reply` takes the result.
#[derive(Debug)]
pub struct SessionRequest {
    pub request: SyncRequest,
    pub reply: SessionReply,
}

/// Sends a session's result back to the card (an ENVELOPE), when the card
/// asked for it and is still the same card.
pub struct SessionReply {
    pub(super) iccid: String,
    pub(super) wanted: bool,
    pub(super) shared: Arc<Shared>,
    pub(super) ctx: pcsc::Context,
}

impl std::fmt::Debug for SessionReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionReply").field("iccid", &self.iccid).field("wanted", &self.wanted).finish()
    }
}

impl SessionReply {
    /// Reports the session's outcome (a DM/FUMO status code, 200 = done).
    pub fn send(self, status: u16) {
        if self.wanted {
            self.shared.push(Request::Result { iccid: self.iccid, status });
            let _ = self.ctx.cancel();
        }
    }
}

/// Called on the SIM thread for each session request; must return quickly
/// (hand the request to the session runner).
pub type SessionStarter = Box<dyn Fn(SessionRequest) + Send>;

/// What the SIM module needs from the agent.
pub struct SimDeps {
    pub state_dir: PathBuf,
    pub alerts: AlertQueue,
    /// Server ids of every DM account (each gets the SIM-change alert).
    pub accounts: Vec<String>,
    pub start_session: SessionStarter,
}

impl std::fmt::Debug for SimDeps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimDeps").field("state_dir", &self.state_dir).field("accounts", &self.accounts).finish()
    }
}

#[derive(Debug)]
pub(super) enum Request {
    Pin { pin: String, reply: mpsc::Sender<Result<u32, String>> },
    Result { iccid: String, status: u16 },
}

/// State shared by the handle and the worker.
#[derive(Debug, Default)]
pub(super) struct Shared {
    snapshot: Mutex<SimSnapshot>,
    changed: Condvar,
    requests: Mutex<VecDeque<Request>>,
    pub(super) stop: AtomicBool,
}

impl Shared {
    fn snap(&self) -> MutexGuard<'_, SimSnapshot> {
        fotad_updater::sync::lock(&self.snapshot)
    }

    pub(super) fn update(&self, f: impl FnOnce(&mut SimSnapshot)) {
        let mut s = self.snap();
        let before = s.clone();
        f(&mut s);
        if *s != before {
            s.generation = before.generation + 1;
            self.changed.notify_all();
        }
    }

    pub(super) fn push(&self, r: Request) {
        fotad_updater::sync::lock(&self.requests).push_back(r);
    }

    pub(super) fn pop(&self) -> Option<Request> {
        fotad_updater::sync::lock(&self.requests).pop_front()
    }
}

/// The running SIM module.
pub struct SimHandle {
    shared: Arc<Shared>,
    ctx: pcsc::Context,
    policy: NoSimPolicy,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle").field("policy", &self.policy).finish()
    }
}

impl SimHandle {
    /// Connects to pcscd and starts the worker thread.
    pub fn start(settings: SimSettings, deps: SimDeps) -> Result<SimHandle, SimError> {
        let ctx = pcsc::Context::establish(pcsc::Scope::System)
            .map_err(|source| SimError::Context { op: "SCardEstablishContext", source })?;
        let shared = Arc::new(Shared::default());
        let policy = settings.no_sim_policy;
        let worker = Worker::new(ctx.clone(), settings, deps, shared.clone());
        let thread = std::thread::Builder::new()
            .name("fotad-sim".into())
            .spawn(move || worker.run())
            .map_err(|e| SimError::NoCard(format!("cannot start the SIM thread: {e}")))?;
        Ok(SimHandle { shared, ctx, policy, thread: Mutex::new(Some(thread)) })
    }

    /// The current SIM state.
    pub fn snapshot(&self) -> SimSnapshot {
        self.shared.snap().clone()
    }

    /// Waits until `pred` holds for the snapshot (or `timeout` passes).
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&SimSnapshot) -> bool) -> Option<SimSnapshot> {
        let deadline = Instant::now() + timeout;
        let mut s = self.shared.snap();
        while !pred(&s) {
            let left = deadline.checked_duration_since(Instant::now())?;
            s = fotad_updater::sync::wait_timeout(&self.shared.changed, s, left);
        }
        Some(s.clone())
    }

    /// Verifies the PIN once (never retried). `Ok(tries)` = verified, with
    /// the tries counter now on the card; `Err` says why, with tries left.
    pub fn enter_pin(&self, pin: &str) -> Result<u32, String> {
        let (tx, rx) = mpsc::channel();
        self.shared.push(Request::Pin { pin: pin.to_string(), reply: tx });
        let _ = self.ctx.cancel();
        rx.recv_timeout(Duration::from_secs(30))
            .map_err(|_| "the SIM thread did not answer the PIN request within 30 s".to_string())?
    }

    /// The operator gate for a package with `operator_tag`
    /// (`Manifest::operator_tag_bytes()`); a refusal is FUMO result 405.
    pub fn check_package(&self, operator_tag: Option<[u8; 16]>) -> Result<(), GateRefusal> {
        gate::decide(&self.snapshot().gate, self.policy, operator_tag)
    }

    /// Stops the worker and waits for it.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = self.ctx.cancel();
        let t = fotad_updater::sync::lock(&self.thread).take();
        if let Some(t) = t {
            let _ = t.join();
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.stop();
    }
}
