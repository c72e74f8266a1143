//! Starting a session from package #0: verify the digest with the server's
//! credentials and our nonce, honour the ui-mode, hand back the trigger.

use super::ui::{Prompt, PromptKind, UiAnswer, UiOptions, UserInteraction};
use super::Trigger;
use crate::dm::auth::NonceStore;
use crate::dm::mo::{find_account, DmAccount};
use crate::dm::notification::{Notification, NotificationError, UiMode};
use crate::dm::tree::Tree;

/// What to do about a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationDecision {
    /// Start a server-initiated session with this account.
    Start { account: Box<DmAccount>, trigger: Trigger, notification: Notification },
    /// The user declined (ui-mode 3).
    Declined { server_id: String },
}

/// Why a notification was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NotifyError {
    #[error(transparent)]
    Parse(#[from] NotificationError),
    #[error("notification names server {0:?}, which has no DMAcc")]
    UnknownServer(String),
}

/// The library entry for package #0 (D-Bus `Notify`, the UDP listener, an
/// SMS bridge). Ui-mode 2 shows a message, ui-mode 3 asks the user first.
pub fn accept_notification(
    bytes: &[u8],
    tree: &Tree,
    nonces: &NonceStore,
    ui: &dyn UserInteraction,
) -> Result<NotificationDecision, NotifyError> {
    let n = Notification::parse(bytes)?;
    let account = find_account(tree, &n.server_id).ok_or_else(|| NotifyError::UnknownServer(n.server_id.clone()))?;
    let mut nonce = nonces.get(&account.server_id).server;
    if nonce.is_empty() {
        nonce.clone_from(&account.server.nonce);
    }
    let name = if account.server.name.is_empty() { &account.server_id } else { &account.server.name };
    if !n.verify(name, &account.server.secret, &nonce) {
        return Err(NotificationError::BadDigest(n.server_id).into());
    }
    if !user_agrees(n.ui_mode, &account, ui) {
        return Ok(NotificationDecision::Declined { server_id: account.server_id });
    }
    Ok(NotificationDecision::Start {
        trigger: Trigger::Server { session_id: n.session_id_hex() },
        account: Box::new(account),
        notification: n,
    })
}

/// Ui-mode 2 informs the user, ui-mode 3 asks; false only when asked and the
/// user did not accept. No UI to ask: the session goes ahead (the server's own
/// alerts will ask again, with their defaults).
fn user_agrees(mode: UiMode, account: &DmAccount, ui: &dyn UserInteraction) -> bool {
    let kind = match mode {
        UiMode::Informative => PromptKind::Display,
        UiMode::UserInteraction => PromptKind::Confirm,
        UiMode::NotSpecified | UiMode::Background => return true,
    };
    let prompt = Prompt {
        kind,
        options: UiOptions::default(),
        text: format!("Device management session requested by {}", account.name),
        choices: Vec::new(),
        server_id: account.server_id.clone(),
    };
    let answer = ui.prompt(&prompt).unwrap_or(UiAnswer::Accepted);
    kind != PromptKind::Confirm || answer == UiAnswer::Accepted
}
