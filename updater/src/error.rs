//! Install errors, and the kinds callers tell them apart by.

use std::path::PathBuf;

use crate::lifecycle::LifecycleError;
use crate::ops::OpError;
use crate::package::PackageError;

/// What kind of failure an install or update error is: the updater's typed
/// answer for callers that map failures to their own codes (the agent maps
/// each kind to a FUMO result code in one table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The package is not signed by a trusted key.
    Untrusted,
    /// The package or its data is malformed, cut short or corrupt.
    Corrupt,
    /// The package is not for this device: another model, an image class or
    /// a source image the device does not have.
    NotForDevice,
    /// The package's security version is below the floor (anti-rollback).
    Downgrade,
    /// The device's own policy refused it (the SIM's operator gate).
    RefusedByPolicy,
    /// The slots cannot take an update now: the booted slot is not confirmed,
    /// or the target is the running system.
    SlotsNotReady,
    /// An image does not fit its slot, or the device is out of space.
    NoSpace,
    /// Reading the package stream failed (network, pipe); resumable.
    Stream,
    /// Stopped at a checkpoint; resumable.
    Cancelled,
    /// Nothing completely installed to activate or verify.
    NothingInstalled,
    /// The written slot does not read back as the manifest says.
    VerifyFailed,
    /// The device, the bootloader or the state directory failed.
    #[default]
    Device,
}

impl ErrorKind {
    /// The kind's name, as in `fotad-update` messages and records.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Untrusted => "untrusted",
            ErrorKind::Corrupt => "corrupt",
            ErrorKind::NotForDevice => "not-for-device",
            ErrorKind::Downgrade => "downgrade",
            ErrorKind::RefusedByPolicy => "refused-by-policy",
            ErrorKind::SlotsNotReady => "slots-not-ready",
            ErrorKind::NoSpace => "no-space",
            ErrorKind::Stream => "stream",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::NothingInstalled => "nothing-installed",
            ErrorKind::VerifyFailed => "verify-failed",
            ErrorKind::Device => "device",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an install was refused or failed; [`InstallError::kind`] says what kind.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("package rejected: {0}")]
    Package(#[from] PackageError),
    #[error("package is for {package:?}, this device is {device:?}")]
    Incompatible { package: String, device: String },
    #[error("package security version {package} is lower than the installed {installed}: downgrade refused")]
    Downgrade { package: u64, installed: u64 },
    #[error("package has image {class:?}, but this device has no target for it")]
    NoTarget { class: String },
    #[error("image {class:?} is a delta, but no source image was given for it")]
    NoSource { class: String },
    #[error("package refused by device policy: {why}")]
    Refused { why: String },
    #[error("target {path} is the source image: the booted slot is never written")]
    TargetIsSource { path: PathBuf },
    #[error("image {class:?}: the source image {path} is not the one this delta was made from: {why}")]
    WrongSource { class: String, path: PathBuf, why: String },
    #[error("image {class:?} operation {op}: {source}")]
    Corrupt { class: String, op: usize, source: OpError },
    #[error("package stream ended at byte {offset} of {size} (truncated or connection lost); resumable")]
    Truncated { offset: u64, size: u64 },
    #[error("reading the package stream at byte {offset}: {source}")]
    Stream { offset: u64, source: std::io::Error },
    #[error("image {class:?} needs {needed} bytes, but target {path} can hold {available}")]
    TargetTooSmall { class: String, path: PathBuf, needed: u64, available: u64 },
    #[error("no space left writing {path}")]
    NoSpace { path: PathBuf },
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("image {class:?} in {path} does not verify after writing: SHA-256 {found}, expected {expected}")]
    VerifyFailed { class: String, path: PathBuf, expected: String, found: String },
    #[error("{}", resume_mismatch(*given, *expected))]
    ResumeMismatch { given: u64, expected: Option<u64> },
    #[error("marking the target slot bad before writing: {0}")]
    Slot(Box<LifecycleError>),
    #[error("install cancelled at a checkpoint; it resumes from there")]
    Cancelled,
}

impl InstallError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            InstallError::Package(p) => match p {
                PackageError::BadSignature { .. } | PackageError::Untrusted { .. } => ErrorKind::Untrusted,
                PackageError::Io { .. } | PackageError::BadKey { .. } => ErrorKind::Device,
                _ => ErrorKind::Corrupt,
            },
            InstallError::Corrupt { source: OpError::SourceHash { .. }, .. } => ErrorKind::NotForDevice,
            InstallError::Corrupt { .. } | InstallError::Truncated { .. } => ErrorKind::Corrupt,
            InstallError::Incompatible { .. }
            | InstallError::NoTarget { .. }
            | InstallError::NoSource { .. }
            | InstallError::WrongSource { .. } => ErrorKind::NotForDevice,
            InstallError::Downgrade { .. } => ErrorKind::Downgrade,
            InstallError::Refused { .. } => ErrorKind::RefusedByPolicy,
            InstallError::TargetIsSource { .. } => ErrorKind::SlotsNotReady,
            InstallError::TargetTooSmall { .. } | InstallError::NoSpace { .. } => ErrorKind::NoSpace,
            InstallError::Stream { .. } => ErrorKind::Stream,
            InstallError::Cancelled => ErrorKind::Cancelled,
            InstallError::Slot(e) => match **e {
                LifecycleError::BootedNotConfirmed(_) => ErrorKind::SlotsNotReady,
                _ => ErrorKind::Device,
            },
            InstallError::VerifyFailed { .. } => ErrorKind::VerifyFailed,
            InstallError::Io { .. } | InstallError::ResumeMismatch { .. } => ErrorKind::Device,
        }
    }

    /// Whether continuing from the checkpoint can complete the install
    /// (the stream was cut or the install was stopped), as opposed to a refusal.
    pub fn is_resumable(&self) -> bool {
        matches!(self, InstallError::Truncated { .. } | InstallError::Stream { .. } | InstallError::Cancelled)
    }

    /// Whether the package was refused: not trusted, not for this device or its
    /// slots, below the security floor, or corrupt (as opposed to an error of
    /// the device, the state directory or the command line).
    pub fn is_refusal(&self) -> bool {
        match self {
            InstallError::Package(PackageError::Io { .. } | PackageError::BadKey { .. }) => false,
            InstallError::Package(_)
            | InstallError::Incompatible { .. }
            | InstallError::Downgrade { .. }
            | InstallError::NoTarget { .. }
            | InstallError::NoSource { .. }
            | InstallError::Refused { .. }
            | InstallError::TargetIsSource { .. }
            | InstallError::WrongSource { .. }
            | InstallError::Corrupt { .. }
            | InstallError::TargetTooSmall { .. }
            | InstallError::VerifyFailed { .. } => true,
            InstallError::Truncated { .. }
            | InstallError::Stream { .. }
            | InstallError::NoSpace { .. }
            | InstallError::Io { .. }
            | InstallError::ResumeMismatch { .. }
            | InstallError::Slot(_)
            | InstallError::Cancelled => false,
        }
    }
}

fn resume_mismatch(given: u64, expected: Option<u64>) -> String {
    match expected {
        Some(next) => format!(
            "resume offset {given} does not match the checkpoint, which continues at byte {next}: \
             stream the package from there (`install - --offset {next}`) or whole from byte 0"
        ),
        None => format!(
            "resume offset {given} given, but there is no checkpoint to resume: stream the whole package from byte 0"
        ),
    }
}
