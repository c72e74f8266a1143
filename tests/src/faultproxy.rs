//! A fault-injecting TCP proxy for download tests: sits on loopback between
//! a client and a server and, per accepted connection, follows a script:
//! pass everything, reset (RST) after N bytes, stall after N bytes, or
//! truncate (clean close) after N bytes of the server's answer, answer an
//! HTTP status itself (e.g. 503) without asking the server, or pass the
//! answer on slowly (a download that takes a while). Counts the bytes
//! forwarded to the client over all connections.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// What happens to one connection's server→client bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Pass,
    /// Forward N bytes, then reset both sides (RST).
    ResetAfter(u64),
    /// Forward N bytes, then forward nothing for the duration, then close.
    StallAfter(u64, Duration),
    /// Forward N bytes, then close cleanly (FIN): a truncated response.
    TruncateAfter(u64),
    /// Answer with this HTTP status (empty body) instead of the server.
    Status(u16),
    /// Forward everything, at most this many bytes per second.
    Throttle(u64),
}

impl Fault {
    fn limit(self) -> Option<u64> {
        match self {
            Fault::Pass | Fault::Status(_) | Fault::Throttle(_) => None,
            Fault::ResetAfter(n) | Fault::StallAfter(n, _) | Fault::TruncateAfter(n) => Some(n),
        }
    }
}

#[derive(Debug, Default)]
struct Shared {
    script: Mutex<VecDeque<Fault>>,
    forwarded: AtomicU64,
    connections: AtomicUsize,
}

/// The running proxy (its threads live as long as the test process).
#[derive(Debug, Clone)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream`; connection
    /// k follows `script[k]`, connections past the script pass through.
    pub fn start(upstream: SocketAddr, script: Vec<Fault>) -> io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let shared = Arc::new(Shared { script: Mutex::new(script.into()), ..Shared::default() });
        let proxy = FaultProxy { addr: listener.local_addr()?, shared };
        let worker = proxy.clone();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let fault = worker.next_fault();
                let shared = Arc::clone(&worker.shared);
                thread::spawn(move || serve(client, upstream, fault, &shared));
            }
        });
        Ok(proxy)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:port` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Appends faults for later connections.
    pub fn push(&self, faults: impl IntoIterator<Item = Fault>) {
        if let Ok(mut script) = self.shared.script.lock() {
            script.extend(faults);
        }
    }

    /// Bytes sent to clients so far, over all connections (headers included).
    pub fn bytes_forwarded(&self) -> u64 {
        self.shared.forwarded.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    fn next_fault(&self) -> Fault {
        self.shared.connections.fetch_add(1, Ordering::SeqCst);
        self.shared.script.lock().ok().and_then(|mut s| s.pop_front()).unwrap_or(Fault::Pass)
    }
}

fn serve(client: TcpStream, upstream: SocketAddr, fault: Fault, shared: &Shared) {
    if let Fault::Status(code) = fault {
        return answer(client, code, shared);
    }
    let Ok(server) = TcpStream::connect(upstream) else {
        reset(client, None);
        return;
    };
    let requests = match (client.try_clone(), server.try_clone()) {
        (Ok(mut from_client), Ok(mut to_server)) => Some(thread::spawn(move || {
            let _ = io::copy(&mut from_client, &mut to_server);
            let _ = to_server.shutdown(Shutdown::Write);
        })),
        _ => None,
    };
    let rate = match fault {
        Fault::Throttle(rate) => Some(rate.max(1)),
        _ => None,
    };
    let reached = forward(&server, &client, fault.limit(), rate, shared);
    let _ = server.shutdown(Shutdown::Both);
    match (fault, reached) {
        (Fault::ResetAfter(_), true) => return reset(client, requests),
        (Fault::StallAfter(_, pause), true) => thread::sleep(pause),
        _ => {}
    }
    let _ = client.shutdown(Shutdown::Both);
}

/// Reads the request head, answers `code` with an empty body, and closes.
fn answer(mut client: TcpStream, code: u16, shared: &Shared) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && matches!(client.read(&mut byte), Ok(1)) {
        head.push(byte[0]);
    }
    let reply = format!("HTTP/1.1 {code} Fault\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    if client.write_all(reply.as_bytes()).is_ok() {
        shared.forwarded.fetch_add(reply.len() as u64, Ordering::SeqCst);
    }
    let _ = client.shutdown(Shutdown::Both);
}

/// Copies server→client up to `limit` bytes, at most `rate` bytes per
/// second; true when the limit was reached.
fn forward(
    mut server: &TcpStream,
    mut client: &TcpStream,
    limit: Option<u64>,
    rate: Option<u64>,
    shared: &Shared,
) -> bool {
    // Throttled: small pieces (a tenth of a second's worth) with pauses.
    let piece = rate.map_or(64 << 10, |r| (r / 10).clamp(1, 64 << 10) as usize);
    let mut buf = vec![0u8; piece];
    let mut sent = 0u64;
    let started = std::time::Instant::now();
    loop {
        if let Some(rate) = rate {
            let due = Duration::from_secs_f64(sent as f64 / rate as f64);
            thread::sleep(due.saturating_sub(started.elapsed()));
        }
        let room = limit.map_or(buf.len() as u64, |l| (l - sent).min(buf.len() as u64)) as usize;
        if room == 0 {
            return true;
        }
        let n = match server.read(&mut buf[..room]) {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        if client.write_all(&buf[..n]).is_err() {
            return false;
        }
        sent += n as u64;
        shared.forwarded.fetch_add(n as u64, Ordering::SeqCst);
    }
}

/// Closes with RST: SO_LINGER on with a zero timeout, the request copier
/// stopped (it holds a clone of the socket), then the last descriptor closed.
fn reset(client: TcpStream, requests: Option<thread::JoinHandle<()>>) {
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    let _ = nix::sys::socket::setsockopt(&client, nix::sys::socket::sockopt::Linger, &linger);
    let _ = client.shutdown(Shutdown::Read);
    if let Some(handle) = requests {
        let _ = handle.join();
    }
    drop(client);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// A server that answers every connection with `payload` and closes.
    fn server(payload: Vec<u8>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            for mut c in listener.incoming().flatten() {
                let _ = c.write_all(&payload);
            }
        });
        addr
    }

    fn fetch(proxy: &FaultProxy) -> (Vec<u8>, io::Result<usize>) {
        let mut c = TcpStream::connect(proxy.addr()).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = Vec::new();
        let r = c.read_to_end(&mut got);
        (got, r)
    }

    #[test]
    fn faults_follow_the_script_per_connection_and_bytes_are_counted() {
        let payload: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let stall = Duration::from_millis(300);
        let script = vec![Fault::TruncateAfter(1000), Fault::ResetAfter(5000), Fault::StallAfter(10, stall)];
        let proxy = FaultProxy::start(server(payload.clone()), script).unwrap();
        let (got, r) = fetch(&proxy);
        assert_eq!((got.as_slice(), r.is_ok()), (&payload[..1000], true));
        let (got, r) = fetch(&proxy);
        assert!(got.len() <= 5000 && payload.starts_with(&got));
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::ConnectionReset);
        let t = std::time::Instant::now();
        let (got, _) = fetch(&proxy);
        assert!(got.len() == 10 && t.elapsed() >= stall, "{} bytes after {:?}", got.len(), t.elapsed());
        let (got, _) = fetch(&proxy);
        assert_eq!(got, payload);
        assert_eq!(proxy.connections(), 4);
        assert!(proxy.bytes_forwarded() >= 1000 + 10 + 200_000);
    }

    #[test]
    fn a_throttled_answer_arrives_whole_and_no_faster_than_the_rate() {
        let payload: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
        let proxy = FaultProxy::start(server(payload.clone()), vec![Fault::Throttle(200_000)]).unwrap();
        let t = std::time::Instant::now();
        let (got, r) = fetch(&proxy);
        assert!(r.is_ok() && got == payload, "{} bytes, {r:?}", got.len());
        assert!(t.elapsed() >= Duration::from_millis(450), "100 kB at 200 kB/s took {:?}", t.elapsed());
    }
}
