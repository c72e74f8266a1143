//! The agent assembled: the DM client with its tree, the FUMO instance of the
//! A/B system and its job runner, the slots, and the SIM. The daemon (D-Bus,
//! `dbus::daemon`) and `fotad --once` drive a [`Device`]; both call the same
//! three entry points: [`Device::check`], [`Device::notify`] and
//! [`Device::run`].
//!
//! Order on every start: finish the jobs already accepted (a restart or a
//! reboot resumes them and learns the outcome of an activated slot), then
//! deliver the pending reports, then talk to the server. A report leaves the
//! queue only when the server acknowledged it.

pub mod observer;
pub mod settings;

use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context;
use fotad_updater::install::ManifestPolicy;
use fotad_updater::lifecycle::Lifecycle;

use crate::dm::client::DmClient;
use crate::download::Downloader;
use crate::fumo::{self, FumoExec, FumoStore, Runner, Step};
use crate::dm::mo::Versions;
use crate::dm::session::{AlertQueue, QueuedAlert, Trigger, UserInteraction, ALERT_GENERIC};
use crate::sim::{SimDeps, SimHandle};
use crate::dm::tree::DynamicFn;

pub use observer::{Log, Observer, Quiet};
pub use settings::Settings;

/// Alert type of a check the device starts on its own (schedule, SIM).
pub const DEVICE_REQUEST: &str = "org.openmobilealliance.dm.firmwareupdate.devicerequest";
/// Alert type of a check a user asked for.
pub const USER_REQUEST: &str = "org.openmobilealliance.dm.firmwareupdate.userrequest";

/// Who asked for a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckKind {
    Device,
    User,
}

/// Where [`Device::run`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// No job left and every report delivered.
    Idle,
    /// No job left; some reports could not be delivered yet (retry later).
    ReportsPending,
    /// A slot was activated and the reboot command ran (or none is configured).
    Rebooting,
    /// The new slot runs but is not confirmed yet: run again after mark-good.
    AwaitingMarkGood,
    /// Cancelled at a checkpoint; run again to resume.
    Interrupted,
}

/// How a check or notification ended, for the UI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The last FUMO result of this run (200 when nothing was ordered).
    pub code: u16,
    pub end: RunEnd,
    /// Results of the jobs that ended in this run: (operation node, code).
    pub results: Vec<(String, u16)>,
}

/// The device's update agent.
pub struct Device {
    settings: Settings,
    client: Mutex<DmClient>,
    store: Arc<Mutex<FumoStore>>,
    runner: Runner,
    alerts: AlertQueue,
    cancel: Arc<AtomicBool>,
    /// One run (session + jobs) at a time.
    busy: Mutex<()>,
    sim: Mutex<Option<Arc<SimHandle>>>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device").field("settings", &self.settings).finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Device {
    /// Opens the state directory, installs DevInfo/DevDetail, the FUMO
    /// instance and the vendor slot nodes, and provisions configured accounts.
    pub fn open(settings: Settings) -> anyhow::Result<Device> {
        let state_dir = settings.state_dir().clone();
        std::fs::create_dir_all(&state_dir).with_context(|| format!("creating {}", state_dir.display()))?;
        let version = running_version(&settings);
        let versions = Versions { firmware: Arc::clone(&version), software: Arc::clone(&version) };
        let mut client = DmClient::open(settings.dm.clone(), versions).context("opening the DM tree")?;
        let store = Arc::new(Mutex::new(FumoStore::open(&state_dir).context("opening the FUMO store")?));
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
        let downloader = Downloader::new(settings.download.clone()).context("setting up downloads")?;
        let runner = Runner {
            store: Arc::clone(&store),
            alerts: alerts.clone(),
            updater: settings.updater.clone(),
            downloader,
            state_dir,
            language: settings.dm.language.clone(),
            policy: None,
            cancel: Some(Arc::new(AtomicBool::new(false))),
        };
        Ok(Device {
            settings,
            client: Mutex::new(client),
            store,
            cancel: runner.cancel.clone().unwrap_or_default(),
            runner,
            alerts,
            busy: Mutex::new(()),
            sim: Mutex::new(None),
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Starts the SIM module when `[sim] enabled`; its operator gate then
    /// decides over every package, and its SIM-change alerts and
    /// SIM-initiated sessions reach the servers. `start_session` runs a
    /// session for the card (the daemon hands it to its job runner). When
    /// pcscd cannot be reached the agent runs on without a SIM, and the gate
    /// decides as for a device without one (`[sim] no_sim_policy`).
    pub fn start_sim(
        &mut self,
        start_session: crate::sim::SessionStarter,
        obs: &dyn Observer,
    ) -> Option<Arc<SimHandle>> {
        if !self.settings.sim.enabled {
            return None;
        }
        let deps = SimDeps {
            state_dir: self.settings.state_dir().clone(),
            alerts: self.alerts.clone(),
            accounts: self.settings.dm.accounts.iter().map(|a| a.server_id.clone()).collect(),
            start_session,
        };
        let no_sim = self.settings.sim.no_sim_policy;
        let sim = match SimHandle::start(self.settings.sim.clone(), deps) {
            Ok(sim) => Arc::new(sim),
            Err(e) => {
                obs.say(&format!("SIM: {e}; going on without a SIM (no_sim_policy {no_sim:?})"));
                let policy: ManifestPolicy = Arc::new(move |m| {
                    crate::sim::decide(&crate::sim::GateState::NoSim, no_sim, m.operator_tag_bytes())
                        .map_err(|e| e.to_string())
                });
                self.runner.policy = Some(policy);
                return None;
            }
        };
        let gate = Arc::clone(&sim);
        let policy: ManifestPolicy = Arc::new(move |m| {
            let tag = m.operator_tag_bytes();
            gate.check_package(tag).map_err(|e| e.to_string())
        });
        self.runner.policy = Some(policy);
        *lock(&self.sim) = Some(Arc::clone(&sim));
        Some(sim)
    }

    pub fn sim(&self) -> Option<Arc<SimHandle>> {
        lock(&self.sim).clone()
    }

    /// Stops a running download or install at its next checkpoint.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }

    /// The FUMO state of the A/B instance (10–100).
    pub fn fumo_state(&self) -> u16 {
        lock(&self.store).state(&self.settings.fumo.instance_uri()).code()
    }

    /// The running version, the booted slot, and each slot's state.
    pub fn system(&self) -> (String, String, HashMap<String, String>) {
        let version = (running_version(&self.settings))();
        match Lifecycle::open(&self.settings.updater).and_then(|l| l.status()) {
            Ok(s) => {
                let slots = s.slots.iter().map(|x| (x.slot.to_string(), x.state.to_string())).collect();
                (version, s.booted.to_string(), slots)
            }
            Err(_) => (version, String::new(), HashMap::new()),
        }
    }

    /// Whether reports wait for delivery.
    pub fn reports_pending(&self) -> bool {
        !self.alerts.is_empty()
    }

    /// A client-initiated check: a Generic Alert `devicerequest` or
    /// `userrequest` in a new session, then the jobs the server orders.
    pub fn check(&self, kind: CheckKind, ui: &dyn UserInteraction, obs: &dyn Observer) -> anyhow::Result<Outcome> {
        let _busy = lock(&self.busy);
        self.cancel.store(false, Ordering::SeqCst);
        let mut results = Vec::new();
        let end = self.work(ui, obs, &mut results)?;
        if end != RunEnd::Idle && end != RunEnd::ReportsPending {
            return Ok(outcome(end, results));
        }
        let type_ = match kind {
            CheckKind::Device => DEVICE_REQUEST,
            CheckKind::User => USER_REQUEST,
        };
        let mut alert = QueuedAlert::generic(&self.settings.fumo.instance_uri(), type_, 0, None, false);
        alert.format = "chr".into();
        alert.data = String::new();
        self.alerts.push(alert).context("queueing the update request")?;
        obs.say(&format!("session: asking the server for updates ({type_})"));
        self.session(None, &Trigger::Client, ui, obs)?;
        let end = self.work(ui, obs, &mut results)?;
        Ok(outcome(end, results))
    }

    /// A server-initiated session from a package #0, then its jobs.
    pub fn notify(&self, package0: &[u8], ui: &dyn UserInteraction, obs: &dyn Observer) -> anyhow::Result<Outcome> {
        let _busy = lock(&self.busy);
        self.cancel.store(false, Ordering::SeqCst);
        let mut results = Vec::new();
        let end = self.work(ui, obs, &mut results)?;
        if end != RunEnd::Idle && end != RunEnd::ReportsPending {
            return Ok(outcome(end, results));
        }
        obs.say("session: server-initiated (package #0)");
        let mut exec = self.exec();
        let report = lock(&self.client).notify(package0, ui, &mut exec).context("the DM session")?;
        if report.is_none() {
            obs.say("session: declined by the user");
        }
        let end = self.work(ui, obs, &mut results)?;
        Ok(outcome(end, results))
    }

    /// A session the SIM asked for, with the account whose address matches.
    pub fn sim_session(
        &self,
        server_uri: &str,
        ui: &dyn UserInteraction,
        obs: &dyn Observer,
    ) -> anyhow::Result<Outcome> {
        let _busy = lock(&self.busy);
        let id = self.settings.dm.accounts.iter().find(|a| a.address == server_uri).map(|a| a.server_id.clone());
        let mut results = Vec::new();
        obs.say(&format!("session: requested by the SIM for {server_uri}"));
        self.session(id.as_deref(), &Trigger::Client, ui, obs)?;
        let end = self.work(ui, obs, &mut results)?;
        Ok(outcome(end, results))
    }

    /// Finishes accepted jobs and delivers pending reports (on start, after
    /// a reboot, and on the retry schedule).
    pub fn run(&self, ui: &dyn UserInteraction, obs: &dyn Observer) -> anyhow::Result<Outcome> {
        let _busy = lock(&self.busy);
        self.cancel.store(false, Ordering::SeqCst);
        let mut results = Vec::new();
        let end = self.work(ui, obs, &mut results)?;
        Ok(outcome(end, results))
    }

    /// Runs jobs one after another; after each finished job its report goes
    /// to the server at once (which may order the next package).
    fn work(
        &self,
        ui: &dyn UserInteraction,
        obs: &dyn Observer,
        results: &mut Vec<(String, u16)>,
    ) -> anyhow::Result<RunEnd> {
        obs.cancel_with(Arc::clone(&self.cancel));
        loop {
            let before = self.current_job();
            obs.fumo_state(self.fumo_state());
            let mut progress = |p| obs.progress(p);
            let step = self.runner.run_next(&mut progress).context("running the FUMO job")?;
            obs.fumo_state(self.fumo_state());
            match step {
                Step::Continue => {
                    if let Some((node, code)) = before.and_then(|job| self.reported(&job)) {
                        obs.say(&format!("fumo: {node} finished with result {code}"));
                        results.push((node, code));
                    }
                }
                Step::Idle => {
                    if self.alerts.is_empty() {
                        return Ok(RunEnd::Idle);
                    }
                    if !self.deliver(ui, obs) {
                        return Ok(RunEnd::ReportsPending);
                    }
                    if lock(&self.store).current().is_none() {
                        return Ok(if self.alerts.is_empty() { RunEnd::Idle } else { RunEnd::ReportsPending });
                    }
                }
                Step::Reboot => {
                    if !obs.may_reboot() {
                        obs.say("fumo: the new slot is active for trial boots; the reboot was not allowed now");
                        return Ok(RunEnd::Interrupted);
                    }
                    obs.say("fumo: the new slot is active for trial boots; rebooting");
                    self.reboot(obs)?;
                    return Ok(RunEnd::Rebooting);
                }
                Step::AwaitMarkGood => {
                    obs.say("fumo: running the new slot; waiting for fotad-mark-good to confirm it");
                    return Ok(RunEnd::AwaitingMarkGood);
                }
                Step::Interrupted => return Ok(RunEnd::Interrupted),
            }
        }
    }

    fn current_job(&self) -> Option<fumo::Job> {
        lock(&self.store).current().cloned()
    }

    /// The result code queued for `job` (its 1226), if it was reported.
    fn reported(&self, job: &fumo::Job) -> Option<(String, u16)> {
        let type_ = job.operation.alert_type();
        let found = self
            .alerts
            .pending(&job.server_id)
            .into_iter()
            .rev()
            .find(|a| a.code == ALERT_GENERIC && a.source.as_deref() == Some(&job.instance) && a.type_ == type_);
        let code = found.and_then(|a| a.data.parse().ok())?;
        Some((job.operation.node().to_string(), code))
    }

    /// One session per server with pending alerts; true when all went out.
    fn deliver(&self, ui: &dyn UserInteraction, obs: &dyn Observer) -> bool {
        let servers: Vec<String> = self.settings.dm.accounts.iter().map(|a| a.server_id.clone()).collect();
        let mut delivered = true;
        for id in servers {
            if self.alerts.pending(&id).is_empty() {
                continue;
            }
            obs.say(&format!("session: reporting to {id}"));
            if let Err(e) = self.session(Some(&id), &Trigger::Client, ui, obs) {
                obs.say(&format!("session: {id}: {e:#}; the report stays queued"));
                delivered = false;
            }
        }
        delivered
    }

    fn session(
        &self,
        server_id: Option<&str>,
        trigger: &Trigger,
        ui: &dyn UserInteraction,
        obs: &dyn Observer,
    ) -> anyhow::Result<()> {
        let mut exec = self.exec();
        let report = lock(&self.client).session(server_id, trigger, ui, &mut exec).context("the DM session")?;
        let acked = report.alerts_acked.len();
        obs.say(&format!("session: ended after {} message(s); {acked} alert(s) acknowledged", report.messages_sent));
        Ok(())
    }

    /// The Exec handler of a session: FUMO, and the legacy commands when configured.
    fn exec(&self) -> FumoExec {
        let legacy = self.settings.fumo.legacy_root.as_ref().map(|root| fumo::Legacy {
            root: root.clone(),
            updater: self.settings.updater.clone(),
            language: self.settings.dm.language.clone(),
        });
        FumoExec::new(&self.settings.fumo.root, Arc::clone(&self.store)).with_legacy(legacy)
    }

    fn reboot(&self, obs: &dyn Observer) -> anyhow::Result<()> {
        let Some((program, args)) = self.settings.fumo.reboot_command.split_first() else {
            obs.say("fumo: no reboot_command configured; the new slot boots at the next reboot");
            return Ok(());
        };
        let status = Command::new(program)
            .args(args)
            .status()
            .with_context(|| format!("running the reboot command {program}"))?;
        anyhow::ensure!(status.success(), "the reboot command {program} failed: {status}");
        Ok(())
    }
}

fn outcome(end: RunEnd, results: Vec<(String, u16)>) -> Outcome {
    let code = results.last().map_or(200, |(_, c)| *c);
    Outcome { code, end, results }
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
