//! HTTP(S) transport of SyncML messages: ureq over rustls, with a
//! configurable CA bundle and optional client certificate. Plain HTTP only
//! when the account's address says `http://`; a RespURI may never downgrade.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
        let config = client_config(tls)?;
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(30))
            .timeout_read(Duration::from_secs(120))
            .redirects(0)
            .tls_config(Arc::new(config))
            .build();
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
        let mut r = self.agent.post(&req.url).set("Content-Type", &req.content_type).set("Accept", &req.content_type);
        if let Some(h) = &req.hmac {
            r = r.set(crate::auth::HMAC_HEADER, h);
        }
        if let Some(deadline) = self.deadline {
            // ureq applies the request timeout to the body reads too.
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(TransportError::Deadline { url: req.url.clone() });
            }
            r = r.timeout(left);
        }
        let resp = match r.send_bytes(&req.body) {
            Ok(resp) | Err(ureq::Error::Status(_, resp)) => resp,
            Err(ureq::Error::Transport(t)) => return Err(self.transport_error(&req.url, &t)),
        };
        let status = resp.status();
        let content_type = resp.header("Content-Type").unwrap_or("").to_string();
        let hmac = resp.header(crate::auth::HMAC_HEADER).map(str::to_string);
        let mut body = Vec::new();
        resp.into_reader().take(self.max_reply as u64 + 1).read_to_end(&mut body).map_err(|e| {
            match self.deadline.is_some_and(|d| Instant::now() >= d) {
                true => TransportError::Deadline { url: req.url.clone() },
                false => TransportError::Http { url: req.url.clone(), message: e.to_string() },
            }
        })?;
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
    fn transport_error(&self, url: &str, t: &ureq::Transport) -> TransportError {
        let url = url.to_string();
        if let Some(message) = crate::download::tls_failure(t) {
            return TransportError::TlsHandshake { url, message };
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return TransportError::Deadline { url };
        }
        TransportError::Http { url, message: crate::download::describe_transport(t) }
    }
}

fn client_config(tls: &TlsOptions) -> Result<rustls::ClientConfig, TransportError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    match &tls.ca_bundle {
        Some(path) => {
            for cert in read_certs(path)? {
                roots.add(cert).map_err(|e| tls_err(path, e))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(Path::new("-"), e))?
        .with_root_certificates(roots);
    match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => {
            let chain = read_certs(cert)?;
            let mut rd = std::io::BufReader::new(std::fs::File::open(key).map_err(|e| tls_err(key, e))?);
            let key_der = rustls_pemfile::private_key(&mut rd)
                .map_err(|e| tls_err(key, e))?
                .ok_or_else(|| tls_err(key, "no private key found"))?;
            builder.with_client_auth_cert(chain, key_der).map_err(|e| tls_err(cert, e))
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some(p), None) | (None, Some(p)) => Err(tls_err(p, "client_cert and client_key go together")),
    }
}

fn read_certs(path: &Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, TransportError> {
    let mut rd = std::io::BufReader::new(std::fs::File::open(path).map_err(|e| tls_err(path, e))?);
    let certs = rustls_pemfile::certs(&mut rd).collect::<Result<Vec<_>, _>>().map_err(|e| tls_err(path, e))?;
    if certs.is_empty() {
        return Err(tls_err(path, "no certificates found"));
    }
    Ok(certs)
}

fn tls_err(path: &Path, e: impl std::fmt::Display) -> TransportError {
    TransportError::Tls { path: path.to_path_buf(), message: e.to_string() }
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
        assert!(e.to_string().contains("no certificates"), "{e}");
        assert!(HttpTransport::new(&TlsOptions::default(), 1 << 20).is_ok());
    }
}
