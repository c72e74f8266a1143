//! A virtual SIM for the vsmartcard `vpcd` reader driver of pcscd.
//!
//! The card connects to vpcd over TCP (the reader's port); each message is a
//! 2-byte big-endian length and a payload: one byte is a control (0 power
//! off, 1 power on, 2 reset, 4 send the ATR), more is a command APDU answered
//! with response data + status word. Closing the connection = removing the
//! card. Tests script it: the card profile (2G or USIM, identity, PIN,
//! operator file), proactive commands to raise, and when to vanish.

mod card;
mod fs;
mod profile;

pub use card::CatLog;
pub use fs::{imsi_bytes, msisdn_record, swapped_bcd, USIM_AID};
pub use profile::{CardKind, CardProfile, OperatorFile};

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use card::Card;

/// The ATR: direct convention, T=0 only, two historical bytes.
pub const ATR: [u8; 4] = [0x3B, 0x02, 0x14, 0x50];

#[derive(Debug)]
struct Shared {
    card: Card,
    /// Vanish (close the connection) instead of answering a SELECT of this FID.
    vanish_on_select: Option<u16>,
    apdus: usize,
}

/// A card inserted in a vpcd reader; removed when dropped.
#[derive(Debug)]
pub struct Vsim {
    shared: Arc<Mutex<Shared>>,
    stream: TcpStream,
    thread: Option<JoinHandle<()>>,
}

impl Vsim {
    /// Inserts a card with `profile` into the vpcd reader listening on
    /// `port` of 127.0.0.1, retrying the connection for up to `wait`.
    pub fn insert(port: u16, profile: &CardProfile, wait: Duration) -> io::Result<Vsim> {
        let deadline = Instant::now() + wait;
        let stream = loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(s) => break s,
                Err(e) if Instant::now() >= deadline => {
                    return Err(io::Error::new(e.kind(), format!("vpcd on port {port}: {e}; is pcscd running?")))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        let shared = Arc::new(Mutex::new(Shared { card: Card::new(profile), vanish_on_select: None, apdus: 0 }));
        let (s, r) = (shared.clone(), stream.try_clone()?);
        let thread = std::thread::spawn(move || serve(r, &s));
        Ok(Vsim { shared, stream, thread: Some(thread) })
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a proactive command (`D0 ...`); the next 9000 becomes 91xx.
    pub fn inject_proactive(&self, command: Vec<u8>) {
        self.lock().card.proactive.push(command);
    }

    /// The CAT commands the card received so far.
    pub fn cat_log(&self) -> CatLog {
        self.lock().card.cat.clone()
    }

    /// PIN tries left.
    pub fn pin_tries(&self) -> u8 {
        self.lock().card.pin_tries()
    }

    /// APDUs answered so far.
    pub fn apdu_count(&self) -> usize {
        self.lock().apdus
    }

    /// The card disappears when it is next asked to SELECT `fid`.
    pub fn vanish_on_select(&self, fid: u16) {
        self.lock().vanish_on_select = Some(fid);
    }

    /// Whether the card is still connected to the reader.
    pub fn is_inserted(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Removes the card (closes the connection) and waits for its thread.
    pub fn remove(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Vsim {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Serves vpcd until the connection closes or the card vanishes.
fn serve(mut stream: TcpStream, shared: &Mutex<Shared>) {
    while let Ok(msg) = read_msg(&mut stream) {
        let reply = {
            let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
            match msg.as_slice() {
                [0] | [1] | [2] => {
                    s.card.reset();
                    None
                }
                [4] => Some(ATR.to_vec()),
                [_] => None,
                apdu if vanishes(&s, apdu) => break,
                apdu => {
                    s.apdus += 1;
                    Some(s.card.process(apdu))
                }
            }
        };
        if let Some(r) = reply {
            if write_msg(&mut stream, &r).is_err() {
                break;
            }
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

fn vanishes(s: &Shared, apdu: &[u8]) -> bool {
    let fid = apdu.get(5..7).map(|b| u16::from_be_bytes([b[0], b[1]]));
    apdu.get(1) == Some(&0xA4) && s.vanish_on_select.is_some() && fid == s.vanish_on_select
}

fn read_msg(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len)?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut buf)?;
    Ok(buf)
}

fn write_msg(stream: &mut TcpStream, payload: &[u8]) -> io::Result<()> {
    let mut msg = (payload.len() as u16).to_be_bytes().to_vec();
    msg.extend_from_slice(payload);
    stream.write_all(&msg)
}
