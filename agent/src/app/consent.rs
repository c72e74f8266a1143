//! Update consent by policy (`[ui] consent`): automatic, ask the person at
//! the device (a `consent` prompt that `Accept`/`Defer` answer), or wait for
//! the daily maintenance window (UTC). Asked before `InstallFile` writes and
//! before the reboot into an activated slot.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::frontend::ConsentReply;
use super::run::Activity;
use super::service_settings::ConsentPolicy;
use super::work::Ctx;
use crate::i18n::Msg;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consent {
    Proceed,
    Cancelled,
}

/// Blocks until the update may proceed or the run is cancelled.
pub(super) fn seek(ctx: &Ctx<'_>, version: &str, description: &str) -> Consent {
    let ui = &ctx.agent.settings().ui;
    loop {
        if ctx.cancel.is_cancelled() {
            return Consent::Cancelled;
        }
        let wait = match ctx.agent.consent {
            ConsentPolicy::Automatic => return Consent::Proceed,
            ConsentPolicy::MaintenanceWindow(w) => match w.minutes_until_open(utc_minute()) {
                0 => return Consent::Proceed,
                m => {
                    ctx.set_activity(Activity::Deferred);
                    ctx.note(Msg::WaitingForWindow, &[&m.to_string()]);
                    Duration::from_secs(u64::from(m) * 60)
                }
            },
            ConsentPolicy::Ask => {
                ctx.set_activity(Activity::AwaitingConsent);
                let text = ctx.text(Msg::ConsentInstall, &[version, description]);
                let later = match ctx.frontend.ask_consent(&text, ui.prompt_timeout) {
                    ConsentReply::Accept => return Consent::Proceed,
                    ConsentReply::Refuse => return Consent::Cancelled,
                    ConsentReply::Defer(Some(d)) => d,
                    ConsentReply::Defer(None) | ConsentReply::NoAnswer => ui.defer,
                };
                ctx.set_activity(Activity::Deferred);
                ctx.note(Msg::Deferred, &[]);
                later
            }
        };
        if !ctx.cancel.sleep(wait) {
            return Consent::Cancelled;
        }
    }
}

fn utc_minute() -> u16 {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    ((secs % 86_400) / 60) as u16
}
