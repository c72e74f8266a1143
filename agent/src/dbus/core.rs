//! The service's shared core: the agent it adapts, the open prompts, the
//! registered UIs, the UI language and the SIM port. Every property is read
//! from the agent when asked; the agent's events become `PropertiesChanged`,
//! `Completed` and `STATUS=`. Used from async handlers and blocking runs
//! alike (short lock holds).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fotad_updater::sync::lock;
use tokio::sync::mpsc::UnboundedSender;

use super::access::AccessPolicy;
use super::bridge::DbusUi;
use super::events::Event;
use super::ports::SimPort;
use super::prompts::PromptBroker;
use crate::app::service_settings::UiSettings;
use crate::app::{self, Agent, Refused, Wait, Work};
use crate::i18n::{self, Msg};

/// What the service is built from.
pub struct ServiceParts {
    /// The agent every method and property goes to.
    pub agent: Arc<Agent>,
    pub ui: UiSettings,
    pub access: AccessPolicy,
    pub sim: Arc<dyn SimPort>,
    /// The starting language: the configured one, else from the locale.
    pub language: String,
}

impl std::fmt::Debug for ServiceParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceParts").field("ui", &self.ui).field("language", &self.language).finish_non_exhaustive()
    }
}

pub struct Core {
    pub(crate) agent: Arc<Agent>,
    pub(crate) broker: PromptBroker,
    events: UnboundedSender<Event>,
    pub(crate) ui: UiSettings,
    pub(crate) access: AccessPolicy,
    pub(crate) sim: Arc<dyn SimPort>,
    language: Mutex<String>,
    /// Unique bus names of the UIs that called `RegisterUi` and are still on the bus.
    uis: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core").field("agent", &self.agent).finish_non_exhaustive()
    }
}

impl Core {
    /// The core over `parts.agent`, whose events go out through `events`.
    pub fn new(parts: ServiceParts, events: UnboundedSender<Event>) -> Core {
        let tx = events.clone();
        parts.agent.subscribe(Box::new(move |e| forward(&tx, e)));
        Core {
            agent: parts.agent,
            broker: PromptBroker::new(events.clone()),
            events,
            ui: parts.ui,
            access: parts.access,
            sim: parts.sim,
            language: Mutex::new(parts.language),
            uis: Mutex::new(HashSet::new()),
        }
    }

    /// A UI (by unique bus name) shows prompts from now on, while it is on the bus.
    pub fn register_ui(&self, name: &str) {
        lock(&self.uis).insert(name.to_string());
    }

    /// The connection `name` left the bus; true when it was a registered UI.
    pub fn ui_left(&self, name: &str) -> bool {
        lock(&self.uis).remove(name)
    }

    /// Whether any UI is there to show a prompt to a person.
    pub fn ui_attached(&self) -> bool {
        !lock(&self.uis).is_empty()
    }

    pub fn language(&self) -> String {
        lock(&self.language).clone()
    }

    pub fn set_language(&self, lang: String) {
        *lock(&self.language) = lang;
        self.emit(Event::Changed(&["Language", "Progress"]));
    }

    /// A catalog message in the current language.
    pub fn text(&self, msg: Msg, args: &[&str]) -> String {
        i18n::text(&self.language(), msg, args)
    }

    pub(crate) fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    /// The `Progress` property: percent, bytes done, bytes total, message.
    pub fn progress(&self) -> (u32, u64, u64, String) {
        let p = self.agent.status().progress;
        let message = p.note.map(|n| {
            let args: Vec<&str> = n.args.iter().map(String::as_str).collect();
            self.text(n.msg, &args)
        });
        (p.percent, p.bytes_done, p.bytes_total, message.unwrap_or_default())
    }

    /// Submits `work` as a run (refused while another runs) and carries it
    /// out on a blocking thread, with the D-Bus UI as its frontend.
    pub fn start(self: &Arc<Self>, work: Work) -> Result<(), Refused> {
        let run = self.agent.submit(work, Wait::No)?;
        let ui = DbusUi::new(Arc::clone(self));
        tokio::task::spawn_blocking(move || drop(run.execute(&ui)));
        Ok(())
    }

    /// Stops the running run, whatever started it, at its next checkpoint
    /// and closes open prompts; false when nothing runs.
    pub fn cancel(&self) -> bool {
        let cancelled = self.agent.cancel();
        if cancelled {
            self.broker.cancel_all();
        }
        cancelled
    }

    /// Stops the agent: no new run, the running one stops at its next
    /// checkpoint; waits for it (at most `timeout`).
    pub async fn stop(&self, timeout: Duration) {
        self.agent.close();
        self.broker.cancel_all();
        let agent = Arc::clone(&self.agent);
        let _ = tokio::task::spawn_blocking(move || agent.wait_until_free(timeout)).await;
    }
}

/// The agent's events as the bus side's.
fn forward(tx: &UnboundedSender<Event>, e: &app::Event) {
    let events = match e {
        app::Event::Activity(a) => vec![Event::Changed(&["State", "Progress"]), Event::Status(*a)],
        app::Event::Progress => vec![Event::Changed(&["Progress"])],
        app::Event::FumoState(_) => vec![Event::Changed(&["FumoState"])],
        app::Event::System => vec![Event::Changed(&["CurrentVersion", "BootedSlot", "Slots"])],
        app::Event::Finished(f) => vec![
            Event::Changed(&["LastResult"]),
            Event::Completed { job: f.job.to_string(), code: f.code, message: f.message.clone() },
        ],
    };
    for event in events {
        let _ = tx.send(event);
    }
}
