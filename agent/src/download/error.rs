//! Download errors, each carrying the (redacted) URL concerned, and the one
//! table mapping them to FUMO result codes and installNotify status codes.

use std::path::PathBuf;
use std::time::Duration;

use fotad_updater::InstallError;

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
    /// The FUMO result code (OMA FUMO 1.0) reported for this failure.
    pub fn fumo_result(&self) -> u16 {
        match self {
            DownloadError::BadUrl { .. } | DownloadError::Redirect { .. } => 411,
            DownloadError::Http { status, .. } => match status {
                400 | 404 | 410 | 414 => 411,
                401 | 403 | 407 => 406,
                _ => 400,
            },
            DownloadError::Tls { .. } => 406,
            DownloadError::CaBundle { .. } | DownloadError::State(_) => 400,
            DownloadError::Deadline { cause, .. } => match cause {
                RetryCause::Unreachable => 412,
                RetryCause::Server(_) => 500,
                RetryCause::Stall => 407,
                RetryCause::Network => 503,
            },
            // Out of room while the package still downloads: "download
            // failed, out of memory" rather than the updater's 502.
            DownloadError::Install { source, .. } => match source.fumo_result() {
                502 => 501,
                code => code,
            },
            DownloadError::Cancelled { .. } => 401,
            DownloadError::Descriptor(d) => d.fumo_result(),
        }
    }

    /// The installNotify status posted to a descriptor's installNotifyURI.
    pub fn install_status(&self) -> InstallStatus {
        match self {
            DownloadError::Cancelled { .. } => InstallStatus::UserCancelled,
            DownloadError::Deadline { .. } => InstallStatus::LossOfService,
            DownloadError::Descriptor(d) => d.install_status(),
            DownloadError::Install { source, .. } => match source.fumo_result() {
                501 | 502 => InstallStatus::InsufficientMemory,
                403..=405 => InstallStatus::NonAcceptableContent,
                401 => InstallStatus::UserCancelled,
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

    fn http(status: u16) -> DownloadError {
        DownloadError::Http { url: "http://h/p".into(), status }
    }

    #[test]
    fn final_http_statuses_map_to_fumo_codes() {
        assert_eq!(http(404).fumo_result(), 411);
        assert_eq!(http(410).fumo_result(), 411);
        assert_eq!(http(403).fumo_result(), 406);
        assert_eq!(http(405).fumo_result(), 400);
        assert_eq!(http(404).install_status(), InstallStatus::LoaderError);
    }

    #[test]
    fn deadlines_map_by_their_last_cause() {
        let d = |cause| DownloadError::Deadline { url: "u".into(), elapsed: Duration::ZERO, cause, last: "x".into() };
        assert_eq!(d(RetryCause::Unreachable).fumo_result(), 412);
        assert_eq!(d(RetryCause::Server(503)).fumo_result(), 500);
        assert_eq!(d(RetryCause::Stall).fumo_result(), 407);
        assert_eq!(d(RetryCause::Network).fumo_result(), 503);
        assert_eq!(d(RetryCause::Network).install_status(), InstallStatus::LossOfService);
    }

    #[test]
    fn install_refusals_and_cancel_keep_the_installer_codes() {
        let e =
            DownloadError::Install { url: "u".into(), source: InstallError::Downgrade { package: 1, installed: 2 } };
        assert_eq!(e.fumo_result(), 405);
        assert_eq!(e.install_status(), InstallStatus::NonAcceptableContent);
        let c = DownloadError::Cancelled { url: "u".into() };
        assert_eq!((c.fumo_result(), c.install_status()), (401, InstallStatus::UserCancelled));
        let full = InstallError::TargetTooSmall { class: "rootfs".into(), path: "/dev/b".into(), needed: 2, available: 1 };
        let e = DownloadError::Install { url: "u".into(), source: full };
        assert_eq!((e.fumo_result(), e.install_status()), (501, InstallStatus::InsufficientMemory));
    }
}
