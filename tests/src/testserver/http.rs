//! A minimal HTTP/1.1 server (POST with Content-Length, keep-alive) over
//! plain TCP or rustls, enough for SyncML DM on loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// One HTTP request.
#[derive(Debug, Clone)]
pub struct HttpRequest {
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
}

/// Handles requests; shared by all connection threads.
pub type Handler = Arc<dyn Fn(HttpRequest) -> HttpResponse + Send + Sync>;

/// Loads a rustls server config from PEM files.
pub fn tls_config(cert: &Path, key: &Path) -> std::io::Result<Arc<rustls::ServerConfig>> {
    let certs =
        rustls_pemfile::certs(&mut BufReader::new(std::fs::File::open(cert)?)).collect::<Result<Vec<_>, _>>()?;
    let key = rustls_pemfile::private_key(&mut BufReader::new(std::fs::File::open(key)?))?
        .ok_or_else(|| std::io::Error::other("no private key"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(std::io::Error::other)?;
    Ok(Arc::new(cfg))
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
    Ok(Some(HttpRequest { headers, body }))
}

fn write_response<W: Write>(w: &mut W, r: &HttpResponse) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} X\r\nContent-Length: {}\r\n", r.status, r.body.len());
    for (k, v) in &r.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())?;
    w.write_all(&r.body)?;
    w.flush()
}

/// Unblocks `serve` after `stop` was set.
pub fn wake(addr: std::net::SocketAddr) {
    let _ = TcpStream::connect(addr);
}
