//! Download errors, each carrying the (redacted) URL concerned, and the table
//! mapping them to installNotify status codes (their FUMO result codes are in
//! the one FUMO table, `fumo::result`).

use std::path::PathBuf;
use std::time::Duration;

use fotad_updater::{ErrorKind, InstallError};

use super::descriptor::DescriptorError;
use super::notify::InstallStatus;
use crate::state_file::StateError;

/// Why the last attempt before a deadline failed (decides the FUMO code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryCause {
    /// Connecting failed (refused, DNS, connect timeout).
    Unreachable,
    /// The server answered 5xx, 408 or 429.
    Server(u16),
    /// No byte for the read timeout.
    Stall,
    /// The connection was reset or the body ended early.
    Network,
}

/// A download that did not end with an installed package.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("package URL {url}: only http:// and https:// are supported; fix the URL on the server")]
    BadUrl { url: String },
    #[error("GET {url}: redirect refused: {reason}; fix the URL on the server")]
    Redirect { url: String, reason: super::url::RedirectRefused },
    #[error("GET {url}: the server answered HTTP {status}; not retried (check the URL and its access rights)")]
    Http { url: String, status: u16 },
    #[error("TLS with {url} failed: {message}; check the server certificate and the [download] ca_bundle")]
    Tls { url: String, message: String },
    #[error("CA bundle {path}: {message}; fix [download] ca_bundle")]
    CaBundle { path: PathBuf, message: String },
    #[error("download of {url} gave up after {elapsed:?} (the [download] deadline); last failure: {last}")]
    Deadline { url: String, elapsed: Duration, cause: RetryCause, last: String },
    #[error("installing the package from {url}: {source}")]
    Install { url: String, source: InstallError },
    #[error("download of {url} cancelled; it resumes from the last checkpoint when started again")]
    Cancelled { url: String },
    #[error(transparent)]
    Descriptor(#[from] DescriptorError),
    #[error("download resume record: {0}")]
    State(StateError),
}

impl DownloadError {
    /// The installNotify status posted to a descriptor's installNotifyURI.
    pub fn install_status(&self) -> InstallStatus {
        match self {
            DownloadError::Cancelled { .. } => InstallStatus::UserCancelled,
            DownloadError::Deadline { .. } => InstallStatus::LossOfService,
            DownloadError::Descriptor(d) => d.install_status(),
            DownloadError::Install { source, .. } => match source.kind() {
                ErrorKind::NoSpace => InstallStatus::InsufficientMemory,
                ErrorKind::NotForDevice
                | ErrorKind::Untrusted
                | ErrorKind::Downgrade
                | ErrorKind::RefusedByPolicy
                | ErrorKind::SlotsNotReady => InstallStatus::NonAcceptableContent,
                ErrorKind::Cancelled => InstallStatus::UserCancelled,
                _ => InstallStatus::DeviceAborted,
            },
            DownloadError::BadUrl { .. }
            | DownloadError::Redirect { .. }
            | DownloadError::Http { .. }
            | DownloadError::Tls { .. } => InstallStatus::LoaderError,
            DownloadError::CaBundle { .. } | DownloadError::State(_) => InstallStatus::DeviceAborted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_notify_statuses_follow_the_failure() {
        let http = DownloadError::Http { url: "http://h/p".into(), status: 404 };
        assert_eq!(http.install_status(), InstallStatus::LoaderError);
        let d = DownloadError::Deadline {
            url: "u".into(),
            elapsed: Duration::ZERO,
            cause: RetryCause::Network,
            last: "x".into(),
        };
        assert_eq!(d.install_status(), InstallStatus::LossOfService);
        let e =
            DownloadError::Install { url: "u".into(), source: InstallError::Downgrade { package: 1, installed: 2 } };
        assert_eq!(e.install_status(), InstallStatus::NonAcceptableContent);
        let c = DownloadError::Cancelled { url: "u".into() };
        assert_eq!(c.install_status(), InstallStatus::UserCancelled);
        let full =
            InstallError::TargetTooSmall { class: "rootfs".into(), path: "/dev/b".into(), needed: 2, available: 1 };
        let e = DownloadError::Install { url: "u".into(), source: full };
        assert_eq!(e.install_status(), InstallStatus::InsufficientMemory);
    }
}
