//! The DM client facade other modules use: opens the tree in the state
//! directory, installs the standard objects and accounts, and runs sessions
//! (client-initiated, from package #0, or after a bootstrap).

use std::sync::Arc;

use crate::dm::auth::NonceStore;
use crate::dm::config::Settings;
use crate::dm::mo::{self, find_account, BootstrapError, Versions};
use crate::dm::session::{
    accept_notification, run_session, AlertQueue, ExecHandler, NotificationDecision, NotifyError, SessionContext,
    SessionError, SessionOptions, SessionReport, Trigger, UserInteraction,
};
use crate::dm::transport::{HttpTransport, TlsOptions, Transport, TransportError};
use crate::dm::tree::{DynamicFn, Tree, TreeError, UriLimits};
use crate::state_file::StateError;

/// Errors of the facade, naming the server concerned.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Tree(#[from] TreeError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("no DM account {0:?} in ./DMAcc")]
    NoAccount(String),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Notify(#[from] NotifyError),
    #[error(transparent)]
    Bootstrap(#[from] BootstrapError),
}

/// The DM client of one device.
pub struct DmClient {
    settings: Settings,
    tree: Tree,
    nonces: NonceStore,
    alerts: AlertQueue,
}

impl std::fmt::Debug for DmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DmClient").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl DmClient {
    /// Opens the state directory; provisions configured accounts on first start.
    pub fn open(settings: Settings, versions: Versions) -> Result<DmClient, ClientError> {
        let mut tree = Tree::open(&settings.state_dir, UriLimits::default())?;
        mo::install_standard_objects(&mut tree, &settings, versions)?;
        tree.save()?;
        let nonces = NonceStore::load(&settings.state_dir)?;
        let alerts = AlertQueue::open(&settings.state_dir)?;
        Ok(DmClient { settings, tree, nonces, alerts })
    }

    /// The generic-alert queue (cloneable; FUMO pushes its results here).
    pub fn alerts(&self) -> AlertQueue {
        self.alerts.clone()
    }

    pub fn tree(&mut self) -> &mut Tree {
        &mut self.tree
    }

    /// Serves a leaf from code (e.g. `./DevDetail/SwV` from the updater).
    pub fn set_dynamic(&mut self, uri: &str, f: DynamicFn) -> Result<(), ClientError> {
        Ok(self.tree.set_dynamic(uri, f)?)
    }

    /// Runs a session with `server_id` (or the first account) over HTTP(S).
    pub fn session(
        &mut self,
        server_id: Option<&str>,
        trigger: &Trigger,
        ui: &dyn UserInteraction,
        exec: &mut dyn ExecHandler,
    ) -> Result<SessionReport, ClientError> {
        let account = match server_id {
            Some(id) => find_account(&self.tree, id),
            None => mo::accounts(&self.tree).into_iter().next(),
        }
        .ok_or_else(|| ClientError::NoAccount(server_id.unwrap_or("").to_string()))?;
        let tls = self.settings.account(&account.server_id).map(|a| TlsOptions {
            ca_bundle: a.ca_bundle.clone(),
            client_cert: a.client_cert.clone(),
            client_key: a.client_key.clone(),
        });
        let max_reply = (self.settings.max_msg_size as usize).saturating_mul(4).max(1 << 20);
        let mut transport = HttpTransport::new(&tls.unwrap_or_default(), max_reply)?;
        self.session_over(account, &mut transport, trigger, ui, exec)
    }

    /// Runs a session over any transport (tests use in-process ones).
    pub fn session_over(
        &mut self,
        account: mo::DmAccount,
        transport: &mut dyn Transport,
        trigger: &Trigger,
        ui: &dyn UserInteraction,
        exec: &mut dyn ExecHandler,
    ) -> Result<SessionReport, ClientError> {
        let options = SessionOptions {
            device_id: self.settings.device_id.clone(),
            codec: self.settings.codec,
            max_msg_size: self.settings.max_msg_size,
            max_obj_size: self.settings.max_obj_size,
            objects_dir: self.settings.state_dir.join("objects"),
            max_messages: self.settings.max_session_messages,
            max_duration: self.settings.max_session_time,
            default_answers: self.settings.ui_default_answers,
        };
        let ctx = SessionContext {
            tree: &mut self.tree,
            account,
            nonces: &mut self.nonces,
            transport,
            ui,
            exec,
            alerts: self.alerts.clone(),
            options,
        };
        Ok(run_session(ctx, trigger)?)
    }

    /// Package #0 entry (D-Bus `Notify`, UDP listener): verifies it and runs
    /// the server-initiated session unless the user declined (then `None`).
    pub fn notify(
        &mut self,
        package0: &[u8],
        ui: &dyn UserInteraction,
        exec: &mut dyn ExecHandler,
    ) -> Result<Option<SessionReport>, ClientError> {
        match accept_notification(package0, &self.tree, &self.nonces, ui)? {
            NotificationDecision::Declined { .. } => Ok(None),
            NotificationDecision::Start { account, trigger, .. } => {
                let id = account.server_id.clone();
                self.session(Some(&id), &trigger, ui, exec).map(Some)
            }
        }
    }

    /// Applies an OMA DM bootstrap message (callers restrict this to root).
    pub fn bootstrap(&mut self, bytes: &[u8]) -> Result<Vec<String>, ClientError> {
        let ids = mo::apply_bootstrap(&mut self.tree, bytes)?;
        self.tree.save()?;
        Ok(ids)
    }
}

/// A fixed value as a dynamic leaf source.
pub fn fixed(value: &str) -> DynamicFn {
    let v = value.to_string();
    Arc::new(move || v.clone())
}
