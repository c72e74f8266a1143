//! Command/response exchange with T=0 handling done here (pcsc-lite leaves it
//! to the application): 61xx/9Fxx → GET RESPONSE, 6Cxx (and 2G 67xx) → the
//! same command again with the right Le, 91xx → success with a proactive
//! command waiting.

use super::error::SimError;

/// The raw link to a card (a PC/SC card handle, or a fake in unit tests).
pub trait Transport {
    /// Sends one APDU; returns response data + SW1 SW2.
    fn transmit(&mut self, apdu: &[u8], during: &str) -> Result<Vec<u8>, SimError>;
    /// The reader's name, for error messages.
    fn reader(&self) -> &str;
}

/// The command set in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// TS 51.011: CLA A0, 9Fxx, 98xx status words.
    Gsm,
    /// TS 102 221 / 31.102: CLA 00 (80 for CAT), FCP, 61xx/6Cxx.
    Uicc,
}

impl Dialect {
    pub fn cla(self) -> u8 {
        match self {
            Dialect::Gsm => 0xA0,
            Dialect::Uicc => 0x00,
        }
    }

    /// The class of CAT commands (TERMINAL PROFILE, STATUS, FETCH, ...).
    pub fn cat_cla(self) -> u8 {
        match self {
            Dialect::Gsm => 0xA0,
            Dialect::Uicc => 0x80,
        }
    }
}

/// A complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub data: Vec<u8>,
    pub sw: u16,
}

impl Response {
    pub fn ok(&self) -> bool {
        self.sw == 0x9000 || self.sw >> 8 == 0x91
    }

    /// Length of the proactive command waiting, when SW is 91xx.
    pub fn proactive_len(&self) -> Option<u8> {
        (self.sw >> 8 == 0x91).then_some((self.sw & 0xFF) as u8)
    }
}

/// A transport with a dialect.
pub struct Channel<'a> {
    pub io: &'a mut dyn Transport,
    pub dialect: Dialect,
    /// Set when the last response said a proactive command is waiting.
    pub proactive: Option<u8>,
}

impl std::fmt::Debug for Channel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel").field("reader", &self.io.reader()).field("dialect", &self.dialect).finish()
    }
}

impl<'a> Channel<'a> {
    pub fn new(io: &'a mut dyn Transport, dialect: Dialect) -> Channel<'a> {
        Channel { io, dialect, proactive: None }
    }

    pub fn reader(&self) -> String {
        self.io.reader().to_string()
    }

    /// Sends `apdu`, following GET RESPONSE and wrong-Le answers (a few
    /// rounds at most).
    pub fn command(&mut self, apdu: &[u8], what: &str) -> Result<Response, SimError> {
        let mut apdu = apdu.to_vec();
        for _ in 0..4 {
            let raw = self.io.transmit(&apdu, what)?;
            let (data, sw) = split(&raw, self.io.reader(), what)?;
            let (sw1, sw2) = ((sw >> 8) as u8, sw as u8);
            match (self.dialect, sw1) {
                (_, 0x61) | (Dialect::Gsm, 0x9F) => apdu = vec![self.dialect.cla(), 0xC0, 0, 0, sw2],
                (_, 0x6C) | (Dialect::Gsm, 0x67) if sw2 != 0 && apdu.len() >= 5 => {
                    let last = apdu.len() - 1;
                    apdu[last] = sw2;
                }
                _ => {
                    let r = Response { data, sw };
                    self.proactive = r.proactive_len();
                    return Ok(r);
                }
            }
        }
        Err(SimError::Status {
            reader: self.reader(),
            command: format!("{what} (too many GET RESPONSE rounds)"),
            sw: 0,
        })
    }

    /// A CAT command (`ins` = 10 TERMINAL PROFILE, 14 TERMINAL RESPONSE,
    /// C2 ENVELOPE) with `data`; an unsuccessful SW is an error.
    pub fn cat_command(&mut self, ins: u8, data: &[u8], what: &str) -> Result<Vec<u8>, SimError> {
        let mut apdu = vec![self.dialect.cat_cla(), ins, 0, 0, data.len() as u8];
        apdu.extend_from_slice(data);
        self.command_ok(&apdu, what)
    }

    /// Like `command`, but an unsuccessful SW is an error.
    pub fn command_ok(&mut self, apdu: &[u8], what: &str) -> Result<Vec<u8>, SimError> {
        let r = self.command(apdu, what)?;
        if !r.ok() {
            return Err(SimError::Status { reader: self.reader(), command: what.to_string(), sw: r.sw });
        }
        Ok(r.data)
    }
}

fn split(raw: &[u8], reader: &str, what: &str) -> Result<(Vec<u8>, u16), SimError> {
    match raw {
        [data @ .., sw1, sw2] => Ok((data.to_vec(), u16::from_be_bytes([*sw1, *sw2]))),
        _ => Err(SimError::Malformed {
            reader: reader.to_string(),
            file: what.to_string(),
            reason: "response shorter than a status word".into(),
        }),
    }
}
