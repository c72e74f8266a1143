//! Starting the service on a bus: connect, serve the object, own the name,
//! and forward worker events to the bus.

use std::collections::HashMap;
use std::sync::Arc;

use futures_lite::StreamExt;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use tokio::task::JoinHandle;
use zbus::connection::Builder;
use zbus::object_server::InterfaceRef;
use zbus::zvariant::Value;
use zbus::{fdo, Connection};

use super::bridge::DbusUi;
use super::core::{Core, ServiceParts};
use super::events::Event;
use super::interface::Agent;
use super::{BUS_NAME, OBJECT_PATH};
use crate::app::service_settings::BusChoice;

/// The running service.
#[derive(Debug)]
pub struct Service {
    core: Arc<Core>,
    conn: Connection,
    pump: JoinHandle<()>,
}

/// Called with the agent's state line whenever `State` changes (for `STATUS=`).
pub type StatusHook = Box<dyn Fn(&str) + Send + Sync>;

impl Service {
    /// Connects to `bus`, serves `/org/fotad/Agent1` and owns `org.fotad.Agent1`.
    /// Returns only once the name is owned.
    pub async fn start(bus: &BusChoice, parts: ServiceParts, status: StatusHook) -> zbus::Result<Service> {
        let (tx, rx) = unbounded_channel();
        let core = Arc::new(Core::new(parts, tx));
        let agent = Agent { core: Arc::clone(&core) };
        let builder = match bus {
            BusChoice::System => Builder::system()?,
            BusChoice::Session => Builder::session()?,
            BusChoice::Address(a) => Builder::address(a.as_str())?,
        };
        let conn = builder.serve_at(OBJECT_PATH, agent)?.name(BUS_NAME)?.build().await?;
        let iface = conn.object_server().interface::<_, Agent>(OBJECT_PATH).await?;
        let left = fdo::DBusProxy::new(&conn).await?.receive_name_owner_changed().await?;
        let pump = tokio::spawn(pump(iface, rx, status));
        tokio::spawn(forget_uis_that_leave(Arc::clone(&core), left));
        Ok(Service { core, conn, pump })
    }

    /// The bridge for the DM session's user-interaction alerts.
    pub fn ui(&self) -> DbusUi {
        DbusUi::new(Arc::clone(&self.core))
    }

    /// The core (the agent, the prompts, the registered UIs).
    pub fn core(&self) -> Arc<Core> {
        Arc::clone(&self.core)
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Stops the agent (the running run, whatever started it, stops at its
    /// next checkpoint), waits for it, and releases the name.
    pub async fn shutdown(self) {
        self.core.stop(std::time::Duration::from_secs(600)).await;
        drop(self.core);
        let _ = self.conn.release_name(BUS_NAME).await;
        self.pump.abort();
    }
}

/// Drops a registered UI when its connection leaves the bus.
async fn forget_uis_that_leave(core: Arc<Core>, mut changes: fdo::NameOwnerChangedStream) {
    while let Some(change) = changes.next().await {
        if let Ok(args) = change.args() {
            if args.new_owner().is_none() {
                core.ui_left(args.name().as_str());
            }
        }
    }
}

async fn pump(iface: InterfaceRef<Agent>, mut rx: UnboundedReceiver<Event>, status: StatusHook) {
    while let Some(event) = rx.recv().await {
        if let Err(e) = forward(&iface, event, &status).await {
            tracing::warn!(error = %e, "sending a D-Bus signal failed");
        }
    }
}

async fn forward(iface: &InterfaceRef<Agent>, event: Event, status: &StatusHook) -> zbus::Result<()> {
    let em = iface.signal_emitter();
    match event {
        Event::Changed(names) => {
            let agent = iface.get().await;
            for name in names {
                match *name {
                    "State" => agent.state_changed(em).await?,
                    "FumoState" => agent.fumo_state_changed(em).await?,
                    "Progress" => agent.progress_changed(em).await?,
                    "CurrentVersion" => agent.current_version_changed(em).await?,
                    "BootedSlot" => agent.booted_slot_changed(em).await?,
                    "Slots" => agent.slots_changed(em).await?,
                    "LastResult" => agent.last_result_changed(em).await?,
                    "Language" => agent.language_changed(em).await?,
                    "Sim" => agent.sim_changed(em).await?,
                    _ => {}
                }
            }
        }
        Event::Prompt { id, spec } => {
            let mut options: HashMap<&str, Value<'_>> = HashMap::new();
            let num = |v: Option<u32>| v.map(Value::from);
            options.extend(num(spec.min_display_secs).map(|v| ("min-display", v)));
            options.extend(num(spec.max_display_secs).map(|v| ("max-display", v)));
            options.extend(num(spec.max_length).map(|v| ("max-length", v)));
            options.extend(spec.default_response.as_deref().map(|d| ("default", Value::from(d))));
            options.extend(spec.input_type.map(|c| ("input-type", Value::from(c.to_string()))));
            options.insert("echo", Value::from(if spec.echo_password { "password" } else { "text" }));
            Agent::prompt(em, id, spec.kind.as_str(), &spec.text, spec.choices.clone(), options).await?
        }
        Event::Status(state) => status(&format!("{state}: {}", crate::i18n::text("en", state.message(), &[]))),
        Event::PromptClosed { id, outcome } => Agent::prompt_closed(em, id, &outcome).await?,
        Event::Completed { job, code, message } => Agent::completed(em, &job, code, &message).await?,
    }
    Ok(())
}
