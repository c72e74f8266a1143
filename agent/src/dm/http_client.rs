//! The one HTTP client of the agent, for the DM transport and the download
//! agent: ureq 3 over rustls (ring), trusting a configured PEM bundle or the
//! built-in web roots, optionally with a client certificate. It follows no
//! redirect (the callers do, under their URL rules), uses no proxy, hands
//! every status back as an answer, and gives up on a read that gets no byte
//! for the read timeout (a stalled server).
//!
//! ureq 2 was replaced because bytes from the network reached panics in it: a
//! `Location: file:///…` made its redirect code unwrap a missing host, and a
//! header line without a colon made its header accessor slice out of bounds
//! (found by the `http_answer` fuzz target).

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig, TlsProvider};

/// A response with its body still to read.
pub type Response = ureq::http::Response<ureq::Body>;

/// What the client trusts and how long it waits.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions<'a> {
    /// PEM CA certificates; `None` = the built-in web roots.
    pub ca_bundle: Option<&'a Path>,
    /// PEM client certificate chain and its key (both or neither).
    pub client_cert: Option<&'a Path>,
    pub client_key: Option<&'a Path>,
    /// TCP connect (TLS handshake included). DNS has the resolver's own
    /// timeouts: a resolve timeout would make ureq resolve on a detached
    /// thread per request.
    pub connect_timeout: Duration,
    /// One read that gets no byte for this long fails.
    pub read_timeout: Duration,
}

/// The TLS material could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct TlsSetupError {
    pub path: PathBuf,
    pub message: String,
}

/// Builds the client.
pub fn agent(o: &ClientOptions<'_>) -> Result<ureq::Agent, TlsSetupError> {
    let roots = match o.ca_bundle {
        Some(path) => RootCerts::new_with_certs(&certificates(path)?),
        None => RootCerts::WebPki,
    };
    let client = match (o.client_cert, o.client_key) {
        (Some(cert), Some(key)) => Some(ClientCert::new_with_certs(&certificates(cert)?, private_key(key)?)),
        (None, None) => None,
        (Some(p), None) | (None, Some(p)) => return Err(setup(p, "client_cert and client_key go together")),
    };
    let tls = TlsConfig::builder().provider(TlsProvider::Rustls).root_certs(roots).client_cert(client).build();
    let config = ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .timeout_connect(Some(o.connect_timeout))
        .timeout_per_read(Some(o.read_timeout))
        .build();
    Ok(config.new_agent())
}

fn read(path: &Path) -> Result<Vec<u8>, TlsSetupError> {
    std::fs::read(path).map_err(|e| setup(path, e))
}

fn certificates(path: &Path) -> Result<Vec<Certificate<'static>>, TlsSetupError> {
    let pem = read(path)?;
    let mut out = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let PemItem::Certificate(c) = item.map_err(|e| setup(path, e))? {
            out.push(c);
        }
    }
    match out.is_empty() {
        true => Err(setup(path, "no PEM certificate in the file")),
        false => Ok(out),
    }
}

fn private_key(path: &Path) -> Result<PrivateKey<'static>, TlsSetupError> {
    PrivateKey::from_pem(&read(path)?).map_err(|e| setup(path, format!("no usable private key: {e}")))
}

fn setup(path: &Path, e: impl std::fmt::Display) -> TlsSetupError {
    TlsSetupError { path: path.to_path_buf(), message: e.to_string() }
}

/// A header of `resp` as text (absent when missing or not visible ASCII).
pub fn header<'a>(resp: &'a Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Which TLS check failed, when TLS did (unknown issuer, expired, wrong name, …).
pub fn tls_failure(e: &ureq::Error) -> Option<String> {
    match e {
        ureq::Error::Rustls(r) => Some(r.to_string()),
        ureq::Error::Tls(m) => Some((*m).to_string()),
        ureq::Error::Io(io) => rustls_in(io),
        _ => None,
    }
}

fn rustls_in(io: &io::Error) -> Option<String> {
    let inner = io.get_ref()?;
    if let Some(r) = inner.downcast_ref::<rustls::Error>() {
        return Some(r.to_string());
    }
    inner.downcast_ref::<ureq::Error>().and_then(tls_failure)
}

/// Whether connecting failed (DNS, refused, connect timeout): the server is
/// unreachable rather than misbehaving.
pub fn is_unreachable(e: &ureq::Error) -> bool {
    use ureq::Timeout;
    match e {
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => true,
        ureq::Error::Timeout(t) => matches!(t, Timeout::Resolve | Timeout::Connect),
        ureq::Error::Io(io) => matches!(io.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound),
        _ => false,
    }
}

/// Whether a URL could not be used at all (not http(s), malformed).
pub fn is_bad_url(e: &ureq::Error) -> bool {
    matches!(e, ureq::Error::BadUri(_) | ureq::Error::Http(_))
}

/// Whether a read failed because no byte came for the read timeout (or
/// another timeout ran out while receiving).
pub fn is_stall(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Timeout(t) => !matches!(t, ureq::Timeout::Resolve | ureq::Timeout::Connect),
        ureq::Error::Io(io) => is_stall_io(io),
        _ => false,
    }
}

/// [`is_stall`] for the `io::Error` a body read gives.
pub fn is_stall_io(e: &io::Error) -> bool {
    if matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) {
        return true;
    }
    e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>()).is_some_and(is_stall)
}

/// The error as text for logs (ureq's own text carries no URL).
pub fn describe(e: &ureq::Error) -> String {
    tls_failure(e).map_or_else(|| e.to_string(), |t| format!("TLS: {t}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_missing_or_empty_bundle_names_the_file_and_pairs_are_required() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("ca.pem");
        std::fs::write(&empty, "").unwrap();
        let o = ClientOptions { ca_bundle: Some(&empty), ..ClientOptions::default() };
        let e = agent(&o).unwrap_err();
        assert!(e.to_string().contains("ca.pem") && e.to_string().contains("no PEM"), "{e}");
        let absent = dir.path().join("absent.pem");
        assert!(agent(&ClientOptions { ca_bundle: Some(&absent), ..ClientOptions::default() }).is_err());
        let lone = ClientOptions { client_cert: Some(&empty), ..ClientOptions::default() };
        assert!(agent(&lone).unwrap_err().to_string().contains("go together"));
        assert!(agent(&ClientOptions::default()).is_ok());
    }

    #[test]
    fn timeouts_while_receiving_are_stalls_and_connect_failures_unreachable() {
        assert!(is_stall(&ureq::Error::Timeout(ureq::Timeout::PerRead)));
        assert!(!is_stall(&ureq::Error::Timeout(ureq::Timeout::Connect)));
        let wrapped = io::Error::other(ureq::Error::Timeout(ureq::Timeout::PerRead));
        assert!(is_stall_io(&wrapped));
        assert!(is_unreachable(&ureq::Error::HostNotFound));
        assert!(is_unreachable(&ureq::Error::Timeout(ureq::Timeout::Connect)));
        assert!(!is_unreachable(&ureq::Error::Timeout(ureq::Timeout::PerRead)));
    }
}
