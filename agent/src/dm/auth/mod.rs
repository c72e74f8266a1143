//! OMA DM authentication: `syncml:auth-basic`, `syncml:auth-md5` and HMAC-MD5
//! (`x-syncml-hmac` transport header), and the nonces they need.

mod nonce;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use md5::{Digest, Md5};

pub use nonce::{fresh as fresh_nonce, NonceStore, Nonces};

use crate::dm::syncml::{Cred, Meta};

/// Meta Type of basic credentials.
pub const TYPE_BASIC: &str = "syncml:auth-basic";
/// Meta Type of MD5 digest credentials.
pub const TYPE_MD5: &str = "syncml:auth-md5";
/// Meta Type that names HMAC-MD5 in a Chal.
pub const TYPE_HMAC: &str = "syncml:auth-MAC";
/// HTTP header carrying the HMAC.
pub const HMAC_HEADER: &str = "x-syncml-hmac";

/// An authentication scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Basic,
    Md5,
    Hmac,
}

impl Scheme {
    /// From a Meta Type (`syncml:auth-basic`, ...), case-insensitive.
    pub fn from_meta_type(t: &str) -> Option<Scheme> {
        match t.trim().to_ascii_lowercase().as_str() {
            "syncml:auth-basic" => Some(Scheme::Basic),
            "syncml:auth-md5" => Some(Scheme::Md5),
            "syncml:auth-mac" | "syncml:auth-hmac" => Some(Scheme::Hmac),
            _ => None,
        }
    }

    /// From a DMAcc `AAuthType` value (`BASIC`, `DIGEST`, `HMAC`).
    pub fn from_dmacc(t: &str) -> Option<Scheme> {
        match t.trim().to_ascii_uppercase().as_str() {
            "BASIC" => Some(Scheme::Basic),
            "DIGEST" => Some(Scheme::Md5),
            "HMAC" => Some(Scheme::Hmac),
            _ => None,
        }
    }

    pub fn dmacc_name(self) -> &'static str {
        match self {
            Scheme::Basic => "BASIC",
            Scheme::Md5 => "DIGEST",
            Scheme::Hmac => "HMAC",
        }
    }

    pub fn meta_type(self) -> &'static str {
        match self {
            Scheme::Basic => TYPE_BASIC,
            Scheme::Md5 => TYPE_MD5,
            Scheme::Hmac => TYPE_HMAC,
        }
    }
}

fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// `B64(MD5(user ":" secret))`, the first step of every digest.
fn user_hash(user: &str, secret: &str) -> String {
    B64.encode(md5(&[user.as_bytes(), b":", secret.as_bytes()]))
}

/// Basic credentials: `B64(user:secret)`.
pub fn basic(user: &str, secret: &str) -> String {
    B64.encode(format!("{user}:{secret}"))
}

/// MD5 digest credentials: `B64(MD5(B64(MD5(user:secret)) ":" nonce))`.
pub fn md5_digest(user: &str, secret: &str, nonce: &[u8]) -> String {
    B64.encode(md5_digest_raw(user, secret, nonce))
}

fn md5_digest_raw(user: &str, secret: &str, nonce: &[u8]) -> [u8; 16] {
    md5(&[user_hash(user, secret).as_bytes(), b":", nonce])
}

/// HMAC-MD5 over a message body:
/// `B64(MD5(B64(MD5(user:secret)) ":" nonce ":" B64(MD5(body))))`.
pub fn hmac_mac(user: &str, secret: &str, nonce: &[u8], body: &[u8]) -> String {
    let body_hash = B64.encode(md5(&[body]));
    B64.encode(md5(&[user_hash(user, secret).as_bytes(), b":", nonce, b":", body_hash.as_bytes()]))
}

/// The `x-syncml-hmac` header value for `body`.
pub fn hmac_header(user: &str, secret: &str, nonce: &[u8], body: &[u8]) -> String {
    format!("algorithm=MD5, username=\"{user}\", mac={}", hmac_mac(user, secret, nonce, body))
}

/// A parsed `x-syncml-hmac` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HmacHeader {
    pub username: String,
    pub mac: String,
}

/// Parses `algorithm=MD5, username="x", mac=y` (order and quoting lenient).
pub fn parse_hmac_header(value: &str) -> Option<HmacHeader> {
    let (mut user, mut mac, mut algo_ok) = (None, None, true);
    for part in value.split(',') {
        let (k, v) = part.split_once('=')?;
        let v = v.trim().trim_matches('"').to_string();
        match k.trim().to_ascii_lowercase().as_str() {
            "algorithm" => algo_ok = v.eq_ignore_ascii_case("MD5"),
            "username" => user = Some(v),
            "mac" => mac = Some(v),
            _ => {}
        }
    }
    if !algo_ok {
        return None;
    }
    Some(HmacHeader { username: user?, mac: mac? })
}

/// Verifies an `x-syncml-hmac` header against the body with the expected secret.
pub fn verify_hmac(header: &str, user: &str, secret: &str, nonce: &[u8], body: &[u8]) -> bool {
    match parse_hmac_header(header) {
        Some(h) => h.username == user && h.mac == hmac_mac(user, secret, nonce, body),
        None => false,
    }
}

/// Credentials to put in a SyncHdr (`Cred`) for basic or MD5.
pub fn make_cred(scheme: Scheme, user: &str, secret: &str, nonce: &[u8]) -> Option<Cred> {
    let data = match scheme {
        Scheme::Basic => basic(user, secret),
        Scheme::Md5 => md5_digest(user, secret, nonce),
        Scheme::Hmac => return None,
    };
    let meta = Meta { format: Some("b64".into()), type_: Some(scheme.meta_type().into()), ..Meta::default() };
    Some(Cred { meta, data: data.into_bytes() })
}

/// Checks a `Cred` received from a peer. Basic is matched on user and secret;
/// MD5 accepts the digest as base64 text or as 16 raw bytes (WBXML opaque).
pub fn verify_cred(cred: &Cred, user: &str, secret: &str, nonce: &[u8]) -> bool {
    let scheme = cred.meta.type_.as_deref().and_then(Scheme::from_meta_type).unwrap_or(Scheme::Basic);
    match scheme {
        Scheme::Basic => {
            let text = String::from_utf8_lossy(&cred.data);
            B64.decode(text.trim()).is_ok_and(|d| d == format!("{user}:{secret}").as_bytes())
        }
        Scheme::Md5 => {
            let want = md5_digest_raw(user, secret, nonce);
            if cred.data.len() == 16 && cred.data == want {
                return true;
            }
            let text = String::from_utf8_lossy(&cred.data);
            B64.decode(text.trim()).is_ok_and(|d| d == want)
        }
        Scheme::Hmac => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn basic_matches_the_spec_vector() {
        assert_eq!(basic("Bruce2", "OhBehave"), "QnJ1Y2UyOk9oQmVoYXZl");
    }

    #[test]
    fn md5_digest_matches_the_spec_vector() {
        assert_eq!(md5_digest("Bruce2", "OhBehave", b"Nonce"), "Zz6EivR3yeaaENcRN6lpAQ==");
    }

    #[test]
    fn verify_cred_accepts_right_and_refuses_wrong_credentials() {
        for scheme in [Scheme::Basic, Scheme::Md5] {
            let c = make_cred(scheme, "Bruce2", "OhBehave", b"Nonce").unwrap();
            assert!(verify_cred(&c, "Bruce2", "OhBehave", b"Nonce"), "{scheme:?}");
            assert!(!verify_cred(&c, "Bruce2", "wrong", b"Nonce"), "{scheme:?}");
        }
        let c = make_cred(Scheme::Md5, "Bruce2", "OhBehave", b"Nonce").unwrap();
        assert!(!verify_cred(&c, "Bruce2", "OhBehave", b"other"));
        let raw = Cred { data: B64.decode("Zz6EivR3yeaaENcRN6lpAQ==").unwrap(), ..c };
        assert!(verify_cred(&raw, "Bruce2", "OhBehave", b"Nonce"), "raw 16-byte digest");
    }

    #[test]
    fn hmac_header_round_trips_and_binds_the_body() {
        let h = hmac_header("Bruce2", "OhBehave", b"Nonce", b"<SyncML/>");
        assert!(h.starts_with("algorithm=MD5, username=\"Bruce2\", mac="));
        assert!(verify_hmac(&h, "Bruce2", "OhBehave", b"Nonce", b"<SyncML/>"));
        assert!(!verify_hmac(&h, "Bruce2", "OhBehave", b"Nonce", b"<SyncML />"));
        assert!(!verify_hmac(&h, "Bruce2", "x", b"Nonce", b"<SyncML/>"));
        let expected = {
            let inner = B64.encode(md5(&[b"Bruce2:OhBehave"]));
            let body = B64.encode(md5(&[b"<SyncML/>"]));
            B64.encode(md5(&[format!("{inner}:Nonce:{body}").as_bytes()]))
        };
        assert_eq!(parse_hmac_header(&h).unwrap().mac, expected);
    }

    #[test]
    fn schemes_parse_from_meta_types_and_dmacc_names() {
        assert_eq!(Scheme::from_meta_type("syncml:auth-md5"), Some(Scheme::Md5));
        assert_eq!(Scheme::from_meta_type("SYNCML:AUTH-BASIC"), Some(Scheme::Basic));
        assert_eq!(Scheme::from_meta_type("syncml:auth-MAC"), Some(Scheme::Hmac));
        assert_eq!(Scheme::from_dmacc("DIGEST"), Some(Scheme::Md5));
        assert_eq!(Scheme::from_dmacc("X509"), None);
    }
}
