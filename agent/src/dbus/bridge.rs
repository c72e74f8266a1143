//! The person at the device over D-Bus, the runs' [`Frontend`]: the DM
//! session's user-interaction alerts and the update consent go out as
//! `Prompt` signals and come back through `RespondToPrompt` (`Accept`,
//! `Defer`). With no UI registered (`RegisterUi`) nobody is asked; a prompt
//! nobody answers within MAXDT (else the configured prompt time-out) times
//! out. Either way the session answers 408 unless `[dm] ui_default_answers`
//! lets the default stand. A cancelled run asks nothing more.

use std::sync::Arc;
use std::time::Duration;

use super::core::Core;
use super::prompts::{PromptSpec, PromptType, Reply};
use crate::app::{Activity, ConsentReply, Frontend};
use crate::dm::session::{default_for_ui, Prompt, PromptKind, UiAnswer, UserInteraction};

/// The bridge handed to the DM session.
#[derive(Debug, Clone)]
pub struct DbusUi {
    core: Arc<Core>,
}

impl DbusUi {
    pub fn new(core: Arc<Core>) -> Self {
        DbusUi { core }
    }
}

/// The bus form of a DM prompt.
pub fn spec_of(p: &Prompt) -> PromptSpec {
    let kind = match p.kind {
        PromptKind::Display => PromptType::Display,
        PromptKind::Confirm => PromptType::Confirm,
        PromptKind::TextInput => PromptType::Text,
        PromptKind::SingleChoice => PromptType::SingleChoice,
        PromptKind::MultiChoice => PromptType::MultiChoice,
    };
    let o = &p.options;
    PromptSpec {
        kind,
        text: p.text.clone(),
        choices: p.choices.clone(),
        min_display_secs: o.min_dt,
        max_display_secs: o.max_dt,
        default_response: default_for_ui(p),
        max_length: o.max_len,
        input_type: o.input_type,
        echo_password: o.echo_type == Some('P'),
    }
}

/// The session's answer for a UI reply.
pub fn answer_of(reply: Reply) -> UiAnswer {
    match reply {
        Reply::Accept => UiAnswer::Accepted,
        Reply::Reject => UiAnswer::Rejected,
        Reply::Cancel | Reply::Defer(_) => UiAnswer::Cancelled,
        Reply::Text(t) => UiAnswer::Text(t),
        Reply::Choices(c) => UiAnswer::Choices(c),
    }
}

impl DbusUi {
    fn cancelling(&self) -> bool {
        self.core.agent.status().activity == Activity::Cancelling
    }
}

impl UserInteraction for DbusUi {
    fn prompt(&self, p: &Prompt) -> Option<UiAnswer> {
        if !self.core.ui_attached() || self.cancelling() {
            return None;
        }
        let spec = spec_of(p);
        // A display alert is shown for MINDT at most; it needs no answer.
        let timeout = match (p.kind, p.options.max_dt) {
            (PromptKind::Display, _) => Duration::from_secs(u64::from(p.options.min_dt.unwrap_or(0))),
            (_, Some(max)) => Duration::from_secs(u64::from(max)),
            (_, None) => self.core.ui.prompt_timeout,
        };
        Some(match self.core.broker.ask(spec, timeout) {
            Some(reply) => answer_of(reply),
            None if p.kind == PromptKind::Display => UiAnswer::Accepted,
            None => UiAnswer::TimedOut,
        })
    }
}

impl Frontend for DbusUi {
    fn ui(&self) -> &dyn UserInteraction {
        self
    }

    fn language(&self) -> String {
        self.core.language()
    }

    fn ask_consent(&self, text: &str, timeout: Duration) -> ConsentReply {
        if self.cancelling() {
            return ConsentReply::Refuse;
        }
        let spec = PromptSpec {
            kind: PromptType::Consent,
            text: text.to_string(),
            choices: Vec::new(),
            min_display_secs: None,
            max_display_secs: Some(u32::try_from(timeout.as_secs()).unwrap_or(u32::MAX)),
            default_response: None,
            max_length: None,
            input_type: None,
            echo_password: false,
        };
        match self.core.broker.ask(spec, timeout) {
            Some(Reply::Accept) => ConsentReply::Accept,
            Some(Reply::Defer(secs)) if secs > 0 => ConsentReply::Defer(Some(Duration::from_secs(u64::from(secs)))),
            Some(Reply::Defer(_)) => ConsentReply::Defer(None),
            None => ConsentReply::NoAnswer,
            Some(_) => ConsentReply::Refuse,
        }
    }
}
