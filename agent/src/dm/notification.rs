//! Package #0, the DM 1.2 server alert notification
//! (`application/vnd.syncml.notification`): parsing, digest verification and
//! building (for the test server).
//!
//! Layout: 16-byte digest, then the trigger: version (10 bits), ui-mode (2),
//! initiator (1), future use (27, zero), session id (16), server id length (8),
//! server id, vendor-specific data.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use md5::{Digest, Md5};

/// MIME type of package #0.
pub const MIME: &str = "application/vnd.syncml.notification";

const DIGEST_LEN: usize = 16;
const FIXED_TRIGGER_LEN: usize = 8;

/// What the server wants the user to see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UiMode {
    NotSpecified,
    Background,
    Informative,
    UserInteraction,
}

impl UiMode {
    fn from_bits(b: u8) -> Self {
        match b & 3 {
            0 => UiMode::NotSpecified,
            1 => UiMode::Background,
            2 => UiMode::Informative,
            _ => UiMode::UserInteraction,
        }
    }

    fn bits(self) -> u8 {
        match self {
            UiMode::NotSpecified => 0,
            UiMode::Background => 1,
            UiMode::Informative => 2,
            UiMode::UserInteraction => 3,
        }
    }
}

/// Errors parsing package #0.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NotificationError {
    #[error("notification is {0} bytes, shorter than its header")]
    TooShort(usize),
    #[error("notification version {0} is not 1.1 or 1.2")]
    Version(u16),
    #[error("server id of {0} bytes runs past the end of the notification")]
    ServerIdTruncated(usize),
    #[error("notification from server {0:?} failed digest verification")]
    BadDigest(String),
}

/// A parsed package #0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub digest: [u8; DIGEST_LEN],
    /// Version times ten (11 or 12; 10 accepted as sent by some servers).
    pub version: u16,
    pub ui_mode: UiMode,
    /// True when the server initiated (1) rather than the user (0).
    pub server_initiated: bool,
    pub session_id: u16,
    pub server_id: String,
    pub vendor: Vec<u8>,
    /// The bytes after the digest, over which the digest is computed.
    pub trigger: Vec<u8>,
}

impl Notification {
    /// Parses package #0 bytes without checking the digest.
    pub fn parse(bytes: &[u8]) -> Result<Self, NotificationError> {
        if bytes.len() < DIGEST_LEN + FIXED_TRIGGER_LEN {
            return Err(NotificationError::TooShort(bytes.len()));
        }
        let (digest, trigger) = bytes.split_at(DIGEST_LEN);
        let version = (u16::from(trigger[0]) << 2) | u16::from(trigger[1] >> 6);
        if !(10..=12).contains(&version) {
            return Err(NotificationError::Version(version));
        }
        let ui_mode = UiMode::from_bits(trigger[1] >> 4);
        let server_initiated = trigger[1] & 0x08 != 0;
        let session_id = u16::from_be_bytes([trigger[5], trigger[6]]);
        let id_len = usize::from(trigger[7]);
        let id_end = FIXED_TRIGGER_LEN + id_len;
        let id = trigger.get(FIXED_TRIGGER_LEN..id_end).ok_or(NotificationError::ServerIdTruncated(id_len))?;
        let mut d = [0u8; DIGEST_LEN];
        d.copy_from_slice(digest);
        Ok(Notification {
            digest: d,
            version,
            ui_mode,
            server_initiated,
            session_id,
            server_id: String::from_utf8_lossy(id).into_owned(),
            vendor: trigger[id_end..].to_vec(),
            trigger: trigger.to_vec(),
        })
    }

    /// The SessionID for package 1: upper-case hex without leading zeros.
    pub fn session_id_hex(&self) -> String {
        format!("{:X}", self.session_id)
    }

    /// True when the digest matches the server's credentials and our nonce.
    pub fn verify(&self, server_id: &str, secret: &str, nonce: &[u8]) -> bool {
        digest(server_id, secret, nonce, &self.trigger) == self.digest
    }

    /// Parses and verifies in one step.
    pub fn parse_verified(bytes: &[u8], secret: &str, nonce: &[u8]) -> Result<Self, NotificationError> {
        let n = Self::parse(bytes)?;
        if n.verify(&n.server_id, secret, nonce) {
            Ok(n)
        } else {
            Err(NotificationError::BadDigest(n.server_id))
        }
    }
}

/// `MD5(B64(MD5(server_id:secret)) ":" nonce ":" B64(MD5(trigger)))`.
pub fn digest(server_id: &str, secret: &str, nonce: &[u8], trigger: &[u8]) -> [u8; DIGEST_LEN] {
    let h1 = B64.encode(Md5::digest(format!("{server_id}:{secret}")));
    let h2 = B64.encode(Md5::digest(trigger));
    let mut h = Md5::new();
    h.update(h1.as_bytes());
    h.update(b":");
    h.update(nonce);
    h.update(b":");
    h.update(h2.as_bytes());
    h.finalize().into()
}

/// What a server puts in package #0 (used by the test server and tests).
#[derive(Debug, Clone)]
pub struct NotificationSpec<'a> {
    pub ui_mode: UiMode,
    pub server_initiated: bool,
    pub session_id: u16,
    pub server_id: &'a str,
    pub vendor: &'a [u8],
}

/// Builds package #0 (version 1.2) signed with `secret` and `nonce`.
pub fn build(spec: &NotificationSpec<'_>, secret: &str, nonce: &[u8]) -> Vec<u8> {
    let version: u16 = 12;
    let mut t = vec![(version >> 2) as u8];
    t.push((((version & 3) as u8) << 6) | (spec.ui_mode.bits() << 4) | (u8::from(spec.server_initiated) << 3));
    t.extend_from_slice(&[0, 0, 0]);
    t.extend_from_slice(&spec.session_id.to_be_bytes());
    let id = spec.server_id.as_bytes();
    t.push(id.len().min(255) as u8);
    t.extend_from_slice(&id[..id.len().min(255)]);
    t.extend_from_slice(spec.vendor);
    let mut out = digest(spec.server_id, secret, nonce, &t).to_vec();
    out.extend_from_slice(&t);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn spec() -> NotificationSpec<'static> {
        NotificationSpec {
            ui_mode: UiMode::UserInteraction,
            server_initiated: true,
            session_id: 0x0A2B,
            server_id: "srv1",
            vendor: b"v",
        }
    }

    #[test]
    fn parses_every_trigger_field() {
        let bytes = build(&spec(), "secret", b"Nonce");
        let n = Notification::parse(&bytes).unwrap();
        assert_eq!(n.version, 12);
        assert_eq!(n.ui_mode, UiMode::UserInteraction);
        assert!(n.server_initiated);
        assert_eq!(n.session_id_hex(), "A2B");
        assert_eq!(n.server_id, "srv1");
        assert_eq!(n.vendor, b"v");
        // version 12 = 0b0000001100: first byte 0x03, top bits of the second 00.
        assert_eq!(bytes[16], 0x03);
        assert_eq!(bytes[17], 0b0011_1000);
    }

    #[test]
    fn digest_verifies_only_with_the_right_secret_and_nonce() {
        let bytes = build(&spec(), "secret", b"Nonce");
        assert!(Notification::parse_verified(&bytes, "secret", b"Nonce").is_ok());
        assert_eq!(
            Notification::parse_verified(&bytes, "wrong", b"Nonce"),
            Err(NotificationError::BadDigest("srv1".into()))
        );
        assert!(Notification::parse_verified(&bytes, "secret", b"other").is_err());
        let mut tampered = bytes;
        tampered[22] ^= 1; // session id
        assert!(Notification::parse_verified(&tampered, "secret", b"Nonce").is_err());
    }

    #[test]
    fn short_or_inconsistent_input_is_refused() {
        let bytes = build(&spec(), "secret", b"Nonce");
        assert_eq!(Notification::parse(&bytes[..20]), Err(NotificationError::TooShort(20)));
        assert_eq!(Notification::parse(&bytes[..26]), Err(NotificationError::ServerIdTruncated(4)));
        let mut v = bytes;
        v[16] = 0xFF;
        assert!(matches!(Notification::parse(&v), Err(NotificationError::Version(_))));
    }
}
