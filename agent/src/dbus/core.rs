//! The service's shared core: the model behind the properties, the open
//! prompts, the running job and its cancel flags, and the ports. Used from
//! async handlers and blocking workers alike (short `std::sync::Mutex` holds).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use super::access::AccessPolicy;
use super::events::Event;
use super::ports::{DmPort, InstallProvider, SimPort};
use super::prompts::PromptBroker;
use super::settings::UiSettings;
use super::state::{AgentState, IllegalTransition, Transition};
use crate::i18n::{self, Msg};

/// The values of the properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    pub state: AgentState,
    pub fumo_state: u32,
    /// percent, bytes done, bytes total, message.
    pub progress: (u32, u64, u64, String),
    pub current_version: String,
    pub booted_slot: String,
    /// slot name → state (`good`, `bad`, `trial`, `booted`…).
    pub slots: HashMap<String, String>,
    /// result code, message.
    pub last_result: (u32, String),
    pub language: String,
}

/// What the service is built from; the lead fills it from the agent's parts.
pub struct ServiceParts {
    pub ui: UiSettings,
    pub access: AccessPolicy,
    pub install: InstallProvider,
    pub sim: Arc<dyn SimPort>,
    pub dm: Arc<dyn DmPort>,
    /// The starting language: the configured one, else from the locale.
    pub language: String,
}

impl std::fmt::Debug for ServiceParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceParts").field("ui", &self.ui).field("language", &self.language).finish_non_exhaustive()
    }
}

pub struct Core {
    model: Mutex<Model>,
    pub(crate) broker: PromptBroker,
    events: UnboundedSender<Event>,
    pub(crate) ui: UiSettings,
    pub(crate) access: AccessPolicy,
    pub(crate) install: InstallProvider,
    pub(crate) sim: Arc<dyn SimPort>,
    pub(crate) dm: Arc<dyn DmPort>,
    cancel: Mutex<Vec<Arc<AtomicBool>>>,
    job: Mutex<Option<JoinHandle<()>>>,
    /// Unique bus names of the UIs that called `RegisterUi` and are still on the bus.
    uis: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core").field("model", &self.model).finish_non_exhaustive()
    }
}

impl Core {
    pub fn new(parts: ServiceParts, events: UnboundedSender<Event>) -> Core {
        let model = Model {
            state: AgentState::Idle,
            fumo_state: 10,
            progress: (0, 0, 0, String::new()),
            current_version: String::new(),
            booted_slot: String::new(),
            slots: HashMap::new(),
            last_result: (0, String::new()),
            language: parts.language,
        };
        Core {
            model: Mutex::new(model),
            broker: PromptBroker::new(events.clone()),
            events,
            ui: parts.ui,
            access: parts.access,
            install: parts.install,
            sim: parts.sim,
            dm: parts.dm,
            cancel: Mutex::new(Vec::new()),
            job: Mutex::new(None),
            uis: Mutex::new(HashSet::new()),
        }
    }

    /// A UI (by unique bus name) shows prompts from now on, while it is on the bus.
    pub fn register_ui(&self, name: &str) {
        self.uis.lock().unwrap_or_else(|p| p.into_inner()).insert(name.to_string());
    }

    /// The connection `name` left the bus; true when it was a registered UI.
    pub fn ui_left(&self, name: &str) -> bool {
        self.uis.lock().unwrap_or_else(|p| p.into_inner()).remove(name)
    }

    /// Whether any UI is there to show a prompt to a person.
    pub fn ui_attached(&self) -> bool {
        !self.uis.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
    }

    /// A copy of the model (for property reads).
    pub fn model(&self) -> Model {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, Model> {
        // A panic while holding the lock leaves a consistent model (plain values).
        self.model.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn language(&self) -> String {
        self.lock().language.clone()
    }

    /// A catalog message in the current language.
    pub fn text(&self, msg: Msg, args: &[&str]) -> String {
        i18n::text(&self.language(), msg, args)
    }

    pub(crate) fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    /// Moves the state machine; refused moves change nothing.
    pub fn transition(&self, t: Transition) -> Result<AgentState, IllegalTransition> {
        let mut m = self.lock();
        let next = m.state.next(t)?;
        let changed = next != m.state;
        m.state = next;
        drop(m);
        if changed {
            self.emit(Event::Changed(&["State"]));
            self.emit(Event::Status(next));
        }
        Ok(next)
    }

    pub fn set_language(&self, lang: String) {
        self.lock().language = lang;
        self.emit(Event::Changed(&["Language"]));
    }

    pub fn set_progress(&self, percent: u32, done: u64, total: u64, message: String) {
        self.lock().progress = (percent.min(100), done, total, message);
        self.emit(Event::Changed(&["Progress"]));
    }

    /// For the FUMO part: the FUMO state node value (10–100).
    pub fn set_fumo_state(&self, state: u32) {
        self.lock().fumo_state = state;
        self.emit(Event::Changed(&["FumoState"]));
    }

    /// For the slot part: versions and slots.
    pub fn set_system(&self, current_version: &str, booted_slot: &str, slots: HashMap<String, String>) {
        let mut m = self.lock();
        m.current_version = current_version.to_string();
        m.booted_slot = booted_slot.to_string();
        m.slots = slots;
        drop(m);
        self.emit(Event::Changed(&["CurrentVersion", "BootedSlot", "Slots"]));
    }

    /// Ends the running job: result, `Completed`, back to idle.
    pub fn finish(&self, job: &str, code: u32, message: String) {
        let mut m = self.lock();
        m.last_result = (code, message.clone());
        m.state = AgentState::Idle;
        drop(m);
        self.emit(Event::Changed(&["LastResult", "State"]));
        self.emit(Event::Status(AgentState::Idle));
        self.emit(Event::Completed { job: job.to_string(), code, message });
    }

    /// Registers a cancel flag of the running job (the installer's, for one).
    pub fn add_cancel_flag(&self, flag: Arc<AtomicBool>) {
        self.cancel.lock().unwrap_or_else(|p| p.into_inner()).push(flag);
    }

    /// Starts `work` as the job (after the state moved with `t`); `Busy` if one runs.
    pub fn start_job(
        self: &Arc<Self>,
        t: Transition,
        work: impl FnOnce(Arc<Core>) + Send + 'static,
    ) -> Result<(), IllegalTransition> {
        self.transition(t)?;
        let flag = Arc::new(AtomicBool::new(false));
        *self.cancel.lock().unwrap_or_else(|p| p.into_inner()) = vec![flag];
        let core = Arc::clone(self);
        let handle = tokio::task::spawn_blocking(move || work(core));
        *self.job.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
        Ok(())
    }

    /// Whether the running job was asked to stop.
    pub fn cancelled(&self) -> bool {
        self.cancel.lock().unwrap_or_else(|p| p.into_inner()).first().is_some_and(|f| f.load(Ordering::SeqCst))
    }

    /// Asks the running job to stop at its next checkpoint and closes open prompts.
    pub fn cancel(&self) -> Result<(), IllegalTransition> {
        self.transition(Transition::Cancel)?;
        for f in self.cancel.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            f.store(true, Ordering::SeqCst);
        }
        self.broker.cancel_all();
        Ok(())
    }

    /// Stops the running job (if any) at its next checkpoint and waits for it.
    pub async fn stop(&self) {
        let _ = self.cancel();
        let job = self.job.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(job) = job {
            let _ = job.await;
        }
    }
}
