//! The A/B update lifecycle around the installer. Order of writes, never broken:
//! [`Lifecycle::target`] resolves the inactive slot (no write) → the installer
//! reads and verifies the package → [`Lifecycle::mark_target_bad`], called by the
//! installer right before its first write → the installer writes, fsyncs and
//! verifies the slot → [`Lifecycle::activate`] makes it primary with N tries →
//! reboot → [`Lifecycle::mark_good`] confirms it (from `fotad-mark-good.service`).
//! After a boot, [`Lifecycle::check_boot`] tells whether the new slot came up or the
//! bootloader fell back, and records the outcome for the agent to report.
//!
//! The anti-rollback floor ([`Lifecycle::security_floor`]) is the highest
//! security version ever confirmed: the slot record keeps each activated slot's
//! security version, and before any bootloader write (which could end a slot's
//! confirmation) the confirmed slots' versions are folded into the recorded floor.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use crate::install::ImageTarget;

use crate::boot::{self, Backend, BootError, BootState, Bootloader, SlotState, MAX_TRIES};
use crate::config::{BootloaderConfig, Settings, SlotSource};
use crate::install::{self, Records};
use crate::slot::booted::{self, BootedError, Probe};
use crate::slot::gpt::DiscoverError;
use crate::slot::record::{self as slot_record, Outcome, Pending, RecordError, SlotContent, SlotRecord, UpdateResult};
use crate::slot::{Slot, Slots};

/// A lifecycle step failed or was refused.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("bootloader ({backend}): {source}")]
    Boot { backend: &'static str, source: BootError },
    #[error(transparent)]
    Booted(#[from] BootedError),
    #[error(transparent)]
    Discover(#[from] DiscoverError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("slot {0} is the booted slot: the running system is never written or activated over")]
    TargetIsBooted(Slot),
    #[error("the booted slot {0} is not confirmed (good): run `fotad-update mark-good` after a good boot before installing over the other slot, the only confirmed one")]
    BootedNotConfirmed(Slot),
    #[error("slot {0} is marked bad: it may hold a partial or unverified install; install an update into it instead")]
    SlotIsBad(Slot),
    #[error("marking slot {slot} bad would leave no bootable slot (slot {other} is {state})")]
    NoFallback { slot: Slot, other: Slot, state: SlotState },
    #[error("{0} boot tries asked for; give 1 to {MAX_TRIES}")]
    Tries(u8),
}

/// The slot an install writes: the inactive one, with its per-image paths.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InstallTarget {
    pub slot: Slot,
    pub images: BTreeMap<String, ImageTarget>,
}

/// What the last boot means for a pending update.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "boot")]
pub enum BootCheck {
    /// No update is pending.
    NoUpdate,
    /// An update is activated but the device has not booted it yet.
    Waiting { target: Slot },
    /// The new slot is running and waits for mark-good.
    BootedNew { target: Slot },
    /// The update ended (now recorded in the slot record).
    Done(Outcome),
}

/// One slot in [`Status`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct SlotStatus {
    pub slot: Slot,
    pub state: SlotState,
    pub version: Option<String>,
    pub security_version: Option<u64>,
    pub devices: BTreeMap<String, PathBuf>,
}

/// Everything `fotad-update status` shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    pub bootloader: &'static str,
    pub booted: Slot,
    pub primary: Option<Slot>,
    pub slots: Vec<SlotStatus>,
    /// Packages with a lower security version are refused.
    pub security_floor: u64,
    pub pending: Option<Pending>,
    pub last_outcome: Option<Outcome>,
}

/// The slots, the booted slot, the bootloader and the slot record, together.
#[derive(Debug)]
pub struct Lifecycle {
    slots: Slots,
    booted: Slot,
    boot: Bootloader,
    /// The bootloader state as last read or written (without unwritten edits).
    persisted: BootState,
    record_path: PathBuf,
}

/// Opens the bootloader backend the config names.
pub fn open_backend(config: &BootloaderConfig) -> Result<Box<dyn Backend>, LifecycleError> {
    Ok(match config {
        BootloaderConfig::Grub { grubenv } => Box::new(boot::grub::Grub::new(grubenv)),
        BootloaderConfig::UBoot { fw_env_config } => Box::new(boot::uboot::UBoot::new(fw_env_config)),
        BootloaderConfig::Gpt { disk } => Box::new(boot::gpt::GptAttrs::discover(disk)?),
        BootloaderConfig::File { path } => Box::new(boot::file::FileBackend::new(path)),
    })
}

impl Lifecycle {
    /// Opens everything from the settings: slots (config or GPT), the booted slot
    /// (kernel command line, root device), the bootloader and the slot record.
    pub fn open(settings: &Settings) -> Result<Lifecycle, LifecycleError> {
        let slots = match &settings.slots {
            SlotSource::Config(slots) => slots.clone(),
            SlotSource::Gpt { disk } => crate::slot::gpt::discover(disk)?,
        };
        let mut probe = Probe::system(&settings.cmdline);
        probe.mountinfo.clone_from(&settings.mountinfo);
        let booted = booted::detect(&slots, &probe)?;
        let backend = open_backend(&settings.bootloader)?;
        Lifecycle::from_parts(slots, booted, backend, &settings.state_dir)
    }

    /// Assembles a lifecycle from known parts (tests, the simulator).
    pub fn from_parts(
        slots: Slots,
        booted: Slot,
        backend: Box<dyn Backend>,
        state_dir: &Path,
    ) -> Result<Lifecycle, LifecycleError> {
        let name = backend.name();
        let boot = Bootloader::open(backend).map_err(|source| LifecycleError::Boot { backend: name, source })?;
        let persisted = boot.state();
        Ok(Lifecycle { slots, booted, boot, persisted, record_path: slot_record::path_in(state_dir) })
    }

    pub fn booted(&self) -> Slot {
        self.booted
    }

    pub fn slots(&self) -> &Slots {
        &self.slots
    }

    pub fn bootloader(&self) -> &Bootloader {
        &self.boot
    }

    /// Writes the bootloader state, after folding the security versions of
    /// the slots confirmed so far into the recorded floor (the write may end a
    /// confirmation).
    fn write_boot(&mut self) -> Result<(), LifecycleError> {
        let mut record = self.record()?;
        if record.fold_confirmed(&self.persisted) {
            slot_record::store(&self.record_path, &record)?;
        }
        let backend = self.boot.backend_name();
        self.boot.write().map_err(|source| LifecycleError::Boot { backend, source })?;
        self.persisted = self.boot.state();
        Ok(())
    }

    fn reload_boot(&mut self) -> Result<(), LifecycleError> {
        let backend = self.boot.backend_name();
        self.boot.reload().map_err(|source| LifecycleError::Boot { backend, source })?;
        self.persisted = self.boot.state();
        Ok(())
    }

    fn set_state(&mut self, slot: Slot, state: SlotState) -> Result<(), LifecycleError> {
        let backend = self.boot.backend_name();
        self.boot.set_slot_state(slot, state).map_err(|source| LifecycleError::Boot { backend, source })
    }

    fn record(&self) -> Result<SlotRecord, LifecycleError> {
        let mut record = slot_record::load(&self.record_path)?;
        if record.security_versions.is_empty() && record.security_floor == 0 {
            self.carry_over_security_version(&mut record);
        }
        Ok(record)
    }

    /// A record written before it kept security versions (fotad 0.1): the
    /// installer's status record names the security version of the last
    /// completely installed package, and the slot whose recorded version is
    /// that package's holds it. Without this an upgraded device would start
    /// with no floor at all until its next confirmed update.
    fn carry_over_security_version(&self, record: &mut SlotRecord) {
        let Some(state_dir) = self.record_path.parent() else { return };
        let Ok(Some(install::Status::Installed { version, security_version, .. })) = Records::new(state_dir).status()
        else {
            return;
        };
        for (slot, v) in &record.versions {
            if *v == version {
                record.security_versions.insert(*slot, security_version);
            }
        }
    }

    /// Stores the record, with the confirmed slots folded into its floor.
    fn store(&self, record: &SlotRecord) -> Result<(), LifecycleError> {
        let mut record = record.clone();
        record.fold_confirmed(&self.persisted);
        Ok(slot_record::store(&self.record_path, &record)?)
    }

    /// The anti-rollback floor: the highest security version ever confirmed
    /// on this device's slots. An install refuses packages below it.
    pub fn security_floor(&self) -> Result<u64, LifecycleError> {
        Ok(self.record()?.floor(&self.persisted))
    }

    /// Step 1 of an install: the inactive slot and, per image class, its
    /// target device and the booted slot's device (the source of deltas).
    /// Refused when the booted slot is not confirmed. Writes nothing: the
    /// installer calls [`Lifecycle::mark_target_bad`] once the package passed
    /// its checks, right before its first write.
    pub fn target(&self) -> Result<InstallTarget, LifecycleError> {
        let target = !self.booted;
        if self.boot.slot_state(self.booted) != SlotState::Good {
            return Err(LifecycleError::BootedNotConfirmed(self.booted));
        }
        let source = self.slots.get(self.booted);
        let images = self
            .slots
            .get(target)
            .iter()
            .map(|(class, part)| {
                let source = source.get(class).map(|p| p.device.clone());
                (class.clone(), ImageTarget { target: part.device.clone(), source })
            })
            .collect();
        Ok(InstallTarget { slot: target, images })
    }

    /// Step 2, right before the first byte is written to `target`: reads the
    /// bootloader state again, refuses unless the booted slot is confirmed,
    /// marks `target` bad (and the booted slot primary) in one bootloader write,
    /// and forgets what the slot held and an update of it waiting for its boot.
    /// Idempotent: a resumed install calls it again.
    pub fn mark_target_bad(&mut self, target: Slot) -> Result<(), LifecycleError> {
        if target == self.booted {
            return Err(LifecycleError::TargetIsBooted(target));
        }
        self.reload_boot()?;
        if self.boot.slot_state(self.booted) != SlotState::Good {
            return Err(LifecycleError::BootedNotConfirmed(self.booted));
        }
        self.set_state(target, SlotState::Bad)?;
        self.boot.set_primary(self.booted);
        self.write_boot()?;
        let mut record = self.record()?;
        let before = record.clone();
        record.versions.remove(&target);
        record.security_versions.remove(&target);
        if record.pending.as_ref().is_some_and(|p| p.target == target) {
            record.pending = None;
        }
        if record != before {
            self.store(&record)?;
        }
        Ok(())
    }

    /// Steps 1 and 2 at once, for callers that write the slot themselves
    /// (tests, tools): [`Lifecycle::target`], then [`Lifecycle::mark_target_bad`].
    pub fn prepare_target(&mut self) -> Result<InstallTarget, LifecycleError> {
        let target = self.target()?;
        self.mark_target_bad(target.slot)?;
        Ok(target)
    }

    /// Last step of an install, called only after the slot was written, fsynced
    /// and verified: records the pending update and what the slot holds (its
    /// version and security version, which becomes part of the floor once the
    /// slot is confirmed), then makes `target` primary in trial with `tries`
    /// boot tries.
    pub fn activate(&mut self, target: Slot, tries: u8, content: Option<&SlotContent>) -> Result<(), LifecycleError> {
        self.check_activation(target, tries)?;
        let mut record = self.record()?;
        let version = content.map(|c| c.version.clone());
        record.pending = Some(Pending { target, from: self.booted, version });
        match content {
            Some(c) => {
                record.versions.insert(target, c.version.clone());
                record.security_versions.insert(target, c.security_version);
            }
            None => {
                record.versions.remove(&target);
                record.security_versions.remove(&target);
            }
        }
        self.store(&record)?;
        self.make_primary(target, tries)
    }

    /// Refuses activating the booted slot or a number of tries out of range.
    fn check_activation(&self, target: Slot, tries: u8) -> Result<(), LifecycleError> {
        if target == self.booted {
            return Err(LifecycleError::TargetIsBooted(target));
        }
        if !(1..=MAX_TRIES).contains(&tries) {
            return Err(LifecycleError::Tries(tries));
        }
        Ok(())
    }

    /// Makes `target` primary in trial with `tries` boot tries (one write).
    fn make_primary(&mut self, target: Slot, tries: u8) -> Result<(), LifecycleError> {
        self.check_activation(target, tries)?;
        self.set_state(target, SlotState::Trial { tries_left: tries })?;
        self.boot.set_primary(target);
        self.write_boot()
    }

    /// Switches to the other slot, which holds an earlier install (`fotad-update
    /// activate`): refuses a slot marked bad (partial or unverified content). A
    /// confirmed slot stays confirmed and only becomes primary; any other goes on
    /// trial for `tries` boots, which needs the booted slot confirmed to fall
    /// back to. Not an update: no pending update is recorded, so no outcome is
    /// reported.
    pub fn switch_to(&mut self, target: Slot, tries: u8) -> Result<(), LifecycleError> {
        self.check_activation(target, tries)?;
        match self.boot.slot_state(target) {
            SlotState::Bad => Err(LifecycleError::SlotIsBad(target)),
            SlotState::Good => {
                self.boot.set_primary(target);
                self.write_boot()
            }
            SlotState::Trial { .. } if self.boot.slot_state(self.booted) != SlotState::Good => {
                Err(LifecycleError::BootedNotConfirmed(self.booted))
            }
            SlotState::Trial { .. } => self.make_primary(target, tries),
        }
    }

    /// Confirms the booted slot (after a good boot), makes it primary when the
    /// primary can no longer boot, and records the outcome of a pending update.
    pub fn mark_good(&mut self) -> Result<BootCheck, LifecycleError> {
        let before = self.boot.state();
        self.set_state(self.booted, SlotState::Good)?;
        let primary_alive = self.boot.primary().is_some_and(|p| self.boot.slot_state(p).bootable());
        if !primary_alive {
            self.boot.set_primary(self.booted);
        }
        if self.boot.state() != before {
            self.write_boot()?;
        }
        self.check_boot()
    }

    /// Marks `slot` bad; when it is the primary, the other slot becomes primary.
    /// Refuses when the other slot could not boot.
    pub fn mark_bad(&mut self, slot: Slot) -> Result<(), LifecycleError> {
        let other = self.boot.slot_state(!slot);
        if !other.bootable() {
            return Err(LifecycleError::NoFallback { slot, other: !slot, state: other });
        }
        self.set_state(slot, SlotState::Bad)?;
        if self.boot.primary() == Some(slot) {
            self.boot.set_primary(!slot);
        }
        self.write_boot()
    }

    /// Judges the last boot against the pending update and records a final
    /// outcome (the new slot confirmed, or the old slot running with the new one
    /// no longer bootable).
    pub fn check_boot(&mut self) -> Result<BootCheck, LifecycleError> {
        let mut record = self.record()?;
        let Some(pending) = record.pending.clone() else {
            return Ok(BootCheck::NoUpdate);
        };
        let target_state = self.boot.slot_state(pending.target);
        let result = match (self.booted == pending.target, target_state) {
            (true, SlotState::Good) => UpdateResult::Updated,
            (true, _) => return Ok(BootCheck::BootedNew { target: pending.target }),
            (false, st) if st.bootable() => return Ok(BootCheck::Waiting { target: pending.target }),
            (false, _) => UpdateResult::FellBack,
        };
        let outcome = Outcome { result, target: pending.target, booted: self.booted, version: pending.version.clone() };
        if result == UpdateResult::FellBack {
            record.versions.remove(&pending.target);
        }
        record.pending = None;
        record.outcome = Some(outcome.clone());
        self.store(&record)?;
        Ok(BootCheck::Done(outcome))
    }

    /// Hands the recorded outcome to the agent once it has been reported, and
    /// forgets it.
    pub fn take_outcome(&mut self) -> Result<Option<Outcome>, LifecycleError> {
        let mut record = self.record()?;
        let outcome = record.outcome.take();
        if outcome.is_some() {
            self.store(&record)?;
        }
        Ok(outcome)
    }

    /// The slots, the booted one, the bootloader's view and the record.
    pub fn status(&self) -> Result<Status, LifecycleError> {
        let record = self.record()?;
        let slots = Slot::ALL
            .into_iter()
            .map(|slot| SlotStatus {
                slot,
                state: self.boot.slot_state(slot),
                version: record.versions.get(&slot).cloned(),
                security_version: record.security_versions.get(&slot).copied(),
                devices: self.slots.get(slot).iter().map(|(c, p)| (c.clone(), p.device.clone())).collect(),
            })
            .collect();
        Ok(Status {
            bootloader: self.boot.backend_name(),
            booted: self.booted,
            primary: self.boot.primary(),
            slots,
            security_floor: record.floor(&self.persisted),
            pending: record.pending,
            last_outcome: record.outcome,
        })
    }
}
