//! The service over the real agent: the [`Device`] as the `DmPort` and the
//! `SimPort`, the inactive slot as the install target, and the service core
//! as the device's [`Observer`] (progress, FUMO state, cancel, reboot consent).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::consent::{self, Consent};
use super::core::Core;
use super::ports::{DmPort, InstallProvider, InstallTarget, Outcome, SimPort, SimSnapshot};
use super::state::{AgentState, Transition};
use crate::device::{CheckKind, Device, Observer, RunEnd};
use crate::download::DownloadProgress;
use crate::i18n::Msg;
use crate::dm::session::UserInteraction;
use crate::sim::PinState;

impl Observer for Core {
    fn say(&self, line: &str) {
        eprintln!("fotad: {line}");
    }

    fn progress(&self, p: DownloadProgress) {
        if self.model().state == AgentState::Checking {
            let _ = self.transition(Transition::BeginWrite);
        }
        self.set_progress(u32::from(p.percent), p.bytes_done, p.bytes_total, self.text(Msg::Writing, &[]));
    }

    fn fumo_state(&self, state: u16) {
        if self.model().fumo_state != u32::from(state) {
            self.set_fumo_state(u32::from(state));
        }
    }

    fn language(&self) -> String {
        Core::language(self)
    }

    fn cancel_with(&self, flag: Arc<AtomicBool>) {
        self.add_cancel_flag(flag);
    }

    fn may_reboot(&self) -> bool {
        consent::seek(self, "", &self.text(Msg::Installed, &[""])) == Consent::Proceed
    }
}

/// The DM side of the service: checks and notifications run on the device.
#[derive(Debug)]
pub struct DeviceDm(pub Arc<Device>);

impl DeviceDm {
    fn outcome(&self, r: anyhow::Result<crate::device::Outcome>, obs: &dyn Observer) -> Result<Outcome, String> {
        let o = r.map_err(|e| format!("{e:#}"))?;
        let lang = obs.language();
        let text = |m, a: &[&str]| crate::i18n::text(&lang, m, a);
        let message = match o.end {
            RunEnd::Interrupted => text(Msg::Cancelled, &[]),
            RunEnd::Rebooting => text(Msg::Installed, &[&self.0.system().0]),
            _ if (200..300).contains(&o.code) => text(Msg::CheckDone, &[]),
            _ => text(Msg::Failed, &[&format!("FUMO result {}", o.code)]),
        };
        obs.fumo_state(self.0.fumo_state());
        Ok(Outcome { code: u32::from(o.code), message })
    }
}

impl DmPort for DeviceDm {
    fn check(&self, ui: &dyn UserInteraction, obs: &dyn Observer) -> Result<Outcome, String> {
        self.outcome(self.0.check(CheckKind::User, ui, obs), obs)
    }

    fn notify(&self, package0: &[u8], ui: &dyn UserInteraction, obs: &dyn Observer) -> Result<Outcome, String> {
        self.outcome(self.0.notify(package0, ui, obs), obs)
    }
}

/// The SIM as the UI sees it.
#[derive(Debug)]
pub struct DeviceSim(pub Arc<crate::sim::SimHandle>);

impl SimPort for DeviceSim {
    fn snapshot(&self) -> SimSnapshot {
        let s = self.0.snapshot();
        let state = match (s.present, s.pin) {
            (false, _) => "absent",
            (true, Some(PinState::Required { .. })) => "pin-required",
            (true, Some(PinState::Blocked)) => "blocked",
            (true, Some(PinState::NotRequired | PinState::Verified)) => "ready",
            (true, None) => "unknown",
        };
        SimSnapshot {
            state: state.into(),
            iccid: s.iccid.clone().unwrap_or_default(),
            imsi: s.imsi.clone().unwrap_or_default(),
            msisdn: s.msisdn.clone().unwrap_or_default(),
            operator: s.imsi.as_deref().map(|i| i.chars().take(5).collect()).unwrap_or_default(),
            pin_tries_left: s.pin_tries().unwrap_or(0),
        }
    }

    fn enter_pin(&self, pin: &str) -> Result<u32, String> {
        self.0.enter_pin(pin)
    }
}

/// `InstallFile` writes into the inactive slot and activates it.
pub fn slot_installs(device: &Arc<Device>) -> InstallProvider {
    let updater = device.settings().updater.clone();
    Box::new(move || {
        let update = fotad_updater::update::begin(&updater).map_err(|e| e.to_string())?;
        Ok(Box::new(update) as Box<dyn InstallTarget>)
    })
}
