//! The one install pipeline of the inactive slot, used by every caller (the
//! agent's FUMO jobs, its legacy commands and `InstallFile`, and
//! `fotad-update install`), in the order of writes that is never broken:
//!
//! 1. [`begin`]: resolve the inactive slot (no write) with the updater's
//!    policies (compatible model, security version against the floor of the
//!    confirmed slots, a target for every image) and the caller's
//!    [`DevicePolicy`] (the SIM's operator gate), which every caller names;
//! 2. [`SlotUpdate::check`] (optional, e.g. to ask for consent first) or
//!    [`SlotUpdate::stream`]: verify the package's signature and every policy,
//!    then mark the slot bad right before the first write (from inside the
//!    installer), write, sync and checkpoint each operation;
//! 3. verify: every written image is read back and hashed (in the installer);
//! 4. [`SlotUpdate::activate`]: copy the image classes the package does not
//!    carry, then make the slot primary for a limited number of trial boots.
//!
//! An Update after a Download (the slot already holds a verified package)
//! activates with [`activate_installed`]. The booted slot is only read.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::config::Settings;
use crate::error::{ErrorKind, InstallError};
use crate::install::{
    device_size, hash_prefix, InstallOptions, Installed, Installer, ManifestPolicy, Progress, Records, Status,
};
use crate::lifecycle::{ImageTarget, InstallTarget, Lifecycle, LifecycleError};
use crate::package::{load_public_keys, read_raw_header, sha256_hex, Header, ImageDigest, RawHeader};
use crate::slot::record::SlotContent;
use crate::slot::Slot;

/// Why an update of the inactive slot failed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error(transparent)]
    Install(#[from] InstallError),
    #[error(
        "[updater] compatible is not set in the configuration: the device's model string is needed to check packages"
    )]
    NoCompatible,
    #[error("copying image {class:?} from {from} to {to}: {source}")]
    Copy { class: String, from: PathBuf, to: PathBuf, source: io::Error },
    #[error("image {class:?} copied to {to} does not read back as written")]
    CopyVerify { class: String, to: PathBuf },
    #[error("image {class:?} is not in the package and the booted slot has no {class:?} to copy")]
    NoSourceToCopy { class: String },
    #[error("slot {slot} holds no completely installed package: install one first")]
    NothingInstalled { slot: Slot },
}

impl UpdateError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            UpdateError::Install(e) => e.kind(),
            UpdateError::Lifecycle(LifecycleError::BootedNotConfirmed(_) | LifecycleError::TargetIsBooted(_)) => {
                ErrorKind::SlotsNotReady
            }
            UpdateError::NothingInstalled { .. } => ErrorKind::NothingInstalled,
            _ => ErrorKind::Device,
        }
    }
}

/// The device's own check of every package, besides the updater's: the SIM's
/// operator gate. Every caller of [`begin`] names one, so that none can be
/// left out by forgetting it.
#[derive(Clone)]
pub enum DevicePolicy {
    /// None beyond the updater's checks: `fotad-update install` by hand, which
    /// does not read the SIM.
    None,
    /// A check of the manifest; `Err(reason)` refuses the package.
    Check(ManifestPolicy),
}

impl std::fmt::Debug for DevicePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DevicePolicy::None => "DevicePolicy::None",
            DevicePolicy::Check(_) => "DevicePolicy::Check",
        })
    }
}

/// An update in progress: the installer points at the inactive slot's
/// partitions and marks the slot bad right before its first write.
#[derive(Debug)]
pub struct SlotUpdate {
    lifecycle: Arc<Mutex<Lifecycle>>,
    target: InstallTarget,
    installer: Installer,
    tries: u8,
}

/// Begins an update of the inactive slot with every policy: refused while
/// the booted slot is not confirmed; packages below the security floor of
/// the confirmed slots, for another model, or refused by `device` are refused
/// before anything is written. Setting `cancel` stops the install at its next
/// checkpoint. Writes nothing.
pub fn begin(settings: &Settings, device: DevicePolicy, cancel: Arc<AtomicBool>) -> Result<SlotUpdate, UpdateError> {
    begin_on(Lifecycle::open(settings)?, settings, device, cancel)
}

/// [`begin`] on a lifecycle opened by the caller (tests, the simulator).
pub fn begin_on(
    lifecycle: Lifecycle,
    settings: &Settings,
    device: DevicePolicy,
    cancel: Arc<AtomicBool>,
) -> Result<SlotUpdate, UpdateError> {
    let compatible = settings.compatible.clone().ok_or(UpdateError::NoCompatible)?;
    let target = lifecycle.target()?;
    let installed_security_version = lifecycle.security_floor()?;
    let lifecycle = Arc::new(Mutex::new(lifecycle));
    let mut installer = Installer::new(InstallOptions {
        keys_dir: settings.keys_dir.clone(),
        state_dir: settings.state_dir.clone(),
        compatible,
        installed_security_version,
        images: target.images.clone(),
    });
    if let DevicePolicy::Check(policy) = device {
        installer.set_policy(policy);
    }
    installer.set_cancel_flag(cancel);
    let (shared, slot) = (Arc::clone(&lifecycle), target.slot);
    installer.set_before_first_write(Arc::new(move || {
        let mut lifecycle = crate::sync::lock(&shared);
        lifecycle.mark_target_bad(slot).map_err(|e| InstallError::Slot(Box::new(e)))
    }));
    Ok(SlotUpdate { lifecycle, target, installer, tries: settings.tries })
}

impl SlotUpdate {
    /// The installer writing into the inactive slot, for a caller that
    /// streams into it itself (the download agent resumes from its checkpoint).
    pub fn installer(&self) -> &Installer {
        &self.installer
    }

    /// Reads the boot id from `path` (tests and simulators of a reboot).
    pub fn set_boot_id_path(&mut self, path: &Path) {
        self.installer.set_boot_id_path(path);
    }

    /// The slot being written.
    pub fn slot(&self) -> Slot {
        self.target.slot
    }

    /// Verifies a package header against every policy, writing nothing (to
    /// show the package, or ask for consent, before streaming it).
    pub fn check(&self, raw: RawHeader) -> Result<Header, UpdateError> {
        Ok(self.installer.verify(raw)?)
    }

    /// Streams the package from `reader` (starting at package byte `start`)
    /// into the slot: verified against every policy before the first write,
    /// each operation synced and checkpointed, every image read back and
    /// verified at the end.
    pub fn stream<R: Read>(
        &self,
        reader: R,
        start: u64,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Installed, UpdateError> {
        Ok(self.installer.install(reader, start, progress)?)
    }

    /// After a verified install: copies the image classes the package did not
    /// carry from the booted slot (and verifies them), then makes the slot
    /// primary for a limited number of trial boots.
    pub fn activate(self, installed: &Installed) -> Result<Slot, UpdateError> {
        for (class, image) in &self.target.images {
            if !installed.images.contains_key(class) {
                copy_image(class, image)?;
            }
        }
        let content = SlotContent::new(&installed.version, installed.security_version);
        let mut lifecycle = crate::sync::lock(&self.lifecycle);
        lifecycle.activate(self.target.slot, self.tries, Some(&content))?;
        Ok(self.target.slot)
    }
}

/// Activates the inactive slot with the package the installer installed
/// and verified in it before (an Update after a Download), when it is the
/// package `expected` (its manifest's SHA-256), if given: primary for a
/// limited number of trial boots. Returns the slot and the version.
pub fn activate_installed(settings: &Settings, expected: Option<&str>) -> Result<(Slot, String), UpdateError> {
    let mut lifecycle = Lifecycle::open(settings)?;
    let slot = !lifecycle.booted();
    let content = match Records::new(&settings.state_dir).status()? {
        Some(Status::Installed { version, package, security_version }) if expected.map_or(true, |p| p == package) => {
            SlotContent::new(version, security_version)
        }
        _ => return Err(UpdateError::NothingInstalled { slot }),
    };
    lifecycle.activate(slot, settings.tries, Some(&content))?;
    Ok((slot, content.version))
}

/// Checks, again, the package the installer last installed into the inactive
/// slot: its signatures against the trusted keys, and every image it wrote,
/// read back from the slot and hashed against the manifest. A slot that no
/// longer matches is recorded as failed, so it is never activated.
pub fn verify_installed(settings: &Settings) -> Result<Installed, UpdateError> {
    let lifecycle = Lifecycle::open(settings)?;
    let slot = !lifecycle.booted();
    let records = Records::new(&settings.state_dir);
    let Some(Status::Installed { package, version, security_version }) = records.status()? else {
        return Err(UpdateError::NothingInstalled { slot });
    };
    let raw = records.installed_header()?.ok_or(UpdateError::NothingInstalled { slot })?;
    let raw = read_raw_header(&mut raw.as_slice()).map_err(InstallError::from)?;
    load_public_keys(&settings.keys_dir).and_then(|keys| keys.verify(&raw)).map_err(InstallError::from)?;
    let header = raw.parse().map_err(InstallError::from)?;
    if sha256_hex(&header.manifest_bytes) != package {
        return Err(UpdateError::NothingInstalled { slot });
    }
    let mut images = std::collections::BTreeMap::new();
    for image in &header.manifest.images {
        let part = lifecycle.slots().get(slot).get(&image.class);
        let part = part.ok_or_else(|| InstallError::NoTarget { class: image.class.clone() })?;
        if let Err(e) = check_image(&image.class, &part.device, &image.target) {
            let status = Status::Failed { package, version, kind: ErrorKind::VerifyFailed, error: e.to_string() };
            records.save_status(&status)?;
            return Err(e.into());
        }
        images.insert(image.class.clone(), image.target.sha256.clone());
    }
    Ok(Installed { version, security_version, package, images })
}

fn check_image(class: &str, device: &Path, digest: &ImageDigest) -> Result<(), InstallError> {
    let io = |source| InstallError::Io { what: "reading back", path: device.into(), source };
    let found = hash_prefix(&File::open(device).map_err(io)?, digest.size).map_err(io)?;
    if found != digest.sha256 {
        return Err(InstallError::VerifyFailed {
            class: class.into(),
            path: device.into(),
            expected: digest.sha256.clone(),
            found,
        });
    }
    Ok(())
}

/// Copies the booted slot's partition of `class` to the inactive slot's,
/// syncs, and compares the two by SHA-256.
fn copy_image(class: &str, image: &ImageTarget) -> Result<(), UpdateError> {
    let from = image.source.as_deref().ok_or_else(|| UpdateError::NoSourceToCopy { class: class.into() })?;
    let to = &image.target;
    let err = |source| UpdateError::Copy { class: class.into(), from: from.into(), to: to.clone(), source };
    let mut src = File::open(from).map_err(err)?;
    let size = device_size(&src).map_err(err)?;
    let mut dst = OpenOptions::new().write(true).create(true).truncate(false).open(to).map_err(err)?;
    let written = copy_hashing(&mut src, &mut dst, size).map_err(err)?;
    dst.sync_all().map_err(err)?;
    let readback = hash_prefix(&File::open(to).map_err(err)?, size).map_err(err)?;
    if readback != written {
        return Err(UpdateError::CopyVerify { class: class.into(), to: to.clone() });
    }
    Ok(())
}

fn copy_hashing(src: &mut File, dst: &mut File, size: u64) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = src.read(&mut buf[..left.min(1 << 20) as usize])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        hasher.update(&buf[..n]);
        dst.write_all(&buf[..n])?;
        left -= n as u64;
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Where `fotad-update` finds its configuration (the layered files below it).
pub fn settings_under(config_root: &Path) -> Result<Settings, crate::config::ConfigError> {
    crate::config::load(&crate::config::Layers::under(config_root))
}
