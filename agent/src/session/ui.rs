//! User-interaction alerts 1100–1104: option parsing, the [`UserInteraction`]
//! trait the D-Bus layer implements, and the defaults applied when no UI answers.

use crate::status::StatusCode;

/// The five DM user-interaction alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    Display = 1100,
    Confirm = 1101,
    TextInput = 1102,
    SingleChoice = 1103,
    MultiChoice = 1104,
}

impl PromptKind {
    pub fn from_code(code: u32) -> Option<PromptKind> {
        Some(match code {
            1100 => PromptKind::Display,
            1101 => PromptKind::Confirm,
            1102 => PromptKind::TextInput,
            1103 => PromptKind::SingleChoice,
            1104 => PromptKind::MultiChoice,
            _ => return None,
        })
    }
}

/// Options from the alert's first item (`MINDT=10&MAXDT=20&DR=1&...`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UiOptions {
    /// Minimum display time, seconds.
    pub min_dt: Option<u32>,
    /// Maximum display time (time-out), seconds.
    pub max_dt: Option<u32>,
    /// Default response.
    pub default_response: Option<String>,
    pub max_len: Option<u32>,
    /// Input type: A alphanumeric, N numeric, D date, T time, P phone, I IP.
    pub input_type: Option<char>,
    /// Echo type: T text, P password.
    pub echo_type: Option<char>,
}

const KEYS: [&str; 6] = ["MINDT=", "MAXDT=", "DR=", "MAXLEN=", "IT=", "ET="];

impl UiOptions {
    /// Parses leniently: `&` separators may be missing (`MAXDT=15DR=1`),
    /// unknown keys and bad numbers are ignored.
    pub fn parse(s: &str) -> UiOptions {
        let mut starts: Vec<(usize, &str)> = Vec::new();
        for k in KEYS {
            let mut from = 0;
            while let Some(i) = s[from..].find(k) {
                let at = from + i;
                // "DR=" inside "MAXDR=" etc. is not a key; require a boundary.
                let boundary = at == 0 || !s.as_bytes()[at - 1].is_ascii_uppercase();
                if boundary {
                    starts.push((at, k));
                }
                from = at + k.len();
            }
        }
        starts.sort_unstable();
        let mut o = UiOptions::default();
        for (n, (at, key)) in starts.iter().enumerate() {
            let end = starts.get(n + 1).map(|(e, _)| *e).unwrap_or(s.len());
            let value = s[at + key.len()..end].trim_end_matches('&').trim();
            o.set(key, value);
        }
        o
    }

    fn set(&mut self, key: &str, v: &str) {
        match key {
            "MINDT=" => self.min_dt = v.parse().ok(),
            "MAXDT=" => self.max_dt = v.parse().ok(),
            "DR=" => self.default_response = Some(v.to_string()),
            "MAXLEN=" => self.max_len = v.parse().ok(),
            "IT=" => self.input_type = v.chars().next(),
            "ET=" => self.echo_type = v.chars().next(),
            _ => {}
        }
    }
}

/// A prompt for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub options: UiOptions,
    pub text: String,
    /// Choices (1103/1104), numbered from 1 in the protocol.
    pub choices: Vec<String>,
    pub server_id: String,
}

/// What the user did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UiAnswer {
    /// Display acknowledged, or "yes" to a confirmation.
    Accepted,
    /// "No" to a confirmation.
    Rejected,
    Cancelled,
    TimedOut,
    Text(String),
    /// Choice numbers, from 1.
    Choices(Vec<u32>),
}

/// Implemented by the UI bridge (D-Bus `Prompt` signal). Blocking: returns
/// when the user answered, or `None` when no UI is there to ask (the defaults
/// from the options then apply). Implementations honour MAXDT themselves.
pub trait UserInteraction {
    fn prompt(&self, prompt: &Prompt) -> Option<UiAnswer>;
}

/// No UI: every prompt gets its default.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoUi;

impl UserInteraction for NoUi {
    fn prompt(&self, _: &Prompt) -> Option<UiAnswer> {
        None
    }
}

/// The answer used when no UI answered: Display is shown (accepted); the
/// others take DR when present and time out otherwise.
pub fn default_answer(p: &Prompt) -> UiAnswer {
    let dr = p.options.default_response.as_deref();
    match (p.kind, dr) {
        (PromptKind::Display, _) => UiAnswer::Accepted,
        (PromptKind::Confirm, Some("1")) => UiAnswer::Accepted,
        (PromptKind::Confirm, Some("0")) => UiAnswer::Rejected,
        (PromptKind::TextInput, Some(d)) => UiAnswer::Text(d.to_string()),
        (PromptKind::SingleChoice | PromptKind::MultiChoice, Some(d)) => {
            let picks: Vec<u32> = d.split('-').filter_map(|x| x.trim().parse().ok()).collect();
            if picks.is_empty() {
                UiAnswer::TimedOut
            } else {
                UiAnswer::Choices(picks)
            }
        }
        _ => UiAnswer::TimedOut,
    }
}

/// The Status code and the reply items' data for an answer.
pub fn answer_status(kind: PromptKind, answer: &UiAnswer) -> (StatusCode, Vec<String>) {
    match (kind, answer) {
        (_, UiAnswer::Cancelled) => (StatusCode::OperationCancelled, vec![]),
        (_, UiAnswer::TimedOut) => (StatusCode::RequestTimeout, vec![]),
        (PromptKind::Confirm, UiAnswer::Rejected) => (StatusCode::NotModified, vec![]),
        (PromptKind::TextInput, UiAnswer::Text(t)) => (StatusCode::Ok, vec![t.clone()]),
        (PromptKind::SingleChoice, UiAnswer::Choices(c)) => {
            (StatusCode::Ok, c.first().map(|x| x.to_string()).into_iter().collect())
        }
        (PromptKind::MultiChoice, UiAnswer::Choices(c)) => (StatusCode::Ok, c.iter().map(u32::to_string).collect()),
        (PromptKind::Display | PromptKind::Confirm, UiAnswer::Accepted) => (StatusCode::Ok, vec![]),
        _ => (StatusCode::OptionalFeatureNotSupported, vec![]),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn parses_the_spec_option_string() {
        let o = UiOptions::parse("MINDT=10&MAXDT=20&DR=1&MAXLEN=8&IT=N&ET=P");
        assert_eq!(o.min_dt, Some(10));
        assert_eq!(o.max_dt, Some(20));
        assert_eq!(o.default_response.as_deref(), Some("1"));
        assert_eq!(o.max_len, Some(8));
        assert_eq!(o.input_type, Some('N'));
        assert_eq!(o.echo_type, Some('P'));
    }

    #[test]
    fn parses_real_world_strings_without_separators() {
        let o = UiOptions::parse("MAXDT=15DR=1");
        assert_eq!(o.max_dt, Some(15));
        assert_eq!(o.default_response.as_deref(), Some("1"));
        assert_eq!(
            UiOptions::parse("DR=2-3&MINDT=x"),
            UiOptions { default_response: Some("2-3".into()), ..UiOptions::default() }
        );
        assert_eq!(UiOptions::parse(""), UiOptions::default());
    }

    fn prompt(kind: PromptKind, opts: &str) -> Prompt {
        Prompt { kind, options: UiOptions::parse(opts), text: "t".into(), choices: vec![], server_id: "s".into() }
    }

    #[test]
    fn defaults_follow_dr_or_time_out() {
        let c = |k, o| answer_status(k, &default_answer(&prompt(k, o)));
        assert_eq!(c(PromptKind::Display, ""), (StatusCode::Ok, vec![]));
        assert_eq!(c(PromptKind::Confirm, "DR=1"), (StatusCode::Ok, vec![]));
        assert_eq!(c(PromptKind::Confirm, "DR=0"), (StatusCode::NotModified, vec![]));
        assert_eq!(c(PromptKind::Confirm, "MAXDT=5"), (StatusCode::RequestTimeout, vec![]));
        assert_eq!(c(PromptKind::TextInput, "DR=abc"), (StatusCode::Ok, vec!["abc".to_string()]));
        assert_eq!(c(PromptKind::SingleChoice, "DR=2"), (StatusCode::Ok, vec!["2".to_string()]));
        assert_eq!(c(PromptKind::MultiChoice, "DR=1-3"), (StatusCode::Ok, vec!["1".to_string(), "3".to_string()]));
        assert_eq!(answer_status(PromptKind::Confirm, &UiAnswer::Cancelled).0, StatusCode::OperationCancelled);
    }
}
