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

pub use dm::{pattern_byte, DmState, Exchange, Fault, LargeObject, Payload, Queued, ServerConfig};

use fotad::notification::{build, NotificationSpec, UiMode};
use fotad::syncml::Command;
use http::{HttpRequest, HttpResponse};

/// A running test server; stops when dropped.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    https: bool,
    state: Arc<Mutex<DmState>>,
    stop: Arc<AtomicBool>,
}

impl TestServer {
    /// Starts on 127.0.0.1 (port 0 = any); HTTPS when `tls` gives a
    /// certificate and key (PEM).
    pub fn start(config: ServerConfig, port: u16, tls: Option<(&Path, &Path)>) -> std::io::Result<TestServer> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let tls_cfg = match tls {
            Some((cert, key)) => Some(http::tls_config(cert, key)?),
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
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}/dm", self.addr)
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

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        http::wake(self.addr);
    }
}

fn handle(state: &Mutex<DmState>, req: &HttpRequest) -> HttpResponse {
    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
    let ct = req.header("Content-Type").unwrap_or("");
    match st.handle(ct, &req.body, req.header(fotad::auth::HMAC_HEADER)) {
        Ok(reply) => {
            let mut headers = vec![("Content-Type".to_string(), reply.content_type)];
            if let Some(h) = reply.hmac {
                headers.push((fotad::auth::HMAC_HEADER.to_string(), h));
            }
            HttpResponse { status: 200, headers, body: reply.body }
        }
        Err(e) => HttpResponse { status: 400, headers: vec![], body: e.into_bytes() },
    }
}
