//! DM status codes, and the one table that maps errors to them.

use crate::dm::tree::TreeError;

/// The SyncML DM status codes fotad sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum StatusCode {
    Ok = 200,
    AcceptedForProcessing = 202,
    Authenticated = 212,
    ChunkAccepted = 213,
    OperationCancelled = 214,
    NotExecuted = 215,
    AtomicRollbackOk = 216,
    NotModified = 304,
    BadRequest = 400,
    InvalidCredentials = 401,
    Forbidden = 403,
    NotFound = 404,
    CommandNotAllowed = 405,
    OptionalFeatureNotSupported = 406,
    MissingCredentials = 407,
    RequestTimeout = 408,
    IncompleteCommand = 412,
    RequestEntityTooLarge = 413,
    UriTooLong = 414,
    UnsupportedMediaType = 415,
    RequestedSizeTooBig = 416,
    AlreadyExists = 418,
    DeviceFull = 420,
    SizeMismatch = 424,
    PermissionDenied = 425,
    CommandFailed = 500,
    AtomicFailed = 507,
    AtomicRollbackFailed = 516,
}

impl StatusCode {
    pub fn code(self) -> u16 {
        self as u16
    }

    pub fn is_success(self) -> bool {
        (200..300).contains(&self.code())
    }
}

impl From<&TreeError> for StatusCode {
    fn from(e: &TreeError) -> Self {
        match e {
            TreeError::NotFound(_) => StatusCode::NotFound,
            TreeError::AlreadyExists(_) => StatusCode::AlreadyExists,
            TreeError::AclDenied { .. } | TreeError::AclChangeDenied { .. } => StatusCode::PermissionDenied,
            TreeError::NotAllowed { .. } | TreeError::ParentIsLeaf(_) => StatusCode::CommandNotAllowed,
            TreeError::BadUri(_) => StatusCode::NotFound,
            TreeError::UriTooLong(_) => StatusCode::UriTooLong,
            TreeError::UnsupportedProperty { .. } => StatusCode::OptionalFeatureNotSupported,
            TreeError::BadFormat { .. } => StatusCode::UnsupportedMediaType,
            TreeError::Io { source, .. } if is_full(source) => StatusCode::DeviceFull,
            TreeError::State(s) if is_full(&s.source) => StatusCode::DeviceFull,
            TreeError::Io { .. } | TreeError::State(_) => StatusCode::CommandFailed,
        }
    }
}

fn is_full(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOSPC)
}
