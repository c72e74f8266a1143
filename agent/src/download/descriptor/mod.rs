//! OMA Download descriptors (`application/vnd.oma.dd+xml`, DD 1.x): parsing,
//! validation, and the choice among several descriptors by language.

mod choose;
mod parse;

pub use choose::choose;
pub use parse::parse;

use super::notify::InstallStatus;

/// MIME type of an OMA download descriptor.
pub const DD_TYPE: &str = "application/vnd.oma.dd+xml";
/// The DD namespace (root `<media xmlns=…>`).
pub const DD_NAMESPACE: &str = "http://www.openmobilealliance.org/xmlns/dd";
/// Object types this device installs: fotad packages.
pub const ACCEPTED_TYPES: [&str; 2] = ["application/vnd.fotad.package", "application/octet-stream"];
/// Largest descriptor answer read.
pub const MAX_SIZE: u64 = 64 << 10;

/// One parsed descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Descriptor {
    pub object_uri: String,
    pub size: u64,
    /// Every `<type>` given (at least one is accepted).
    pub types: Vec<String>,
    pub install_notify_uri: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub vendor: Option<String>,
    pub dd_version: Option<String>,
    /// `xml:lang` of `<media>`, or the `Content-Language` of its multipart part.
    pub language: Option<String>,
}

/// A descriptor that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DescriptorError {
    #[error("download descriptor from {url} is invalid: {message}; fix it on the server")]
    Invalid { url: String, message: String },
    #[error("download descriptor from {url} has DDVersion {version}; only 1.x is supported")]
    Version { url: String, version: String },
    #[error("download descriptor from {url} offers types {types:?}; this device installs {ACCEPTED_TYPES:?}")]
    Type { url: String, types: Vec<String> },
    #[error("package {url} is {server} bytes, its descriptor says {descriptor}; the descriptor or the file is wrong")]
    Size { url: String, descriptor: u64, server: u64 },
}

impl DescriptorError {
    pub fn install_status(&self) -> InstallStatus {
        match self {
            DescriptorError::Invalid { .. } => InstallStatus::InvalidDescriptor,
            DescriptorError::Version { .. } => InstallStatus::InvalidDdVersion,
            DescriptorError::Type { .. } => InstallStatus::NonAcceptableContent,
            DescriptorError::Size { .. } => InstallStatus::AttributeMismatch,
        }
    }
}

/// Whether a Content-Type announces a descriptor (alone, or several in a multipart).
pub fn is_descriptor_type(content_type: &str) -> bool {
    let base = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    base == DD_TYPE || base == "multipart/mixed"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_types_are_recognised_with_parameters() {
        assert!(is_descriptor_type("application/vnd.oma.dd+xml; charset=utf-8"));
        assert!(is_descriptor_type("multipart/mixed; boundary=x"));
        assert!(!is_descriptor_type("application/octet-stream"));
    }
}
