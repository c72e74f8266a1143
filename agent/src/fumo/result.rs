//! FUMO result codes (OMA FUMO 1.0, the Data of a Generic Alert 1226 and the
//! value of a legacy package node), and the one table that maps every
//! failure to them: the updater's error kinds, the download agent's errors,
//! download descriptors and the SIM's operator gate.

use fotad_updater::update::UpdateError;
use fotad_updater::{ErrorKind, InstallError};
use serde::{Deserialize, Serialize};

use crate::download::{DescriptorError, DownloadError, RetryCause};
use crate::sim::GateRefusal;

/// The FUMO result codes fotad reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "u16", try_from = "u16")]
#[repr(u16)]
pub enum FumoResult {
    Successful = 200,
    /// Management client error: nothing to update, a job the agent crashed in.
    ClientError = 400,
    UserCancelled = 401,
    CorruptedPackage = 402,
    /// Package and device mismatch (another model, a delta over another image).
    DeviceMismatch = 403,
    /// The package failed validation (signature, key).
    ValidationFailed = 404,
    /// The package is not acceptable (downgrade, the SIM's gate, unconfirmed slot).
    NotAcceptable = 405,
    /// Download authentication (or TLS) failure.
    AuthenticationFailure = 406,
    /// The download stalled until its deadline.
    RequestTimeout = 407,
    UpdateFailed = 410,
    /// The package URL cannot be used (scheme, 4xx, a refused redirect).
    MalformedUrl = 411,
    /// The download server was unreachable until the deadline.
    ServerUnavailable = 412,
    /// The download server answered errors until the deadline.
    ServerError = 500,
    /// Out of room while downloading (the package does not fit its slot).
    DownloadOutOfMemory = 501,
    /// Out of room while updating.
    UpdateOutOfMemory = 502,
    /// Network cuts until the deadline.
    NetworkError = 503,
}

impl FumoResult {
    /// Every code, in order.
    pub const ALL: [FumoResult; 16] = [
        FumoResult::Successful,
        FumoResult::ClientError,
        FumoResult::UserCancelled,
        FumoResult::CorruptedPackage,
        FumoResult::DeviceMismatch,
        FumoResult::ValidationFailed,
        FumoResult::NotAcceptable,
        FumoResult::AuthenticationFailure,
        FumoResult::RequestTimeout,
        FumoResult::UpdateFailed,
        FumoResult::MalformedUrl,
        FumoResult::ServerUnavailable,
        FumoResult::ServerError,
        FumoResult::DownloadOutOfMemory,
        FumoResult::UpdateOutOfMemory,
        FumoResult::NetworkError,
    ];

    pub fn code(self) -> u16 {
        self as u16
    }

    /// 2xx: the job did what it was asked.
    pub fn is_success(self) -> bool {
        (200..300).contains(&self.code())
    }

    /// A failure of the download step (while the package was fetched and
    /// streamed into the slot): out of room there is 501, not 502.
    pub fn while_downloading(self) -> FumoResult {
        match self {
            FumoResult::UpdateOutOfMemory => FumoResult::DownloadOutOfMemory,
            other => other,
        }
    }
}

impl From<FumoResult> for u16 {
    fn from(r: FumoResult) -> u16 {
        r.code()
    }
}

impl TryFrom<u16> for FumoResult {
    type Error = String;
    fn try_from(code: u16) -> Result<Self, String> {
        FumoResult::ALL.into_iter().find(|r| r.code() == code).ok_or_else(|| format!("{code} is not a FUMO result"))
    }
}

impl std::fmt::Display for FumoResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.code())
    }
}

/// The updater's error kinds.
impl From<ErrorKind> for FumoResult {
    fn from(kind: ErrorKind) -> FumoResult {
        match kind {
            ErrorKind::Untrusted => FumoResult::ValidationFailed,
            ErrorKind::Corrupt => FumoResult::CorruptedPackage,
            ErrorKind::NotForDevice => FumoResult::DeviceMismatch,
            ErrorKind::Downgrade | ErrorKind::RefusedByPolicy | ErrorKind::SlotsNotReady => FumoResult::NotAcceptable,
            ErrorKind::NoSpace => FumoResult::UpdateOutOfMemory,
            ErrorKind::Stream => FumoResult::NetworkError,
            ErrorKind::Cancelled => FumoResult::UserCancelled,
            ErrorKind::NothingInstalled => FumoResult::ClientError,
            ErrorKind::VerifyFailed | ErrorKind::Device => FumoResult::UpdateFailed,
        }
    }
}

impl From<&InstallError> for FumoResult {
    fn from(e: &InstallError) -> FumoResult {
        e.kind().into()
    }
}

impl From<&UpdateError> for FumoResult {
    fn from(e: &UpdateError) -> FumoResult {
        e.kind().into()
    }
}

/// The download agent's errors (the installer's inside them while downloading).
impl From<&DownloadError> for FumoResult {
    fn from(e: &DownloadError) -> FumoResult {
        match e {
            DownloadError::BadUrl { .. } | DownloadError::Redirect { .. } => FumoResult::MalformedUrl,
            DownloadError::Http { status, .. } => match status {
                400 | 404 | 410 | 414 => FumoResult::MalformedUrl,
                401 | 403 | 407 => FumoResult::AuthenticationFailure,
                _ => FumoResult::ClientError,
            },
            DownloadError::Tls { .. } => FumoResult::AuthenticationFailure,
            DownloadError::CaBundle { .. } | DownloadError::State(_) => FumoResult::ClientError,
            DownloadError::Deadline { cause, .. } => match cause {
                RetryCause::Unreachable => FumoResult::ServerUnavailable,
                RetryCause::Server(_) => FumoResult::ServerError,
                RetryCause::Stall => FumoResult::RequestTimeout,
                RetryCause::Network => FumoResult::NetworkError,
            },
            DownloadError::Install { source, .. } => FumoResult::from(source).while_downloading(),
            DownloadError::Cancelled { .. } => FumoResult::UserCancelled,
            DownloadError::Descriptor(d) => d.into(),
        }
    }
}

impl From<&DescriptorError> for FumoResult {
    fn from(e: &DescriptorError) -> FumoResult {
        match e {
            DescriptorError::Invalid { .. } => FumoResult::ClientError,
            DescriptorError::Version { .. } | DescriptorError::Type { .. } => FumoResult::NotAcceptable,
            DescriptorError::Size { .. } => FumoResult::CorruptedPackage,
        }
    }
}

/// Every refusal of the SIM's operator gate is "not acceptable".
impl From<&GateRefusal> for FumoResult {
    fn from(_: &GateRefusal) -> FumoResult {
        FumoResult::NotAcceptable
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_codes_are_refused() {
        for r in FumoResult::ALL {
            assert_eq!(FumoResult::try_from(r.code()).unwrap(), r);
        }
        assert!(FumoResult::try_from(299).is_err());
        assert_eq!(serde_json::to_string(&FumoResult::NotAcceptable).unwrap(), "405");
        assert_eq!(serde_json::from_str::<FumoResult>("402").unwrap(), FumoResult::CorruptedPackage);
    }

    #[test]
    fn the_updaters_kinds_map_to_fumo_codes() {
        let code = |k: ErrorKind| FumoResult::from(k).code();
        assert_eq!(code(ErrorKind::Untrusted), 404);
        assert_eq!(code(ErrorKind::Corrupt), 402);
        assert_eq!(code(ErrorKind::NotForDevice), 403);
        assert_eq!(code(ErrorKind::Downgrade), 405);
        assert_eq!(code(ErrorKind::RefusedByPolicy), 405);
        assert_eq!(code(ErrorKind::NoSpace), 502);
        assert_eq!(code(ErrorKind::Stream), 503);
        assert_eq!(code(ErrorKind::Cancelled), 401);
        assert_eq!(code(ErrorKind::NothingInstalled), 400);
        assert_eq!(code(ErrorKind::Device), 410);
    }

    fn http(status: u16) -> DownloadError {
        DownloadError::Http { url: "http://h/p".into(), status }
    }

    #[test]
    fn download_errors_map_to_fumo_codes() {
        let code = |e: &DownloadError| FumoResult::from(e).code();
        assert_eq!(code(&http(404)), 411);
        assert_eq!(code(&http(410)), 411);
        assert_eq!(code(&http(403)), 406);
        assert_eq!(code(&http(405)), 400);
        let d = |cause| DownloadError::Deadline { url: "u".into(), elapsed: Duration::ZERO, cause, last: "x".into() };
        assert_eq!(code(&d(RetryCause::Unreachable)), 412);
        assert_eq!(code(&d(RetryCause::Server(503))), 500);
        assert_eq!(code(&d(RetryCause::Stall)), 407);
        assert_eq!(code(&d(RetryCause::Network)), 503);
        let e =
            DownloadError::Install { url: "u".into(), source: InstallError::Downgrade { package: 1, installed: 2 } };
        assert_eq!(code(&e), 405);
        assert_eq!(code(&DownloadError::Cancelled { url: "u".into() }), 401);
        let full =
            InstallError::TargetTooSmall { class: "rootfs".into(), path: "/dev/b".into(), needed: 2, available: 1 };
        assert_eq!(
            code(&DownloadError::Install { url: "u".into(), source: full }),
            501,
            "out of room while downloading"
        );
    }
}
