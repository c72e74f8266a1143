//! An update of the inactive slot, start to end, in the order of writes that
//! is never broken: read and verify the package (signature, compatible,
//! version, security version against the floor of the confirmed slots, fit)
//! → mark the inactive slot bad, right before the first write, from inside the
//! installer → install (write, sync, read back and verify) → copy the image
//! classes the package does not carry → make the slot primary in trial. The
//! booted slot is only read.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use sha2::{Digest, Sha256};

use crate::config::Settings;
use crate::error::InstallError;
use crate::install::{device_size, hash_prefix, InstallOptions, Installed, Installer, Records, Status};
use crate::lifecycle::{ImageTarget, InstallTarget, Lifecycle, LifecycleError};
use crate::package::{load_public_keys, read_raw_header, sha256_hex, ImageDigest};
use crate::slot::Slot;
use crate::slot::record::SlotContent;

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
    /// The FUMO result code reported for this failure.
    pub fn fumo_result(&self) -> u16 {
        match self {
            UpdateError::Install(e) => e.fumo_result(),
            UpdateError::Lifecycle(LifecycleError::BootedNotConfirmed(_)) => 405,
            UpdateError::NothingInstalled { .. } => 400,
            _ => 410,
        }
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

/// An installer writing into the inactive slot, refusing packages below the
/// security floor of the confirmed slots. Refused while the booted slot is not
/// confirmed. Writes nothing: the slot is marked bad by the installer, once
/// the package passed its checks, right before the first byte is written.
pub fn begin(settings: &Settings) -> Result<SlotUpdate, UpdateError> {
    begin_on(Lifecycle::open(settings)?, settings)
}

/// [`begin`] on a lifecycle opened by the caller (tests, the simulator).
pub fn begin_on(lifecycle: Lifecycle, settings: &Settings) -> Result<SlotUpdate, UpdateError> {
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
    let (shared, slot) = (Arc::clone(&lifecycle), target.slot);
    installer.set_before_first_write(Arc::new(move || {
        let mut lifecycle = shared.lock().unwrap_or_else(PoisonError::into_inner);
        lifecycle.mark_target_bad(slot).map_err(|e| InstallError::Slot(Box::new(e)))
    }));
    Ok(SlotUpdate { lifecycle, target, installer, tries: settings.tries })
}

impl SlotUpdate {
    /// The installer writing into the inactive slot.
    pub fn installer(&self) -> &Installer {
        &self.installer
    }

    /// The installer, to add a device policy before installing.
    pub fn installer_mut(&mut self) -> &mut Installer {
        &mut self.installer
    }

    /// The slot being written.
    pub fn slot(&self) -> Slot {
        self.target.slot
    }

    /// After a verified install: copies the image classes the package did not
    /// carry from the booted slot (and verifies them), then makes the slot
    /// primary for a limited number of trial boots.
    pub fn finish(self, installed: &Installed) -> Result<Slot, UpdateError> {
        for (class, image) in &self.target.images {
            if !installed.images.contains_key(class) {
                copy_image(class, image)?;
            }
        }
        let content = SlotContent::new(&installed.version, installed.security_version);
        let mut lifecycle = self.lifecycle.lock().unwrap_or_else(PoisonError::into_inner);
        lifecycle.activate(self.target.slot, self.tries, Some(&content))?;
        Ok(self.target.slot)
    }
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
            let status = Status::Failed { package, version, result: 402, error: e.to_string() };
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
