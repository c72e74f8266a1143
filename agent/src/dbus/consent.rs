//! Update consent by policy: automatic, ask the user (a `consent` prompt that
//! `Accept`/`Defer` answer), or wait for the daily maintenance window (UTC).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::core::Core;
use super::prompts::{PromptSpec, PromptType, Reply};
use super::settings::ConsentPolicy;
use super::state::Transition;
use crate::i18n::Msg;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consent {
    Proceed,
    Cancelled,
}

/// Blocks until the update may proceed or the job is cancelled.
pub fn seek(core: &Core, version: &str, description: &str) -> Consent {
    loop {
        if core.cancelled() {
            return Consent::Cancelled;
        }
        let wait = match core.ui.consent {
            ConsentPolicy::Automatic => return Consent::Proceed,
            ConsentPolicy::MaintenanceWindow(w) => match w.minutes_until_open(utc_minute()) {
                0 => return Consent::Proceed,
                m => {
                    let _ = core.transition(Transition::Defer);
                    let text = core.text(Msg::WaitingForWindow, &[&m.to_string()]);
                    core.set_progress(0, 0, 0, text);
                    Duration::from_secs(u64::from(m) * 60)
                }
            },
            ConsentPolicy::Ask => match ask(core, version, description) {
                AskResult::Accepted => return Consent::Proceed,
                AskResult::Cancelled => return Consent::Cancelled,
                AskResult::Later(d) => d,
            },
        };
        if !sleep_unless_cancelled(core, wait) {
            return Consent::Cancelled;
        }
    }
}

enum AskResult {
    Accepted,
    Cancelled,
    Later(Duration),
}

fn ask(core: &Core, version: &str, description: &str) -> AskResult {
    let _ = core.transition(Transition::AskConsent);
    let spec = PromptSpec {
        kind: PromptType::Consent,
        text: core.text(Msg::ConsentInstall, &[version, description]),
        choices: Vec::new(),
        min_display_secs: None,
        max_display_secs: Some(u32::try_from(core.ui.prompt_timeout.as_secs()).unwrap_or(u32::MAX)),
        default_response: None,
        max_length: None,
        input_type: None,
        echo_password: false,
    };
    let later = match core.broker.ask(spec, core.ui.prompt_timeout) {
        Some(Reply::Accept) => return AskResult::Accepted,
        Some(Reply::Defer(secs)) if secs > 0 => Duration::from_secs(u64::from(secs)),
        Some(Reply::Defer(_)) | None => core.ui.defer,
        Some(_) => return AskResult::Cancelled,
    };
    let _ = core.transition(Transition::Defer);
    core.set_progress(0, 0, 0, core.text(Msg::Deferred, &[]));
    AskResult::Later(later)
}

/// Sleeps in short steps; false when the job was cancelled meanwhile.
fn sleep_unless_cancelled(core: &Core, total: Duration) -> bool {
    let step = Duration::from_millis(200);
    let mut left = total;
    while !left.is_zero() {
        if core.cancelled() {
            return false;
        }
        let d = left.min(step);
        std::thread::sleep(d);
        left -= d;
    }
    !core.cancelled()
}

fn utc_minute() -> u16 {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    ((secs % 86_400) / 60) as u16
}
