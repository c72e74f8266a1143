//! User-interaction alerts 1100–1104: option parsing, the [`UserInteraction`]
//! trait the D-Bus layer implements, and what is answered when no person
//! answers: the no-response status 408, unless the integrator lets the
//! server's default response stand for that alert type (`[dm]
//! ui_default_answers`). A default response is the server's suggestion, never
//! the user's answer.

use crate::dm::status::StatusCode;

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

    /// The name used in the configuration and on the bus.
    pub fn name(self) -> &'static str {
        match self {
            PromptKind::Display => "display",
            PromptKind::Confirm => "confirm",
            PromptKind::TextInput => "text",
            PromptKind::SingleChoice => "single-choice",
            PromptKind::MultiChoice => "multi-choice",
        }
    }
}

/// Options from the alert's first item (`MINDT=10&MAXDT=20&DR=1&...`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UiOptions {
    /// Minimum display time, seconds.
    pub min_dt: Option<u32>,
    /// Maximum display time (time-out), seconds.
    pub max_dt: Option<u32>,
    /// Default response, URL-decoded; whether this alert can take it is
    /// checked by [`Prompt::drop_unusable_default`] and [`default_answer`].
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
    /// unknown keys are skipped (DM-Protocol: "skip without error"), and a
    /// value that cannot be read (`MAXDT=soon`, `IT=X`) is absent, with a
    /// warning in the log.
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
            "MINDT=" => self.min_dt = positive(key, v),
            "MAXDT=" => self.max_dt = positive(key, v),
            "MAXLEN=" => self.max_len = positive(key, v),
            "DR=" => self.default_response = Some(percent_decode(v)),
            "IT=" => self.input_type = one_of(key, v, "ANDTPI"),
            "ET=" => self.echo_type = one_of(key, v, "TP"),
            _ => {}
        }
    }
}

/// A positive integer (MINDT, MAXDT, MAXLEN), else absent with a warning.
fn positive(key: &str, v: &str) -> Option<u32> {
    match v.parse::<u32>() {
        Ok(n) if n > 0 => Some(n),
        _ => {
            tracing::warn!("user-interaction option {key}{v:?} is not a positive number; treated as absent");
            None
        }
    }
}

/// One letter of `allowed` (IT, ET), else absent with a warning.
fn one_of(key: &str, v: &str, allowed: &str) -> Option<char> {
    let mut chars = v.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if allowed.contains(c) => Some(c),
        _ => {
            tracing::warn!("user-interaction option {key}{v:?} is not one of {allowed}; treated as absent");
            None
        }
    }
}

/// `%XX` sequences decoded (the option string is URL-encoded, RFC 2396); a
/// `%` not followed by two hex digits, or bytes that are no UTF-8, stay as sent.
fn percent_decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| v.to_string())
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

impl Prompt {
    /// Drops a default response this alert cannot take (`DR=yes` on a
    /// confirmation, `DR=7` with three choices, `DR=1-2` on a single choice,
    /// a text longer than MAXLEN), with a warning: it is then absent, for the
    /// UI and for the answer without a person alike.
    pub fn drop_unusable_default(&mut self) {
        if let Some(dr) = &self.options.default_response {
            if let Err(why) = dr_answer(self, dr) {
                tracing::warn!(
                    "alert {} from {}: default response {dr:?} {why}; treated as absent",
                    self.kind as u32,
                    self.server_id
                );
                self.options.default_response = None;
            }
        }
    }
}

/// What the user did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UiAnswer {
    /// Display acknowledged, or "yes" to a confirmation.
    Accepted,
    /// "No" to a confirmation.
    Rejected,
    Cancelled,
    /// A person was asked and did not answer within MAXDT.
    TimedOut,
    Text(String),
    /// Choice numbers, from 1.
    Choices(Vec<u32>),
}

/// Implemented by the UI bridge (D-Bus `Prompt` signal). Blocking: returns
/// the person's answer, `Some(TimedOut)` when one was asked and did not answer
/// within MAXDT, or `None` at once when there is no UI to ask. A display
/// alert that was shown is `Accepted`.
pub trait UserInteraction {
    fn prompt(&self, prompt: &Prompt) -> Option<UiAnswer>;
}

/// No UI (`fotad --once`): nobody is asked.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoUi;

impl UserInteraction for NoUi {
    fn prompt(&self, _: &Prompt) -> Option<UiAnswer> {
        None
    }
}

/// The alert types for which the integrator lets the server's default
/// response (DR) answer when no person did (`[dm] ui_default_answers`).
/// Empty by default: without a person, confirmations, text input and
/// choices get 408.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefaultAnswers {
    pub confirm: bool,
    pub text: bool,
    pub single_choice: bool,
    pub multi_choice: bool,
}

impl DefaultAnswers {
    /// From the configured names: `confirm` (1101), `text` (1102),
    /// `single-choice` (1103), `multi-choice` (1104).
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<DefaultAnswers, String> {
        let mut d = DefaultAnswers::default();
        for n in names {
            match n.as_ref() {
                "confirm" => d.confirm = true,
                "text" => d.text = true,
                "single-choice" => d.single_choice = true,
                "multi-choice" => d.multi_choice = true,
                other => {
                    return Err(format!(
                        "{other:?} is not an alert type with a default response \
                         (confirm, text, single-choice, multi-choice)"
                    ))
                }
            }
        }
        Ok(d)
    }

    pub fn allows(self, kind: PromptKind) -> bool {
        match kind {
            PromptKind::Display => false,
            PromptKind::Confirm => self.confirm,
            PromptKind::TextInput => self.text,
            PromptKind::SingleChoice => self.single_choice,
            PromptKind::MultiChoice => self.multi_choice,
        }
    }
}

/// What is answered when no person answered (no UI, or MAXDT passed): a
/// display alert has nothing to answer; the others time out (408) unless
/// `allowed` lets their default response stand.
pub fn unanswered(p: &Prompt, allowed: DefaultAnswers) -> UiAnswer {
    match p.kind {
        PromptKind::Display => UiAnswer::Accepted,
        kind if allowed.allows(kind) => default_answer(p),
        _ => UiAnswer::TimedOut,
    }
}

/// The server's default response as an answer: `DR=1`/`DR=0` for a
/// confirmation, the text for text input, choice numbers for a choice (a list
/// and ranges, `DR=1-3,6`); `TimedOut` when there is none or none this alert
/// can take. A display alert is `Accepted`.
pub fn default_answer(p: &Prompt) -> UiAnswer {
    if p.kind == PromptKind::Display {
        return UiAnswer::Accepted;
    }
    match p.options.default_response.as_deref().map(|dr| dr_answer(p, dr)) {
        Some(Ok(a)) => a,
        _ => UiAnswer::TimedOut,
    }
}

/// The default response as a UI shows it: `0`/`1`, the text, or the choice
/// numbers as a list (`1,2,3,6` for `DR=1-3,6`); `None` when there is no
/// usable one.
pub fn default_for_ui(p: &Prompt) -> Option<String> {
    let dr = p.options.default_response.as_deref()?;
    Some(match dr_answer(p, dr).ok()? {
        UiAnswer::Accepted => "1".into(),
        UiAnswer::Rejected => "0".into(),
        UiAnswer::Text(t) => t,
        UiAnswer::Choices(c) => c.iter().map(u32::to_string).collect::<Vec<_>>().join(","),
        UiAnswer::Cancelled | UiAnswer::TimedOut => return None,
    })
}

/// Reads `dr` for this alert, or says why it cannot.
fn dr_answer(p: &Prompt, dr: &str) -> Result<UiAnswer, String> {
    match p.kind {
        PromptKind::Display => Ok(UiAnswer::Accepted),
        PromptKind::Confirm => match dr.trim() {
            "1" => Ok(UiAnswer::Accepted),
            "0" => Ok(UiAnswer::Rejected),
            _ => Err("is not 0 (no) or 1 (yes)".into()),
        },
        PromptKind::TextInput => match p.options.max_len {
            Some(max) if dr.chars().count() > max as usize => Err(format!("is longer than MAXLEN={max}")),
            _ => Ok(UiAnswer::Text(dr.to_string())),
        },
        PromptKind::SingleChoice => {
            let n = choice(dr.trim(), p.choices.len()).ok_or_else(|| in_range(p))?;
            Ok(UiAnswer::Choices(vec![n]))
        }
        PromptKind::MultiChoice => choice_list(dr, p.choices.len()).map(UiAnswer::Choices).ok_or_else(|| in_range(p)),
    }
}

fn in_range(p: &Prompt) -> String {
    let one = if p.kind == PromptKind::SingleChoice { "one choice number" } else { "choice numbers and ranges" };
    format!("is not {one} from 1 to {}", p.choices.len())
}

/// A choice number from 1 to `n`.
fn choice(s: &str, n: usize) -> Option<u32> {
    let v: u32 = s.trim().parse().ok()?;
    (v >= 1 && v as usize <= n).then_some(v)
}

/// A list of choice numbers and ranges (`1-3,6`), each from 1 to `n`, a range
/// not backwards; sorted, each number once.
fn choice_list(s: &str, n: usize) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (choice(a, n)?, choice(b, n)?);
                if a > b {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(choice(part, n)?),
        }
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
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
        assert_eq!(answer_status(PromptKind::Confirm, &UiAnswer::Cancelled).0, StatusCode::OperationCancelled);
    }

    fn choices(kind: PromptKind, opts: &str, n: usize) -> (StatusCode, Vec<String>) {
        let mut p = prompt(kind, opts);
        p.choices = (1..=n).map(|i| format!("choice {i}")).collect();
        answer_status(kind, &default_answer(&p))
    }

    fn picked(v: &[&str]) -> (StatusCode, Vec<String>) {
        (StatusCode::Ok, v.iter().map(|x| x.to_string()).collect())
    }

    #[test]
    fn dr_takes_lists_and_ranges_of_choices() {
        assert_eq!(choices(PromptKind::MultiChoice, "DR=1-3,6", 6), picked(&["1", "2", "3", "6"]));
        assert_eq!(choices(PromptKind::MultiChoice, "MINDT=10&MAXDT=20&DR=2,4", 6), picked(&["2", "4"]));
        assert_eq!(choices(PromptKind::MultiChoice, "DR=3,1-2,3", 6), picked(&["1", "2", "3"]));
        assert_eq!(choices(PromptKind::SingleChoice, "MAXDT=15DR=2", 3), picked(&["2"]));
        let timed_out = (StatusCode::RequestTimeout, vec![]);
        for bad in ["DR=3-1", "DR=0", "DR=7", "DR=1-", "DR=a,b", "DR=1-3-5", "DR="] {
            assert_eq!(choices(PromptKind::MultiChoice, bad, 6), timed_out, "{bad}");
        }
        assert_eq!(choices(PromptKind::SingleChoice, "DR=1-2", 3), timed_out, "one choice only");
        assert_eq!(choices(PromptKind::SingleChoice, "DR=1,2", 3), timed_out, "one choice only");
        assert_eq!(choices(PromptKind::Confirm, "DR=yes", 0), timed_out);
    }

    #[test]
    fn without_a_person_only_opted_in_alert_types_take_their_default() {
        let mut p = prompt(PromptKind::Confirm, "MAXDT=15DR=1");
        assert_eq!(unanswered(&p, DefaultAnswers::default()), UiAnswer::TimedOut);
        let confirm = DefaultAnswers::from_names(&["confirm"]).unwrap();
        assert_eq!(unanswered(&p, confirm), UiAnswer::Accepted);
        p.kind = PromptKind::TextInput;
        assert_eq!(unanswered(&p, confirm), UiAnswer::TimedOut);
        p.kind = PromptKind::Display;
        assert_eq!(unanswered(&p, DefaultAnswers::default()), UiAnswer::Accepted);
        assert!(DefaultAnswers::from_names(&["display"]).unwrap_err().contains("display"));
    }

    #[test]
    fn unreadable_values_are_absent_with_a_warning_in_the_log() {
        let (log, lines) = crate::logging::LineLog::capture(tracing::Level::WARN);
        let (o, mut p) = tracing::subscriber::with_default(log, || {
            let o = UiOptions::parse("MINDT=soon&MAXDT=0&MAXLEN=8&IT=X&ET=P&DR=John%20Doe");
            let mut p = prompt(PromptKind::MultiChoice, "DR=1-9");
            p.choices = vec!["a".into(), "b".into()];
            p.drop_unusable_default();
            (o, p)
        });
        assert_eq!((o.min_dt, o.max_dt, o.max_len, o.input_type, o.echo_type), (None, None, Some(8), None, Some('P')));
        assert_eq!(o.default_response.as_deref(), Some("John Doe"), "URL-decoded");
        assert_eq!(p.options.default_response, None);
        let lines = lines.lock().unwrap().clone();
        for needle in ["MINDT=\"soon\"", "MAXDT=\"0\"", "IT=\"X\"", "\"1-9\""] {
            assert!(lines.iter().any(|l| l.contains(needle) && l.contains("WARN")), "{needle} in {lines:?}");
        }
        assert_eq!(lines.len(), 4, "{lines:?}");
        p.options.default_response = Some("1-2".into());
        assert_eq!(default_for_ui(&p).as_deref(), Some("1,2"));
    }
}
