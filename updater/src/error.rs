//! Install errors, and the one table mapping them to FUMO result codes.

use std::path::PathBuf;

use crate::lifecycle::LifecycleError;
use crate::ops::OpError;
use crate::package::PackageError;

/// Why an install was refused or failed. Every variant maps to a FUMO result
/// code with [`InstallError::fumo_result`].
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
    /// The FUMO result code (OMA FUMO 1.0) reported for this error.
    pub fn fumo_result(&self) -> u16 {
        match self {
            InstallError::Package(p) => match p {
                PackageError::BadSignature { .. } | PackageError::Untrusted { .. } => 404,
                PackageError::Io { .. } | PackageError::BadKey { .. } => 410,
                _ => 402,
            },
            InstallError::Corrupt { source: OpError::SourceHash { .. }, .. } => 403,
            InstallError::Corrupt { .. } => 402,
            InstallError::Truncated { .. } => 402,
            InstallError::Incompatible { .. }
            | InstallError::NoTarget { .. }
            | InstallError::NoSource { .. }
            | InstallError::WrongSource { .. } => 403,
            InstallError::Downgrade { .. } => 405,
            InstallError::TargetIsSource { .. } | InstallError::Refused { .. } => 405,
            InstallError::TargetTooSmall { .. } | InstallError::NoSpace { .. } => 502,
            InstallError::Stream { .. } => 503,
            InstallError::Cancelled => 401,
            InstallError::Slot(e) => match **e {
                LifecycleError::BootedNotConfirmed(_) => 405,
                _ => 410,
            },
            InstallError::Io { .. } | InstallError::VerifyFailed { .. } | InstallError::ResumeMismatch { .. } => 410,
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
