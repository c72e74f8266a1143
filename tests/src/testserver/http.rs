//! A minimal HTTP/1.1 server (POST with Content-Length, keep-alive) over
//! plain TCP or rustls, enough for SyncML DM on loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// One HTTP request.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// One HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Write the response one byte per this interval (a slow server).
    pub drip: Option<Duration>,
}

/// Handles requests; shared by all connection threads.
pub type Handler = Arc<dyn Fn(HttpRequest) -> HttpResponse + Send + Sync>;

fn pem_certs(path: &Path) -> std::io::Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    rustls_pemfile::certs(&mut BufReader::new(std::fs::File::open(path)?)).collect()
}

/// Loads a rustls server config from PEM files; with `client_ca`, clients
/// must present a certificate issued by it.
pub fn tls_config(cert: &Path, key: &Path, client_ca: Option<&Path>) -> std::io::Result<Arc<rustls::ServerConfig>> {
    let certs = pem_certs(cert)?;
    let key = rustls_pemfile::private_key(&mut BufReader::new(std::fs::File::open(key)?))?
        .ok_or_else(|| std::io::Error::other("no private key"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?;
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in pem_certs(ca)? {
                roots.add(c).map_err(std::io::Error::other)?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(std::io::Error::other)?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(builder.with_single_cert(certs, key).map_err(std::io::Error::other)?))
}

/// Accepts connections until `stop` is set, one thread per connection.
pub fn serve(listener: &TcpListener, tls: Option<&Arc<rustls::ServerConfig>>, handler: &Handler, stop: &AtomicBool) {
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = conn else { continue };
        let (tls, handler) = (tls.cloned(), handler.clone());
        std::thread::spawn(move || {
            let _ = match tls {
                Some(cfg) => match rustls::ServerConnection::new(cfg) {
                    Ok(c) => connection(rustls::StreamOwned::new(c, stream), &handler),
                    Err(_) => Ok(()),
                },
                None => connection(stream, &handler),
            };
        });
    }
}

fn connection<S: Read + Write>(stream: S, handler: &Handler) -> std::io::Result<()> {
    let mut rd = BufReader::new(stream);
    loop {
        let Some(req) = read_request(&mut rd)? else {
            return Ok(());
        };
        let resp = handler(req);
        write_response(rd.get_mut(), &resp)?;
    }
}

fn read_request<R: BufRead>(rd: &mut R) -> std::io::Result<Option<HttpRequest>> {
    let mut line = String::new();
    if rd.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or("").to_string();
    let path = words.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        rd.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    rd.read_exact(&mut body)?;
    Ok(Some(HttpRequest { method, path, headers, body }))
}

fn write_response<W: Write>(w: &mut W, r: &HttpResponse) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} X\r\nContent-Length: {}\r\n", r.status, r.body.len());
    for (k, v) in &r.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&r.body);
    let Some(interval) = r.drip else {
        w.write_all(&bytes)?;
        return w.flush();
    };
    for b in bytes {
        w.write_all(&[b])?;
        w.flush()?;
        std::thread::sleep(interval);
    }
    Ok(())
}

/// Unblocks `serve` after `stop` was set.
pub fn wake(addr: std::net::SocketAddr) {
    let _ = TcpStream::connect(addr);
}
