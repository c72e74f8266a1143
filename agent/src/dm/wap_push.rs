//! Package #0 over WAP push on UDP (connectionless WSP, port 2948 by
//! convention): decoding the WSP Push PDU and a listener thread that hands
//! every DM notification to a callback (which calls
//! [`crate::dm::client::DmClient::notify`]). Off unless configured.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::dm::notification::MIME;

/// WSP PDU type of Push.
const PDU_PUSH: u8 = 0x06;
/// WSP well-known content type code of `application/vnd.syncml.notification`.
const CT_SYNCML_NOTIFICATION: u8 = 0x44;

/// Errors decoding a WSP push datagram.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WapPushError {
    #[error("datagram of {0} bytes is too short for a WSP push")]
    TooShort(usize),
    #[error("WSP PDU type 0x{0:02x} is not Push")]
    NotPush(u8),
    #[error("WSP headers run past the end of the datagram")]
    Truncated,
}

/// A decoded push: its content type and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Push {
    pub fn is_dm_notification(&self) -> bool {
        self.content_type.eq_ignore_ascii_case(MIME)
    }
}

/// Decodes a connectionless WSP Push PDU: TID, type, headers length
/// (uintvar), content type + headers, body.
pub fn parse(d: &[u8]) -> Result<Push, WapPushError> {
    if d.len() < 3 {
        return Err(WapPushError::TooShort(d.len()));
    }
    if d[1] != PDU_PUSH {
        return Err(WapPushError::NotPush(d[1]));
    }
    let (hlen, n) = uintvar(&d[2..]).ok_or(WapPushError::Truncated)?;
    let start = 2 + n;
    let end = start.checked_add(hlen).filter(|e| *e <= d.len()).ok_or(WapPushError::Truncated)?;
    let headers = &d[start..end];
    Ok(Push { content_type: content_type(headers).unwrap_or_default(), body: d[end..].to_vec() })
}

fn uintvar(b: &[u8]) -> Option<(usize, usize)> {
    let mut v: usize = 0;
    for (i, byte) in b.iter().take(5).enumerate() {
        v = (v << 7) | usize::from(byte & 0x7F);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// The content type at the start of the headers: a short integer, a text
/// string, or the general form (value length, then one of those).
fn content_type(h: &[u8]) -> Option<String> {
    let first = *h.first()?;
    match first {
        0x80..=0xFF => Some(well_known(first & 0x7F)),
        0x00..=0x1E => content_type(h.get(1..)?),
        0x1F => {
            let (_, n) = uintvar(h.get(1..)?)?;
            content_type(h.get(1 + n..)?)
        }
        _ => {
            let end = h.iter().position(|b| *b == 0).unwrap_or(h.len());
            Some(String::from_utf8_lossy(&h[..end]).into_owned())
        }
    }
}

fn well_known(code: u8) -> String {
    match code {
        CT_SYNCML_NOTIFICATION => MIME.to_string(),
        other => format!("wsp-content-type-0x{other:02x}"),
    }
}

/// A running listener; stopped by [`UdpListener::stop`] or on drop.
#[derive(Debug)]
pub struct UdpListener {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl UdpListener {
    /// Binds `addr` and calls `on_notification` with each package #0.
    pub fn start(addr: SocketAddr, on_notification: impl Fn(Vec<u8>) + Send + 'static) -> std::io::Result<UdpListener> {
        let sock = UdpSocket::bind(addr)?;
        sock.set_read_timeout(Some(Duration::from_millis(200)))?;
        let addr = sock.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 2048];
            while !stop2.load(Ordering::SeqCst) {
                let Ok((n, _)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                if let Ok(p) = parse(&buf[..n]) {
                    if p.is_dm_notification() {
                        on_notification(p.body);
                    }
                }
            }
        });
        Ok(UdpListener { addr, stop, thread: Some(thread) })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for UdpListener {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn push(ct: &[u8], body: &[u8]) -> Vec<u8> {
        let mut d = vec![0x01, PDU_PUSH, ct.len() as u8];
        d.extend_from_slice(ct);
        d.extend_from_slice(body);
        d
    }

    #[test]
    fn decodes_short_text_and_general_content_types() {
        let p = parse(&push(&[0xC4], b"pkg0")).unwrap();
        assert!(p.is_dm_notification());
        assert_eq!(p.body, b"pkg0");
        let p = parse(&push(b"application/vnd.syncml.notification\0", b"x")).unwrap();
        assert!(p.is_dm_notification());
        let p = parse(&push(&[0x02, 0xC4, 0x81], b"y")).unwrap();
        assert!(p.is_dm_notification());
        assert!(!parse(&push(&[0xAE], b"z")).unwrap().is_dm_notification());
    }

    #[test]
    fn refuses_other_pdus_and_truncation() {
        assert_eq!(parse(&[1, 0x07, 0]), Err(WapPushError::NotPush(7)));
        assert_eq!(parse(&[1, 0x06, 9, 0xC4]), Err(WapPushError::Truncated));
        assert_eq!(parse(&[1]), Err(WapPushError::TooShort(1)));
    }

    #[test]
    fn the_listener_hands_over_notifications_only() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut l = UdpListener::start("127.0.0.1:0".parse().unwrap(), move |b| tx.send(b).unwrap()).unwrap();
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.send_to(&push(&[0xAE], b"not dm"), l.local_addr()).unwrap();
        s.send_to(&push(&[0xC4], b"package0"), l.local_addr()).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), b"package0");
        l.stop();
        assert!(rx.try_recv().is_err());
    }
}
