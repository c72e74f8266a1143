//! The agent assembled: the DM client with its tree, the FUMO instance of the
//! A/B system with its job records and runner, the SIM and its operator gate,
//! the busy slot, and the listeners that hear what changes.

use std::collections::HashMap;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use fotad_updater::lifecycle::Lifecycle;
use fotad_updater::sync::lock;
use fotad_updater::update::DevicePolicy;

use super::events::{Event, Finished, Listener};
use super::run::{Refused, Run, Slot, Status, Wait};
use super::service_settings::ConsentPolicy;
use super::settings::Settings;
use super::work::Work;
use crate::dm::client::{ClientError, DmClient};
use crate::dm::mo::Versions;
use crate::dm::session::{AlertQueue, ExecHandler, SessionReport, Trigger, UserInteraction};
use crate::dm::tree::DynamicFn;
use crate::download::Downloader;
use crate::fumo::{self, FumoExec, FumoStore, Runner};
use crate::sim::{SessionRequest, SimDeps, SimHandle};

/// Where the agent's DM sessions go: the DM client over HTTP(S) on a device;
/// a stand-in in tests of the layers above it.
pub trait Sessions: Send {
    /// A session with `server_id` (or the first account).
    fn session(
        &mut self,
        server_id: Option<&str>,
        trigger: &Trigger,
        ui: &dyn UserInteraction,
        exec: &mut dyn ExecHandler,
    ) -> Result<SessionReport, ClientError>;

    /// The session a package #0 asks for; `None` when the user declined it.
    fn notify(
        &mut self,
        package0: &[u8],
        ui: &dyn UserInteraction,
        exec: &mut dyn ExecHandler,
    ) -> Result<Option<SessionReport>, ClientError>;
}

impl Sessions for DmClient {
    fn session(
        &mut self,
        server_id: Option<&str>,
        trigger: &Trigger,
        ui: &dyn UserInteraction,
        exec: &mut dyn ExecHandler,
    ) -> Result<SessionReport, ClientError> {
        DmClient::session(self, server_id, trigger, ui, exec)
    }

    fn notify(
        &mut self,
        package0: &[u8],
        ui: &dyn UserInteraction,
        exec: &mut dyn ExecHandler,
    ) -> Result<Option<SessionReport>, ClientError> {
        DmClient::notify(self, package0, ui, exec)
    }
}

/// How [`Agent::open`] builds the agent, besides the settings.
#[derive(Default)]
pub struct Options {
    /// This consent policy instead of `[ui] consent` (`fotad --once`, which
    /// has nobody to ask: automatic).
    pub consent: Option<ConsentPolicy>,
    /// A stand-in for the DM client's sessions (tests of the layers above).
    pub sessions: Option<Box<dyn Sessions>>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options").field("consent", &self.consent).finish_non_exhaustive()
    }
}

/// The running version, the booted slot and each slot's state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct System {
    pub version: String,
    pub booted: String,
    pub slots: HashMap<String, String>,
}

/// The device's update agent.
pub struct Agent {
    settings: Settings,
    pub(super) consent: ConsentPolicy,
    pub(super) sessions: Mutex<Box<dyn Sessions>>,
    pub(super) store: Arc<Mutex<FumoStore>>,
    pub(super) runner: Runner,
    pub(super) alerts: AlertQueue,
    sim: Option<Arc<SimHandle>>,
    sim_requests: Mutex<Option<mpsc::Receiver<SessionRequest>>>,
    pub(super) slot: Slot,
    listeners: Mutex<Vec<Listener>>,
    last_fumo_state: Mutex<Option<u16>>,
    last_result: Mutex<Option<Finished>>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent").field("settings", &self.settings).field("slot", &self.slot).finish_non_exhaustive()
    }
}

impl Agent {
    /// Opens the state directory (a FUMO store of fotad 0.1 is migrated),
    /// installs DevInfo/DevDetail, the FUMO instance, the legacy node and the
    /// vendor slot nodes, provisions configured accounts, and starts the SIM
    /// when `[sim] enabled` (without pcscd the agent runs on without a SIM and
    /// the gate decides as for a device without one).
    pub fn open(settings: Settings, options: Options) -> anyhow::Result<Arc<Agent>> {
        let state_dir = settings.state_dir().clone();
        std::fs::create_dir_all(&state_dir).with_context(|| format!("creating {}", state_dir.display()))?;
        let version = running_version(&settings);
        let versions = Versions { firmware: Arc::clone(&version), software: Arc::clone(&version) };
        let mut client = DmClient::open(settings.dm.clone(), versions).context("opening the DM tree")?;
        let updater = settings.updater.clone();
        let store =
            FumoStore::open_migrating(&state_dir, || pending_activation(&updater)).context("opening the FUMO store")?;
        let store = Arc::new(Mutex::new(store));
        let uri = settings.fumo.instance_uri();
        fumo::install_fumo(client.tree(), &uri, Arc::clone(&store), version, &settings.fumo.acl)
            .context("installing the FUMO object")?;
        if let Some(root) = &settings.fumo.legacy_root {
            fumo::install_legacy(client.tree(), root, &store, &settings.fumo.acl)
                .context("installing the legacy firmware-update node")?;
        }
        fumo::vendor::install_slot_nodes(client.tree(), settings.updater.clone()).context("installing slot nodes")?;
        client.tree().save().context("saving the DM tree")?;
        let alerts = client.alerts();
        let (sim, policy, sim_requests) = start_sim(&settings, &alerts);
        let runner = Runner {
            store: Arc::clone(&store),
            alerts: alerts.clone(),
            updater: settings.updater.clone(),
            downloader: Downloader::new(settings.download.clone()).context("setting up downloads")?,
            state_dir,
            language: settings.dm.language.clone(),
            policy,
        };
        let sessions = options.sessions.unwrap_or_else(|| Box::new(client));
        Ok(Arc::new(Agent {
            consent: options.consent.unwrap_or(settings.ui.consent),
            settings,
            sessions: Mutex::new(sessions),
            store,
            runner,
            alerts,
            sim,
            sim_requests: Mutex::new(sim_requests),
            slot: Slot::default(),
            listeners: Mutex::new(Vec::new()),
            last_fumo_state: Mutex::new(None),
            last_result: Mutex::new(None),
        }))
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The SIM, when it is used.
    pub fn sim(&self) -> Option<Arc<SimHandle>> {
        self.sim.clone()
    }

    /// The sessions the SIM asks for (once; the background takes them).
    pub fn take_sim_requests(&self) -> Option<mpsc::Receiver<SessionRequest>> {
        lock(&self.sim_requests).take()
    }

    /// Calls `listener` with every event from now on.
    pub fn subscribe(&self, listener: Listener) {
        lock(&self.listeners).push(listener);
    }

    pub(super) fn emit(&self, event: &Event) {
        for listener in lock(&self.listeners).iter() {
            listener(event);
        }
    }

    /// The one entry of every run: takes the busy slot for `work` (waiting
    /// for it as `wait` says) with a fresh cancel token. Carry the work out
    /// with [`Run::execute`].
    pub fn submit(self: &Arc<Self>, work: Work, wait: Wait) -> Result<Run, Refused> {
        let cancel = self.slot.take(work.job(), work.first_activity(), wait)?;
        self.emit(&Event::Activity(work.first_activity()));
        Ok(Run { agent: Arc::clone(self), work: Some(work), cancel, finished: None })
    }

    /// Asks the running run, whatever started it, to stop at its next
    /// checkpoint; false when no run is running.
    pub fn cancel(&self) -> bool {
        let cancelled = self.slot.cancel();
        if cancelled {
            self.emit(&Event::Activity(super::run::Activity::Cancelling));
        }
        cancelled
    }

    /// What the agent does now.
    pub fn status(&self) -> Status {
        self.slot.status()
    }

    /// The FUMO state of the A/B instance (10–100), from its job records.
    pub fn fumo_state(&self) -> u16 {
        lock(&self.store).state(&self.settings.fumo.instance_uri()).code()
    }

    /// Announces the FUMO state when it changed since last announced.
    pub(super) fn fumo_state_changed(&self) {
        let now = self.fumo_state();
        if lock(&self.last_fumo_state).replace(now) != Some(now) {
            self.emit(&Event::FumoState(now));
        }
    }

    /// The running version, the booted slot and each slot's state (reads the
    /// updater's records and the bootloader).
    pub fn system(&self) -> System {
        let version = (running_version(&self.settings))();
        match Lifecycle::open(&self.settings.updater).and_then(|l| l.status()) {
            Ok(s) => {
                let slots = s.slots.iter().map(|x| (x.slot.to_string(), x.state.to_string())).collect();
                System { version, booted: s.booted.to_string(), slots }
            }
            Err(_) => System { version, ..System::default() },
        }
    }

    /// How the last run with a result for the user ended.
    pub fn last_result(&self) -> Option<Finished> {
        lock(&self.last_result).clone()
    }

    pub(super) fn set_last_result(&self, finished: &Finished) {
        *lock(&self.last_result) = Some(finished.clone());
    }

    /// Whether reports wait for delivery.
    pub fn reports_pending(&self) -> bool {
        !self.alerts.is_empty()
    }

    /// Refuses new runs from now on and cancels the running one (SIGTERM).
    pub fn close(&self) {
        if self.slot.close() {
            self.emit(&Event::Activity(super::run::Activity::Cancelling));
        }
    }

    pub fn is_closed(&self) -> bool {
        self.slot.is_closed()
    }

    /// Waits until no run holds the slot, at most `timeout`; true when free.
    pub fn wait_until_free(&self, timeout: Duration) -> bool {
        self.slot.wait_free(timeout)
    }

    /// Sleeps `d`, waking early when the agent closes; false when closed.
    pub fn sleep_unless_closed(&self, d: Duration) -> bool {
        self.slot.sleep_unless_closed(d)
    }

    /// The Exec handler of a session: FUMO, and the legacy commands when configured.
    pub(super) fn exec(&self) -> FumoExec {
        let legacy = self.settings.fumo.legacy_root.as_ref().map(|root| fumo::Legacy {
            root: root.clone(),
            updater: self.settings.updater.clone(),
            language: self.settings.dm.language.clone(),
        });
        FumoExec::new(&self.settings.fumo.root, Arc::clone(&self.store)).with_legacy(legacy)
    }
}

/// The SIM (when enabled and reachable), the operator gate every package
/// must pass, and the sessions the SIM asks for.
fn start_sim(
    settings: &Settings,
    alerts: &AlertQueue,
) -> (Option<Arc<SimHandle>>, DevicePolicy, Option<mpsc::Receiver<SessionRequest>>) {
    if !settings.sim.enabled {
        return (None, DevicePolicy::None, None);
    }
    let (tx, rx) = mpsc::channel::<SessionRequest>();
    let deps = SimDeps {
        state_dir: settings.state_dir().clone(),
        alerts: alerts.clone(),
        accounts: settings.dm.accounts.iter().map(|a| a.server_id.clone()).collect(),
        start_session: Box::new(move |r| drop(tx.send(r))),
    };
    let no_sim = settings.sim.no_sim_policy;
    match SimHandle::start(settings.sim.clone(), deps) {
        Ok(sim) => {
            let sim = Arc::new(sim);
            let gate = Arc::clone(&sim);
            let policy = DevicePolicy::Check(Arc::new(move |m| {
                gate.check_package(m.operator_tag_bytes()).map_err(|e| e.to_string())
            }));
            (Some(sim), policy, Some(rx))
        }
        Err(e) => {
            tracing::warn!(error = %crate::logging::chain(&e), "SIM: going on without a SIM (no_sim_policy {no_sim:?})");
            let policy = DevicePolicy::Check(Arc::new(move |m| {
                crate::sim::decide(&crate::sim::GateState::NoSim, no_sim, m.operator_tag_bytes())
                    .map_err(|e| e.to_string())
            }));
            (None, policy, None)
        }
    }
}

/// The activation the updater's slot record says is pending (for a FUMO
/// store of fotad 0.1 that kept it nowhere else).
fn pending_activation(updater: &fotad_updater::config::Settings) -> fumo::Activation {
    use fotad_updater::slot::record;
    let pending = record::load(&record::path_in(&updater.state_dir)).ok()?.pending?;
    Some((pending.target, pending.version))
}

/// The version of the booted slot as the updater recorded it (DevDetail
/// FwV/SwV, FUMO PkgVersion); `[fumo] factory_version` for a slot fotad
/// never wrote.
fn running_version(settings: &Settings) -> DynamicFn {
    let updater = settings.updater.clone();
    let factory = settings.fumo.factory_version.clone();
    Arc::new(move || {
        Lifecycle::open(&updater)
            .and_then(|l| l.status())
            .ok()
            .and_then(|s| s.slots.iter().find(|x| x.slot == s.booted).and_then(|x| x.version.clone()))
            .unwrap_or_else(|| factory.clone())
    })
}
