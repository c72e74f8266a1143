//! The card's APDU behaviour: SELECT, GET RESPONSE, READ BINARY/RECORD,
//! VERIFY, and the CAT commands, in the 2G or the 3G dialect.

use super::fs::{FileSystem, Node, NodeKind};
use super::profile::{CardKind, CardProfile};

/// Status words of one dialect.
struct Sw {
    ok: [u8; 2],
    not_found: [u8; 2],
    security: [u8; 2],
    blocked: [u8; 2],
    wrong_length: [u8; 2],
    bad_ins: [u8; 2],
}

const SW_2G: Sw = Sw {
    ok: [0x90, 0x00],
    not_found: [0x94, 0x04],
    security: [0x98, 0x04],
    blocked: [0x98, 0x40],
    wrong_length: [0x67, 0x00],
    bad_ins: [0x6D, 0x00],
};

const SW_3G: Sw = Sw {
    ok: [0x90, 0x00],
    not_found: [0x6A, 0x82],
    security: [0x69, 0x82],
    blocked: [0x69, 0x83],
    wrong_length: [0x67, 0x00],
    bad_ins: [0x6D, 0x00],
};

/// What the card saw of the CAT exchange (for test assertions).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatLog {
    pub terminal_profiles: Vec<Vec<u8>>,
    pub terminal_responses: Vec<Vec<u8>>,
    pub envelopes: Vec<Vec<u8>>,
    pub status_count: usize,
}

/// A powered card.
#[derive(Debug)]
pub struct Card {
    kind: CardKind,
    fs: FileSystem,
    current_df: usize,
    current_ef: Option<usize>,
    pin: Option<String>,
    tries: u8,
    max_tries: u8,
    verified: bool,
    /// Data waiting for GET RESPONSE.
    pending: Vec<u8>,
    /// Proactive commands waiting to be fetched.
    pub proactive: Vec<Vec<u8>>,
    pub cat: CatLog,
}

impl Card {
    pub fn new(p: &CardProfile) -> Card {
        Card {
            kind: p.kind,
            fs: p.file_system(),
            current_df: 0,
            current_ef: None,
            pin: p.pin.clone(),
            tries: p.pin_tries,
            max_tries: p.pin_tries,
            verified: false,
            pending: Vec::new(),
            proactive: Vec::new(),
            cat: CatLog::default(),
        }
    }

    /// Power-on/reset: the PIN state and the selection are lost.
    pub fn reset(&mut self) {
        self.current_df = 0;
        self.current_ef = None;
        self.verified = false;
        self.pending.clear();
    }

    pub fn pin_tries(&self) -> u8 {
        self.tries
    }

    fn sw(&self) -> &'static Sw {
        match self.kind {
            CardKind::Sim2g => &SW_2G,
            CardKind::Usim => &SW_3G,
        }
    }

    /// Handles one command APDU; returns response data + SW.
    pub fn process(&mut self, apdu: &[u8]) -> Vec<u8> {
        if apdu.len() < 4 {
            return self.sw().wrong_length.to_vec();
        }
        let (cla, ins) = (apdu[0], apdu[1]);
        let class_ok = match self.kind {
            CardKind::Sim2g => cla == 0xA0,
            CardKind::Usim => cla == 0x00 || cla == 0x80,
        };
        if !class_ok {
            return vec![0x6E, 0x00];
        }
        let body = &apdu[4..];
        let lc_data = body.split_first().map(|(&lc, rest)| &rest[..rest.len().min(lc as usize)]);
        let p3 = body.first().copied();
        let mut out = match (cla, ins) {
            (0xA0 | 0x00, 0xA4) => self.select(apdu[2], apdu[3], lc_data.unwrap_or(&[])),
            (0xA0 | 0x00, 0xC0) => self.get_response(p3.unwrap_or(0)),
            (0xA0 | 0x00, 0xB0) => self.read_binary(u16::from_be_bytes([apdu[2], apdu[3]]), p3.unwrap_or(0)),
            (0xA0 | 0x00, 0xB2) => self.read_record(apdu[2], p3.unwrap_or(0)),
            (0xA0 | 0x00, 0x20) => self.verify(lc_data),
            (0xA0 | 0x80, 0x10) => self.cat_store(lc_data, |c| &mut c.terminal_profiles),
            (0xA0 | 0x80, 0x14) => self.cat_store(lc_data, |c| &mut c.terminal_responses),
            (0xA0 | 0x80, 0xC2) => self.cat_store(lc_data, |c| &mut c.envelopes),
            (0xA0 | 0x80, 0xF2) => {
                self.cat.status_count += 1;
                self.sw().ok.to_vec()
            }
            (0xA0 | 0x80, 0x12) => self.fetch(p3.unwrap_or(0)),
            _ => self.sw().bad_ins.to_vec(),
        };
        self.signal_proactive(&mut out);
        out
    }

    /// A plain 9000 becomes 91xx while a proactive command is waiting.
    fn signal_proactive(&self, out: &mut [u8]) {
        let n = out.len();
        if let Some(cmd) = self.proactive.first() {
            if n >= 2 && out[n - 2..] == [0x90, 0x00] {
                out[n - 2] = 0x91;
                out[n - 1] = cmd.len() as u8;
            }
        }
    }

    fn select(&mut self, p1: u8, p2: u8, data: &[u8]) -> Vec<u8> {
        let fids: Vec<u16> =
            data.chunks(2).filter(|c| c.len() == 2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
        let found = match (self.kind, p1) {
            (CardKind::Usim, 0x04) => self.fs.adf(data),
            (CardKind::Usim, 0x08) => self.fs.select_path(0, &fids),
            (CardKind::Usim, 0x09) => self.fs.select_path(self.current_df, &fids),
            (_, 0x00) if fids.len() == 1 => self.fs.select_fid(self.current_df, fids[0]),
            _ => None,
        };
        let Some(idx) = found else {
            return self.sw().not_found.to_vec();
        };
        if self.fs.nodes[idx].is_dir() {
            self.current_df = idx;
            self.current_ef = None;
        } else {
            self.current_df = self.fs.nodes[idx].parent;
            self.current_ef = Some(idx);
        }
        self.pending = match self.kind {
            CardKind::Sim2g => self.gsm_response(idx),
            CardKind::Usim if p2 & 0x0C == 0x0C => Vec::new(),
            CardKind::Usim => self.fcp(idx),
        };
        match (self.kind, self.pending.len()) {
            (_, 0) => self.sw().ok.to_vec(),
            (CardKind::Sim2g, n) => vec![0x9F, n as u8],
            (CardKind::Usim, n) => vec![0x61, n as u8],
        }
    }

    /// The TS 51.011 9.2.1 response to SELECT.
    fn gsm_response(&self, idx: usize) -> Vec<u8> {
        let n: &Node = &self.fs.nodes[idx];
        let size = (n.size() as u16).to_be_bytes();
        let fid = n.fid.to_be_bytes();
        if n.is_dir() {
            let kind = if idx == 0 { 0x01 } else { 0x02 };
            let pin_disabled = if self.pin.is_none() { 0x80 } else { 0x00 };
            let chv1 = 0x80 | self.tries;
            let mut r = vec![0, 0, 0, 0, fid[0], fid[1], kind, 0, 0, 0, 0, 0, 10, pin_disabled, 0, 0, 0, 0];
            r.extend([chv1, 0x8A, 0x8A, 0x8A]);
            return r;
        }
        let structure = if matches!(n.kind, NodeKind::Records(_)) { 1 } else { 0 };
        vec![
            0,
            0,
            size[0],
            size[1],
            fid[0],
            fid[1],
            0x04,
            0,
            0x11,
            0xF4,
            0x44,
            0x01,
            0x02,
            structure,
            n.record_len() as u8,
        ]
    }

    /// The TS 102 221 11.1.1.3 FCP template (subset).
    fn fcp(&self, idx: usize) -> Vec<u8> {
        let n = &self.fs.nodes[idx];
        let fid = n.fid.to_be_bytes();
        let mut t = match &n.kind {
            NodeKind::Transparent(_) => vec![0x82, 0x02, 0x41, 0x21],
            NodeKind::Records(r) => vec![0x82, 0x05, 0x42, 0x21, 0x00, n.record_len() as u8, r.len() as u8],
            _ => vec![0x82, 0x02, 0x78, 0x21],
        };
        t.extend([0x83, 0x02, fid[0], fid[1]]);
        if let NodeKind::Adf(aid) = &n.kind {
            t.extend([0x84, aid.len() as u8]);
            t.extend(aid);
        }
        if !n.is_dir() {
            let size = (n.size() as u16).to_be_bytes();
            t.extend([0x80, 0x02, size[0], size[1]]);
        }
        t.extend([0x8A, 0x01, 0x05]);
        let mut out = vec![0x62, t.len() as u8];
        out.extend(t);
        out
    }

    fn get_response(&mut self, le: u8) -> Vec<u8> {
        if self.pending.is_empty() {
            return self.sw().wrong_length.to_vec();
        }
        if le as usize != self.pending.len() {
            return match self.kind {
                CardKind::Sim2g => vec![0x67, self.pending.len() as u8],
                CardKind::Usim => vec![0x6C, self.pending.len() as u8],
            };
        }
        let mut out = std::mem::take(&mut self.pending);
        out.extend(self.sw().ok);
        out
    }

    /// The selected EF when it may be read now.
    fn readable_ef(&self) -> Result<&Node, Vec<u8>> {
        let n = self.current_ef.map(|i| &self.fs.nodes[i]).ok_or(self.sw().not_found.to_vec())?;
        if n.needs_pin && self.pin.is_some() && !self.verified {
            return Err(self.sw().security.to_vec());
        }
        Ok(n)
    }

    fn read_binary(&mut self, offset: u16, le: u8) -> Vec<u8> {
        let data = match self.readable_ef() {
            Ok(Node { kind: NodeKind::Transparent(d), .. }) => d,
            Ok(_) => return vec![0x69, 0x81],
            Err(sw) => return sw,
        };
        let rest = data.get(offset as usize..).unwrap_or(&[]);
        if le == 0 || le as usize > rest.len() {
            return match self.kind {
                CardKind::Sim2g => self.sw().wrong_length.to_vec(),
                CardKind::Usim => vec![0x6C, rest.len() as u8],
            };
        }
        let mut out = rest[..le as usize].to_vec();
        out.extend(self.sw().ok);
        out
    }

    fn read_record(&mut self, number: u8, le: u8) -> Vec<u8> {
        let records = match self.readable_ef() {
            Ok(Node { kind: NodeKind::Records(r), .. }) => r,
            Ok(_) => return vec![0x69, 0x81],
            Err(sw) => return sw,
        };
        let Some(rec) = records.get((number as usize).wrapping_sub(1)) else {
            return self.sw().not_found.to_vec();
        };
        if le as usize != rec.len() {
            return match self.kind {
                CardKind::Sim2g => self.sw().wrong_length.to_vec(),
                CardKind::Usim => vec![0x6C, rec.len() as u8],
            };
        }
        let mut out = rec.clone();
        out.extend(self.sw().ok);
        out
    }

    fn verify(&mut self, data: Option<&[u8]>) -> Vec<u8> {
        let Some(expected) = self.pin.clone() else {
            return self.sw().ok.to_vec();
        };
        if self.tries == 0 {
            return self.sw().blocked.to_vec();
        }
        let Some(given) = data.filter(|d| !d.is_empty()) else {
            return if self.verified { self.sw().ok.to_vec() } else { vec![0x63, 0xC0 | self.tries] };
        };
        let digits: Vec<u8> = given.iter().copied().take_while(|&b| b != 0xFF).collect();
        if digits == expected.as_bytes() {
            self.tries = self.max_tries;
            self.verified = true;
            return self.sw().ok.to_vec();
        }
        self.tries -= 1;
        self.verified = false;
        match (self.kind, self.tries) {
            (_, 0) => self.sw().blocked.to_vec(),
            (CardKind::Sim2g, _) => self.sw().security.to_vec(),
            (CardKind::Usim, n) => vec![0x63, 0xC0 | n],
        }
    }

    fn cat_store(&mut self, data: Option<&[u8]>, list: fn(&mut CatLog) -> &mut Vec<Vec<u8>>) -> Vec<u8> {
        list(&mut self.cat).push(data.unwrap_or(&[]).to_vec());
        self.sw().ok.to_vec()
    }

    fn fetch(&mut self, le: u8) -> Vec<u8> {
        match self.proactive.first() {
            Some(cmd) if cmd.len() == le as usize => {
                let mut out = self.proactive.remove(0);
                out.extend(self.sw().ok);
                out
            }
            Some(cmd) => vec![0x67, cmd.len() as u8],
            None => vec![0x69, 0x85],
        }
    }
}
