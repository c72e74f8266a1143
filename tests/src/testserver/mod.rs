//! `fotad-testserver`: a scriptable OMA DM 1.2 server on loopback HTTP or
//! HTTPS, speaking XML and WBXML, with basic, MD5 and HMAC authentication in
//! both directions, package #0 notifications, per-device command queues,
//! chunked large objects and a record of the whole conversation.

mod dm;
pub mod harness;
mod http;
pub mod script;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub use dm::{pattern_byte, DmState, Exchange, Fault, Hostile, LargeObject, Payload, Queued, Route, ServerConfig};

use fotad::dm::notification::{build, NotificationSpec, UiMode};
use fotad::dm::syncml::Command;
use http::{HttpRequest, HttpResponse};

/// PEM files for HTTPS; `client_ca` makes client certificates mandatory.
#[derive(Debug, Clone, Copy)]
pub struct TlsFiles<'a> {
    pub cert: &'a Path,
    pub key: &'a Path,
    pub client_ca: Option<&'a Path>,
}

/// A running test server; stops when dropped.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    https: bool,
    state: Arc<Mutex<DmState>>,
    stop: Arc<AtomicBool>,
}

impl TestServer {
    /// Starts on 127.0.0.1 (port 0 = any); HTTPS when `tls` is given.
    pub fn start(config: ServerConfig, port: u16, tls: Option<TlsFiles<'_>>) -> std::io::Result<TestServer> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let tls_cfg = match tls {
            Some(t) => Some(http::tls_config(t.cert, t.key, t.client_ca)?),
            None => None,
        };
        let state = Arc::new(Mutex::new(DmState::new(config)));
        let stop = Arc::new(AtomicBool::new(false));
        let handler_state = state.clone();
        let handler: http::Handler = Arc::new(move |req| handle(&handler_state, &req));
        let https = tls_cfg.is_some();
        let stop2 = stop.clone();
        std::thread::spawn(move || http::serve(&listener, tls_cfg.as_ref(), &handler, &stop2));
        Ok(TestServer { addr, https, state, stop })
    }

    /// The DM URL (`http(s)://127.0.0.1:<port>/dm`).
    pub fn url(&self) -> String {
        self.url_of("/dm")
    }

    /// The URL of `path` on this server (routes answer GETs there).
    pub fn url_of(&self, path: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr)
    }

    /// Answers GETs of `path` with `route` from now on.
    pub fn route(&self, path: &str, route: Route) {
        self.state().routes.insert(path.to_string(), route);
    }

    /// Applies a parsed script: queues its commands for `device`, takes its
    /// hostile settings and routes.
    pub fn apply(&self, device: &str, s: script::Script) {
        let mut st = self.state();
        for q in s.queued {
            st.queue(device, q);
        }
        st.config.hostile = s.hostile;
        st.routes.extend(s.routes);
    }

    /// Locks the state (config, log, queues) for inspection or changes.
    pub fn state(&self) -> MutexGuard<'_, DmState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a command for a device (sent in its next session).
    pub fn queue(&self, device: &str, c: Command) {
        self.state().queue(device, Queued::Cmd(c));
    }

    /// Queues an Add/Replace of a large value, sent in chunks.
    pub fn queue_large(&self, device: &str, replace: bool, uri: &str, format: &str, payload: Payload) {
        self.state().queue(
            device,
            Queued::Large(LargeObject { replace, uri: uri.into(), format: format.into(), payload, offset: 0 }),
        );
    }

    /// Rewrites reply number `index` (from 0) of this server as text before
    /// it is sent: every `from` becomes `to` (see [`DmState::rewrites`]).
    pub fn rewrite(&self, index: usize, from: &str, to: &str) {
        self.state().rewrites.entry(index).or_default().push((from.to_string(), to.to_string()));
    }

    /// The conversation so far.
    pub fn log(&self) -> Vec<Exchange> {
        self.state().log.clone()
    }

    /// Statuses and Results the devices sent.
    pub fn received(&self) -> Vec<Command> {
        self.state().received.clone()
    }

    /// Package #0 for a device, signed with our credentials and the nonce the
    /// device gave us.
    pub fn notification(&self, session_id: u16, ui_mode: UiMode) -> Vec<u8> {
        let st = self.state();
        let c = &st.config;
        let spec =
            NotificationSpec { ui_mode, server_initiated: true, session_id, server_id: &c.server_id, vendor: b"" };
        build(&spec, &c.server_secret, &c.device_nonce)
    }
}

/// Wraps package #0 in a connectionless WSP Push PDU (content type
/// `application/vnd.syncml.notification`, well-known code 0x44), as an SMSC or
/// WAP gateway would deliver it over UDP.
pub fn wap_push(package0: &[u8]) -> Vec<u8> {
    let mut d = vec![0x01, 0x06, 0x01, 0xC4];
    d.extend_from_slice(package0);
    d
}

impl TestServer {
    /// Sends package #0 as a WAP push datagram to a device's UDP listener.
    pub fn send_notification_udp(&self, to: SocketAddr, session_id: u16, ui_mode: UiMode) -> std::io::Result<()> {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0")?;
        sock.send_to(&wap_push(&self.notification(session_id, ui_mode)), to)?;
        Ok(())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        http::wake(self.addr);
    }
}

fn handle(state: &Mutex<DmState>, req: &HttpRequest) -> HttpResponse {
    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
    if req.method == "GET" {
        return match st.routes.get(&req.path) {
            Some(r) => HttpResponse { status: r.status, headers: r.headers.clone(), body: r.body.clone(), drip: None },
            None => HttpResponse { status: 404, headers: vec![], body: vec![], drip: None },
        };
    }
    let drip = st.config.hostile.drip;
    let ct = req.header("Content-Type").unwrap_or("");
    match st.handle(ct, &req.body, req.header(fotad::dm::auth::HMAC_HEADER)) {
        Ok(reply) => {
            let mut headers = vec![("Content-Type".to_string(), reply.content_type)];
            if let Some(h) = reply.hmac {
                headers.push((fotad::dm::auth::HMAC_HEADER.to_string(), h));
            }
            HttpResponse { status: 200, headers, body: reply.body, drip }
        }
        Err(e) => HttpResponse { status: 400, headers: vec![], body: e.into_bytes(), drip: None },
    }
}
