//! `org.fotad.Agent1` at `/org/fotad/Agent1`: properties, methods, signals.
//! Long work starts a job and returns at once; the job reports through the
//! properties (PropertiesChanged) and `Completed`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::Value;
use zbus::{interface, Connection};

use super::access::Level;
use super::core::Core;
use super::error::AgentError;
use super::events::Event;
use super::prompts::{PromptRefusal, Reply};
use crate::app::{CheckKind, Refused, Work};
use crate::i18n;

/// The object served on the bus.
#[derive(Debug)]
pub struct Agent {
    pub(crate) core: Arc<Core>,
}

fn busy(e: Refused) -> AgentError {
    match e {
        Refused::Busy { .. } => AgentError::Busy(format!("{e} (wait for Completed or call Cancel)")),
        Refused::Closed => AgentError::Failed(e.to_string()),
    }
}

fn refused(e: PromptRefusal) -> AgentError {
    match e {
        PromptRefusal::NoSuchPrompt(id) => {
            AgentError::NoSuchPrompt(format!("prompt {id} is not open (already answered or timed out)"))
        }
        PromptRefusal::Invalid(why) => AgentError::InvalidAnswer(why),
    }
}

impl Agent {
    async fn authorize(
        &self,
        hdr: &Header<'_>,
        conn: &Connection,
        level: Level,
        method: &str,
    ) -> Result<(), AgentError> {
        let sender = hdr.sender().ok_or_else(|| AgentError::AccessDenied(format!("{method}: no sender")))?;
        let caller = self.core.access.caller(conn, sender).await.map_err(AgentError::AccessDenied)?;
        self.core.access.check(&caller, level, method).map_err(AgentError::AccessDenied)
    }
}

#[interface(name = "org.fotad.Agent1")]
impl Agent {
    /// Starts a client-initiated DM session.
    async fn check_for_update(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(), AgentError> {
        self.authorize(&hdr, conn, Level::Ui, "CheckForUpdate").await?;
        self.core.start(Work::Check(CheckKind::User)).map_err(busy)
    }

    /// Gives consent to the pending update.
    async fn accept(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(), AgentError> {
        self.authorize(&hdr, conn, Level::Ui, "Accept").await?;
        let id = self.consent_id()?;
        self.core.broker.respond(id, Reply::Accept).map_err(refused)
    }

    /// Postpones the pending update by `seconds` (0: the configured default).
    async fn defer(
        &self,
        seconds: u32,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(), AgentError> {
        self.authorize(&hdr, conn, Level::Ui, "Defer").await?;
        let id = self.consent_id()?;
        self.core.broker.respond(id, Reply::Defer(seconds)).map_err(refused)
    }

    /// Stops the running job, whatever started it (a UI, the schedule, a
    /// push, the SIM), at its next checkpoint.
    async fn cancel(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(), AgentError> {
        self.authorize(&hdr, conn, Level::Ui, "Cancel").await?;
        match self.core.cancel() {
            true => Ok(()),
            false => Err(AgentError::NotPending("nothing to cancel: the agent is idle".into())),
        }
    }

    /// Answers prompt `id`: action accept, reject, cancel, text (values[0]),
    /// choose (values = choice numbers from 1) or defer (values[0] = seconds).
    async fn respond_to_prompt(
        &self,
        id: u32,
        action: &str,
        values: Vec<String>,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(), AgentError> {
        self.authorize(&hdr, conn, Level::Ui, "RespondToPrompt").await?;
        let reply = Reply::parse(action, &values).map_err(AgentError::InvalidAnswer)?;
        self.core.broker.respond(id, reply).map_err(refused)
    }

    /// Announces the caller as a UI that shows prompts to a person and answers
    /// them, for as long as its connection stays on the bus. Without one, the
    /// DM server's user-interaction alerts are answered at once as nobody's
    /// (408, unless `[dm] ui_default_answers` lets their default stand).
    async fn register_ui(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(), AgentError> {
        self.authorize(&hdr, conn, Level::Ui, "RegisterUi").await?;
        let sender = hdr.sender().ok_or_else(|| AgentError::AccessDenied("RegisterUi: no sender".into()))?;
        self.core.register_ui(sender.as_str());
        Ok(())
    }

    /// Sets the device language (BCP 47 tag or POSIX locale name).
    async fn set_language(
        &self,
        language: &str,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(), AgentError> {
        self.authorize(&hdr, conn, Level::Ui, "SetLanguage").await?;
        let tag = i18n::normalize_tag(language).ok_or_else(|| {
            AgentError::InvalidArgs(format!("{language:?} is not a language tag such as en, de-AT or zh-CN"))
        })?;
        self.core.set_language(tag);
        Ok(())
    }

    /// Starts a server-initiated DM session from a notification (package #0).
    async fn notify(
        &self,
        package0: Vec<u8>,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(), AgentError> {
        self.authorize(&hdr, conn, Level::Root, "Notify").await?;
        self.core.start(Work::Notify(package0)).map_err(busy)
    }

    /// Installs a local package file (absolute path); root only.
    async fn install_file(
        &self,
        path: &str,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(), AgentError> {
        self.authorize(&hdr, conn, Level::Root, "InstallFile").await?;
        let path = PathBuf::from(path);
        if !path.is_absolute() {
            return Err(AgentError::InvalidArgs(format!("{} is not an absolute path", path.display())));
        }
        self.core.start(Work::InstallFile(path)).map_err(busy)
    }

    /// Verifies the SIM PIN; returns the PIN tries left.
    #[zbus(out_args("tries_left"))]
    async fn enter_pin(
        &self,
        pin: String,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<u32, AgentError> {
        self.authorize(&hdr, conn, Level::Ui, "EnterPin").await?;
        if pin.len() < 4 || pin.len() > 8 || !pin.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AgentError::InvalidArgs("a PIN is 4 to 8 digits".into()));
        }
        let sim = Arc::clone(&self.core.sim);
        let result = tokio::task::spawn_blocking(move || sim.enter_pin(&pin))
            .await
            .map_err(|e| AgentError::Failed(format!("the SIM worker stopped: {e}")))?;
        self.core.emit(Event::Changed(&["Sim"]));
        result.map_err(AgentError::Failed)
    }

    /// The SIM's identity: ICCID, IMSI, MSISDN and the operator (MCC+MNC),
    /// each empty when unknown; root and group fotad-ui only.
    #[zbus(out_args("iccid", "imsi", "msisdn", "operator"))]
    async fn get_sim_identity(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(String, String, String, String), AgentError> {
        self.authorize(&hdr, conn, Level::Ui, "GetSimIdentity").await?;
        let s = self.sim_snapshot().await.ok_or_else(|| AgentError::Failed("the SIM worker stopped".into()))?;
        Ok((s.iccid, s.imsi, s.msisdn, s.operator))
    }

    /// What the agent does now, whatever started it.
    #[zbus(property)]
    async fn state(&self) -> String {
        self.core.agent.status().activity.as_str().to_string()
    }

    #[zbus(property, name = "FumoState")]
    async fn fumo_state(&self) -> u32 {
        u32::from(self.core.agent.fumo_state())
    }

    /// (percent, bytes done, bytes total, message)
    #[zbus(property)]
    async fn progress(&self) -> (u32, u64, u64, String) {
        self.core.progress()
    }

    #[zbus(property)]
    async fn current_version(&self) -> String {
        self.system().await.version
    }

    #[zbus(property)]
    async fn booted_slot(&self) -> String {
        self.system().await.booted
    }

    #[zbus(property)]
    async fn slots(&self) -> HashMap<String, String> {
        self.system().await.slots
    }

    /// (result code, message)
    #[zbus(property)]
    async fn last_result(&self) -> (u32, String) {
        self.core.agent.last_result().map_or((0, String::new()), |f| (f.code, f.message))
    }

    #[zbus(property)]
    async fn language(&self) -> String {
        self.core.language()
    }

    /// (state, PIN tries left): what any UI needs, nothing that identifies
    /// the subscriber; GetSimIdentity has the rest.
    #[zbus(property)]
    async fn sim(&self) -> (String, u32) {
        match self.sim_snapshot().await {
            Some(s) => (s.state, s.pin_tries_left),
            None => ("unknown".into(), 0),
        }
    }

    /// A prompt for the user: id, kind (display, confirm, text, single-choice,
    /// multi-choice, consent), text, choices, options (min-display, max-display,
    /// default, max-length, input-type, echo).
    #[zbus(signal)]
    pub async fn prompt(
        emitter: &SignalEmitter<'_>,
        id: u32,
        kind: &str,
        text: &str,
        choices: Vec<String>,
        options: HashMap<&str, Value<'_>>,
    ) -> zbus::Result<()>;

    /// Prompt `id` is closed: accepted, rejected, cancelled, answered, chosen,
    /// deferred or timed-out.
    #[zbus(signal)]
    pub async fn prompt_closed(emitter: &SignalEmitter<'_>, id: u32, outcome: &str) -> zbus::Result<()>;

    /// A job ended: job (check, notify, install), result code, message.
    #[zbus(signal)]
    pub async fn completed(emitter: &SignalEmitter<'_>, job: &str, code: u32, message: &str) -> zbus::Result<()>;
}

impl Agent {
    /// Versions and slots, read by the agent from the updater's records.
    async fn system(&self) -> crate::app::System {
        let agent = Arc::clone(&self.core.agent);
        tokio::task::spawn_blocking(move || agent.system()).await.unwrap_or_default()
    }

    async fn sim_snapshot(&self) -> Option<super::ports::SimSnapshot> {
        let sim = Arc::clone(&self.core.sim);
        tokio::task::spawn_blocking(move || sim.snapshot()).await.ok()
    }

    fn consent_id(&self) -> Result<u32, AgentError> {
        self.core.broker.consent_id().ok_or_else(|| AgentError::NotPending("no update is waiting for consent".into()))
    }
}
