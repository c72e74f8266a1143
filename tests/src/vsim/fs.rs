//! The virtual SIM's file system: MF, DFs, the USIM ADF and elementary files
//! (transparent or linear fixed), with a "needs PIN" flag per file.

/// The USIM application identifier (RID + application code, TS 101 220).
pub const USIM_AID: [u8; 7] = [0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x02];

/// What a node of the tree is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    Mf,
    Df,
    /// An application DF selected by AID (and by FID 7FFF once active).
    Adf(Vec<u8>),
    Transparent(Vec<u8>),
    /// Linear fixed: all records have the same length.
    Records(Vec<Vec<u8>>),
}

/// One file.
#[derive(Debug, Clone)]
pub struct Node {
    pub fid: u16,
    pub parent: usize,
    pub kind: NodeKind,
    /// Reading needs a verified PIN (when the PIN is enabled).
    pub needs_pin: bool,
}

impl Node {
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, NodeKind::Mf | NodeKind::Df | NodeKind::Adf(_))
    }

    /// Size in bytes of an EF (all records for a record file).
    pub fn size(&self) -> usize {
        match &self.kind {
            NodeKind::Transparent(d) => d.len(),
            NodeKind::Records(r) => r.iter().map(Vec::len).sum(),
            _ => 0,
        }
    }

    pub fn record_len(&self) -> usize {
        match &self.kind {
            NodeKind::Records(r) => r.first().map_or(0, Vec::len),
            _ => 0,
        }
    }
}

/// The tree; node 0 is the MF.
#[derive(Debug, Clone)]
pub struct FileSystem {
    pub nodes: Vec<Node>,
}

impl Default for FileSystem {
    fn default() -> Self {
        FileSystem { nodes: vec![Node { fid: 0x3F00, parent: 0, kind: NodeKind::Mf, needs_pin: false }] }
    }
}

impl FileSystem {
    /// Adds a node under `parent`; returns its index.
    pub fn add(&mut self, parent: usize, fid: u16, kind: NodeKind, needs_pin: bool) -> usize {
        self.nodes.push(Node { fid, parent, kind, needs_pin });
        self.nodes.len() - 1
    }

    /// The child of `dir` with `fid`.
    pub fn child(&self, dir: usize, fid: u16) -> Option<usize> {
        (1..self.nodes.len()).find(|&i| self.nodes[i].parent == dir && self.nodes[i].fid == fid)
    }

    /// The ADF whose AID starts with `aid`.
    pub fn adf(&self, aid: &[u8]) -> Option<usize> {
        self.nodes.iter().position(|n| matches!(&n.kind, NodeKind::Adf(a) if a.starts_with(aid) && !aid.is_empty()))
    }

    /// Selection by FID relative to the current DF (TS 51.011 / 102 221
    /// rules, simplified): a child, the current DF itself, its parent, a
    /// sibling DF, the MF.
    pub fn select_fid(&self, current_df: usize, fid: u16) -> Option<usize> {
        if fid == 0x3F00 {
            return Some(0);
        }
        if self.nodes[current_df].fid == fid {
            return Some(current_df);
        }
        let parent = self.nodes[current_df].parent;
        if let Some(c) = self.child(current_df, fid) {
            return Some(c);
        }
        if self.nodes[parent].fid == fid {
            return Some(parent);
        }
        self.child(parent, fid).filter(|&i| self.nodes[i].is_dir())
    }

    /// Selection by path (FIDs after the start DF).
    pub fn select_path(&self, start: usize, path: &[u16]) -> Option<usize> {
        path.iter().try_fold(start, |dir, &fid| self.child(dir, fid))
    }
}

/// Encodes digits as swapped BCD padded with F (ICCID, dialling numbers).
pub fn swapped_bcd(digits: &str, len: usize) -> Vec<u8> {
    let nibbles: Vec<u8> = digits.bytes().map(|b| b.wrapping_sub(b'0') & 0x0F).collect();
    let mut out = vec![0xFF; len];
    for (i, pair) in nibbles.chunks(2).enumerate().take(len) {
        let lo = pair[0];
        let hi = pair.get(1).copied().unwrap_or(0x0F);
        out[i] = (hi << 4) | lo;
    }
    out
}

/// EF_IMSI content (TS 31.102 4.2.2): length, then parity nibble + digits.
pub fn imsi_bytes(imsi: &str) -> Vec<u8> {
    let parity = if imsi.len() % 2 == 1 { 9 } else { 1 };
    let digits = format!("{}{}", char::from(b'0' + parity), imsi);
    let body = swapped_bcd(&digits, 8);
    let len = digits.len().div_ceil(2) as u8;
    let mut out = vec![len];
    out.extend(body);
    out
}

/// One EF_MSISDN record: 4-byte alpha id, BCD length, TON/NPI, 10 bytes of
/// number, CCP, extension.
pub fn msisdn_record(number: &str) -> Vec<u8> {
    let (ton, digits) = match number.strip_prefix('+') {
        Some(d) => (0x91, d),
        None => (0x81, number),
    };
    let mut rec = vec![0xFF; 4];
    rec.push(digits.len().div_ceil(2) as u8 + 1);
    rec.push(ton);
    rec.extend(swapped_bcd(digits, 10));
    rec.extend([0xFF, 0xFF]);
    rec
}
