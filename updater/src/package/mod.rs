//! The `.fota` package: header, signed manifest, payload of operation blobs.
//! See `docs/package-format.md` for the byte layout.

mod frame;
mod header;
mod keys;
mod manifest;

pub use frame::{compress_with_prefix, decompress_with_prefix};
pub use header::{read_header, read_raw_header, write_header, Header, RawHeader, MAGIC};
pub use keys::{key_id, load_public_keys, load_secret_key, sign, write_keypair, PublicKeys};
pub use manifest::*;

use std::path::PathBuf;

/// Errors reading or checking a package's header, manifest and signatures.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("not a fotad package (bad magic)")]
    BadMagic,
    #[error("unsupported package format version {0}")]
    UnsupportedVersion(u16),
    #[error("package header is malformed: {0}")]
    BadHeader(String),
    #[error("package manifest is invalid: {0}")]
    BadManifest(String),
    #[error("package ends early (truncated) in the {0}")]
    Truncated(&'static str),
    #[error("signature by key {key_id} does not verify: the manifest was altered or the signature is corrupt")]
    BadSignature { key_id: String },
    #[error(
        "no signature by a trusted key (package signed by {signed_by:?}; trusted keys in {keys_dir}: {trusted:?})"
    )]
    Untrusted { signed_by: Vec<String>, trusted: Vec<String>, keys_dir: PathBuf },
    #[error("key file {path}: {why}")]
    BadKey { path: PathBuf, why: String },
    #[error("reading {what}: {source}")]
    Io { what: String, source: std::io::Error },
}

/// SHA-256 of `data` as lower-case hex.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}
