//! HTTP(S) transport of SyncML messages over [`crate::dm::http_client`] (rustls,
//! a configurable CA bundle and optional client certificate). Plain HTTP
//! only when the account's address says `http://`; a RespURI may never
//! downgrade; redirects are not followed.

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::dm::http_client::{self, header, ClientOptions};

/// One SyncML message going out.
#[derive(Debug, Clone)]
pub struct Request {
    pub url: String,
    pub content_type: String,
    pub body: Vec<u8>,
    /// Value of the `x-syncml-hmac` header, when HMAC is in use.
    pub hmac: Option<String>,
}

/// The server's reply.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    pub hmac: Option<String>,
}

/// Transport failures, with the URL or file concerned.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("HTTP exchange with {url} failed: {message}")]
    Http { url: String, message: String },
    #[error("{url}: reply larger than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("TLS setup from {path}: {message}")]
    Tls { path: PathBuf, message: String },
    #[error("{url}: only http:// and https:// addresses are supported")]
    Scheme { url: String },
    #[error("refusing to switch from {from} to plain-HTTP {to}")]
    Downgrade { from: String, to: String },
    #[error("TLS with {url} failed: {message}; check the server certificate and the account's ca_bundle")]
    TlsHandshake { url: String, message: String },
    #[error("{url}: the session's time is up (the [dm] max_session_secs limit)")]
    Deadline { url: String },
}

/// Sends a message and returns the reply (implemented over HTTP, or in-process
/// by tests).
pub trait Transport {
    fn exchange(&mut self, req: &Request) -> Result<Response, TransportError>;

    /// Every exchange from now on must be over (reply read whole) by
    /// `deadline`, however slowly the server sends.
    fn set_deadline(&mut self, _deadline: Instant) {}
}

/// TLS material for one account.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    pub ca_bundle: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

/// HTTP(S) transport over ureq.
#[derive(Debug)]
pub struct HttpTransport {
    agent: ureq::Agent,
    max_reply: usize,
    deadline: Option<Instant>,
}

impl HttpTransport {
    /// Builds the transport; the CA bundle replaces the built-in web roots.
    pub fn new(tls: &TlsOptions, max_reply: usize) -> Result<Self, TransportError> {
        let agent = http_client::agent(&ClientOptions {
            ca_bundle: tls.ca_bundle.as_deref(),
            client_cert: tls.client_cert.as_deref(),
            client_key: tls.client_key.as_deref(),
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(120),
        })
        .map_err(|e| TransportError::Tls { path: e.path, message: e.message })?;
        Ok(HttpTransport { agent, max_reply, deadline: None })
    }
}

/// Refuses non-HTTP URLs and a move from HTTPS to plain HTTP.
pub fn check_url(current: &str, next: &str) -> Result<(), TransportError> {
    if !(next.starts_with("https://") || next.starts_with("http://")) {
        return Err(TransportError::Scheme { url: next.to_string() });
    }
    if current.starts_with("https://") && next.starts_with("http://") {
        return Err(TransportError::Downgrade { from: current.to_string(), to: next.to_string() });
    }
    Ok(())
}

impl Transport for HttpTransport {
    fn exchange(&mut self, req: &Request) -> Result<Response, TransportError> {
        check_url(&req.url, &req.url)?;
        let mut r =
            self.agent.post(&req.url).header("Content-Type", &req.content_type).header("Accept", &req.content_type);
        if let Some(h) = &req.hmac {
            r = r.header(crate::dm::auth::HMAC_HEADER, h);
        }
        if let Some(deadline) = self.deadline {
            // The whole exchange, the reply body included, must be over by then.
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(TransportError::Deadline { url: req.url.clone() });
            }
            r = r.config().timeout_global(Some(left)).build();
        }
        let resp = r.send(&req.body[..]).map_err(|e| self.transport_error(&req.url, &e))?;
        let status = resp.status().as_u16();
        let content_type = header(&resp, "Content-Type").unwrap_or("").to_string();
        let hmac = header(&resp, crate::dm::auth::HMAC_HEADER).map(str::to_string);
        let mut body = Vec::new();
        resp.into_body()
            .into_reader()
            .take(self.max_reply as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|e| self.transport_error(&req.url, &ureq::Error::from(e)))?;
        if body.len() > self.max_reply {
            return Err(TransportError::TooLarge { url: req.url.clone(), limit: self.max_reply });
        }
        Ok(Response { status, content_type, body, hmac })
    }

    fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = Some(deadline);
    }
}

impl HttpTransport {
    /// A failed exchange, saying which TLS check failed when TLS did.
    fn transport_error(&self, url: &str, e: &ureq::Error) -> TransportError {
        let url = url.to_string();
        if let Some(message) = http_client::tls_failure(e) {
            return TransportError::TlsHandshake { url, message };
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return TransportError::Deadline { url };
        }
        TransportError::Http { url, message: http_client::describe(e) }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn urls_must_be_http_and_never_downgrade() {
        assert!(check_url("https://a/dm", "https://b/dm").is_ok());
        assert!(check_url("http://a/dm", "http://b/dm").is_ok());
        assert!(matches!(check_url("https://a/dm", "http://b/dm"), Err(TransportError::Downgrade { .. })));
        assert!(matches!(check_url("https://a", "ftp://b"), Err(TransportError::Scheme { .. })));
    }

    #[test]
    fn missing_or_empty_ca_bundle_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let e = HttpTransport::new(&TlsOptions { ca_bundle: Some(empty), ..Default::default() }, 1 << 20).unwrap_err();
        assert!(e.to_string().contains("empty.pem") && e.to_string().contains("no PEM certificate"), "{e}");
        assert!(HttpTransport::new(&TlsOptions::default(), 1 << 20).is_ok());
    }
}
