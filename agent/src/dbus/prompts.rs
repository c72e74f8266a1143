//! Open prompts: each gets an id, goes out as a `Prompt` signal, and waits for
//! the first valid answer from any UI (`RespondToPrompt`, or `Accept`/`Defer`
//! for consent) or its time-out. Usable from blocking worker threads.

use std::collections::HashMap;
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender};
use std::sync::Mutex;
use std::time::Duration;

use fotad_updater::sync::lock;
use tokio::sync::mpsc::UnboundedSender;

use super::events::Event;

/// What a prompt asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptType {
    Display,
    Confirm,
    Text,
    SingleChoice,
    MultiChoice,
    /// Update consent (answered with `Accept`/`Defer` or accept/defer/cancel).
    Consent,
}

impl PromptType {
    pub fn as_str(self) -> &'static str {
        match self {
            PromptType::Display => "display",
            PromptType::Confirm => "confirm",
            PromptType::Text => "text",
            PromptType::SingleChoice => "single-choice",
            PromptType::MultiChoice => "multi-choice",
            PromptType::Consent => "consent",
        }
    }
}

/// A prompt as it goes out on the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptSpec {
    pub kind: PromptType,
    pub text: String,
    pub choices: Vec<String>,
    pub min_display_secs: Option<u32>,
    pub max_display_secs: Option<u32>,
    pub default_response: Option<String>,
    pub max_length: Option<u32>,
    pub input_type: Option<char>,
    pub echo_password: bool,
}

/// An answer from a UI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Accept,
    Reject,
    Cancel,
    Text(String),
    Choices(Vec<u32>),
    /// Consent postponed by this many seconds (0 = the configured default).
    Defer(u32),
}

impl Reply {
    /// Parses `RespondToPrompt(id, action, values)`.
    pub fn parse(action: &str, values: &[String]) -> Result<Reply, String> {
        Ok(match action {
            "accept" => Reply::Accept,
            "reject" => Reply::Reject,
            "cancel" => Reply::Cancel,
            "text" => Reply::Text(values.first().cloned().unwrap_or_default()),
            "choose" => Reply::Choices(
                values
                    .iter()
                    .map(|v| v.parse().map_err(|_| format!("choice {v:?} is not a number from 1")))
                    .collect::<Result<_, _>>()?,
            ),
            "defer" => Reply::Defer(match values.first() {
                Some(v) => v.parse().map_err(|_| format!("defer seconds {v:?} is not a number"))?,
                None => 0,
            }),
            other => return Err(format!("action {other:?} is not accept, reject, cancel, text, choose or defer")),
        })
    }

    /// The name used in `PromptClosed` (never the text itself: it may be a password).
    pub fn outcome(&self) -> &'static str {
        match self {
            Reply::Accept => "accepted",
            Reply::Reject => "rejected",
            Reply::Cancel => "cancelled",
            Reply::Text(_) => "answered",
            Reply::Choices(_) => "chosen",
            Reply::Defer(_) => "deferred",
        }
    }
}

/// Whether `reply` answers a prompt like `spec`; an error says why not.
pub fn check_reply(spec: &PromptSpec, reply: &Reply) -> Result<(), String> {
    let n = spec.choices.len() as u32;
    match (spec.kind, reply) {
        (_, Reply::Cancel) => Ok(()),
        (PromptType::Display, Reply::Accept) => Ok(()),
        (PromptType::Confirm, Reply::Accept | Reply::Reject) => Ok(()),
        (PromptType::Consent, Reply::Accept | Reply::Defer(_)) => Ok(()),
        (PromptType::Text, Reply::Text(t)) => match spec.max_length {
            Some(max) if t.chars().count() > max as usize => Err(format!("the text is longer than {max} characters")),
            _ => Ok(()),
        },
        (PromptType::SingleChoice, Reply::Choices(c)) if c.len() == 1 && (1..=n).contains(&c[0]) => Ok(()),
        (PromptType::MultiChoice, Reply::Choices(c)) if !c.is_empty() && c.iter().all(|x| (1..=n).contains(x)) => {
            Ok(())
        }
        (PromptType::SingleChoice | PromptType::MultiChoice, Reply::Choices(_)) => {
            Err(format!("choices are numbered 1 to {n}; single-choice takes exactly one"))
        }
        (kind, r) => Err(format!("a {} prompt cannot be answered with {}", kind.as_str(), r.outcome())),
    }
}

struct Pending {
    spec: PromptSpec,
    answer: SyncSender<Reply>,
}

/// The open prompts.
pub struct PromptBroker {
    events: UnboundedSender<Event>,
    open: Mutex<(u32, HashMap<u32, Pending>)>,
}

impl std::fmt::Debug for PromptBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromptBroker").finish_non_exhaustive()
    }
}

impl PromptBroker {
    pub fn new(events: UnboundedSender<Event>) -> Self {
        PromptBroker { events, open: Mutex::new((0, HashMap::new())) }
    }

    /// Sends the prompt and blocks until an answer or `timeout`; `None` on time-out.
    /// Call from a blocking thread only.
    pub fn ask(&self, spec: PromptSpec, timeout: Duration) -> Option<Reply> {
        let (tx, rx) = sync_channel(1);
        let id = {
            let mut open = lock(&self.open);
            open.0 = open.0.wrapping_add(1).max(1);
            let id = open.0;
            open.1.insert(id, Pending { spec: spec.clone(), answer: tx });
            id
        };
        let _ = self.events.send(Event::Prompt { id, spec });
        match rx.recv_timeout(timeout) {
            Ok(reply) => Some(reply),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                self.close(id, "timed-out");
                None
            }
        }
    }

    /// Answers prompt `id`; the first valid answer wins, later ones get an error.
    pub fn respond(&self, id: u32, reply: Reply) -> Result<(), PromptRefusal> {
        let mut open = lock(&self.open);
        let pending = open.1.get(&id).ok_or(PromptRefusal::NoSuchPrompt(id))?;
        check_reply(&pending.spec, &reply).map_err(PromptRefusal::Invalid)?;
        let outcome = reply.outcome();
        if let Some(p) = open.1.remove(&id) {
            let _ = p.answer.send(reply);
        }
        drop(open);
        let _ = self.events.send(Event::PromptClosed { id, outcome: outcome.to_string() });
        Ok(())
    }

    /// The id of the open consent prompt, if any.
    pub fn consent_id(&self) -> Option<u32> {
        let open = lock(&self.open);
        open.1.iter().find(|(_, p)| p.spec.kind == PromptType::Consent).map(|(id, _)| *id)
    }

    /// Cancels every open prompt (shutdown, `Cancel`).
    pub fn cancel_all(&self) {
        let ids: Vec<u32> = lock(&self.open).1.keys().copied().collect();
        for id in ids {
            let _ = self.respond(id, Reply::Cancel);
        }
    }

    fn close(&self, id: u32, outcome: &str) {
        let removed = lock(&self.open).1.remove(&id).is_some();
        if removed {
            let _ = self.events.send(Event::PromptClosed { id, outcome: outcome.to_string() });
        }
    }
}

/// Why an answer was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptRefusal {
    NoSuchPrompt(u32),
    Invalid(String),
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::sync::Arc;

    fn spec(kind: PromptType, choices: usize) -> PromptSpec {
        PromptSpec {
            kind,
            text: "t".into(),
            choices: (1..=choices).map(|i| format!("c{i}")).collect(),
            min_display_secs: None,
            max_display_secs: None,
            default_response: None,
            max_length: Some(3),
            input_type: None,
            echo_password: false,
        }
    }

    #[test]
    fn first_answer_wins_and_invalid_answers_leave_it_open() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let broker = Arc::new(PromptBroker::new(tx));
        let b = Arc::clone(&broker);
        let asker = std::thread::spawn(move || b.ask(spec(PromptType::SingleChoice, 2), Duration::from_secs(10)));
        let id = loop {
            if let Ok(Event::Prompt { id, .. }) = rx.try_recv() {
                break id;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let e = broker.respond(id, Reply::Choices(vec![3])).unwrap_err();
        assert!(matches!(e, PromptRefusal::Invalid(_)), "{e:?}");
        broker.respond(id, Reply::Choices(vec![2])).unwrap();
        assert_eq!(broker.respond(id, Reply::Choices(vec![1])), Err(PromptRefusal::NoSuchPrompt(id)));
        assert_eq!(asker.join().unwrap(), Some(Reply::Choices(vec![2])));
    }

    #[test]
    fn times_out_and_closes() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let broker = PromptBroker::new(tx);
        assert_eq!(broker.ask(spec(PromptType::Confirm, 0), Duration::from_millis(20)), None);
        assert!(matches!(rx.try_recv(), Ok(Event::Prompt { .. })));
        assert!(matches!(rx.try_recv(), Ok(Event::PromptClosed { outcome, .. }) if outcome == "timed-out"));
    }

    #[test]
    fn checks_answers_against_the_prompt() {
        assert!(check_reply(&spec(PromptType::Text, 0), &Reply::Text("abcd".into())).is_err());
        assert!(check_reply(&spec(PromptType::Text, 0), &Reply::Text("abc".into())).is_ok());
        assert!(check_reply(&spec(PromptType::Confirm, 0), &Reply::Text("x".into())).is_err());
        assert!(check_reply(&spec(PromptType::MultiChoice, 3), &Reply::Choices(vec![1, 3])).is_ok());
        assert!(check_reply(&spec(PromptType::Consent, 0), &Reply::Defer(5)).is_ok());
        assert!(check_reply(&spec(PromptType::Display, 0), &Reply::Reject).is_err());
        assert_eq!(Reply::parse("choose", &["2".into()]), Ok(Reply::Choices(vec![2])));
        assert!(Reply::parse("choose", &["x".into()]).is_err());
        assert!(Reply::parse("maybe", &[]).is_err());
    }
}
