//! Selecting and reading files in either dialect: detection of the card
//! generation, SELECT by path (2G: FID by FID; 3G: by path from the MF or in
//! the USIM ADF by AID), READ BINARY and READ RECORD.

use super::apdu::{Channel, Dialect};
use super::error::SimError;

/// The USIM AID prefix (RID A000000087, application code 1002).
pub const USIM_AID: [u8; 7] = [0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x02];

/// What a SELECT told about an EF.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EfInfo {
    pub size: usize,
    pub record_len: usize,
}

/// Where a file lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location<'p> {
    /// FIDs below the MF (the MF itself not included).
    Path(&'p [u16]),
    /// The GSM DF (2G) or the USIM ADF (3G), then this EF.
    Telecom { gsm_df: u16, ef: u16 },
}

/// Tells a UICC from a 2G SIM: a UICC accepts SELECT MF with CLA 00.
pub fn detect(ch: &mut Channel<'_>) -> Result<Dialect, SimError> {
    ch.dialect = Dialect::Uicc;
    let r = ch.command(&[0x00, 0xA4, 0x00, 0x04, 0x02, 0x3F, 0x00], "SELECT MF (3G)")?;
    if r.ok() {
        return Ok(Dialect::Uicc);
    }
    ch.dialect = Dialect::Gsm;
    let g = ch.command(&[0xA0, 0xA4, 0x00, 0x00, 0x02, 0x3F, 0x00], "SELECT MF (2G)")?;
    if g.ok() {
        return Ok(Dialect::Gsm);
    }
    Err(SimError::UnknownCard { reader: ch.reader(), sw: r.sw })
}

fn fid_name(loc: Location<'_>) -> String {
    match loc {
        Location::Path(p) => p.iter().fold("3F00".to_string(), |s, f| format!("{s}/{f:04X}")),
        Location::Telecom { gsm_df, ef } => format!("{gsm_df:04X}|ADF.USIM/{ef:04X}"),
    }
}

/// Maps "not found" and "security" status words to typed errors.
fn classify(ch: &Channel<'_>, file: &str, sw: u16) -> SimError {
    let reader = ch.reader();
    let file = file.to_string();
    match sw {
        0x9404 | 0x6A82 | 0x6A88 => SimError::NotFound { reader, file },
        0x9804 | 0x6982 => SimError::PinNeeded { reader, file },
        _ => SimError::Status { reader, command: format!("SELECT/READ {file}"), sw },
    }
}

fn select_fid(ch: &mut Channel<'_>, fid: u16, p2: u8, file: &str) -> Result<Vec<u8>, SimError> {
    let [hi, lo] = fid.to_be_bytes();
    let apdu = [ch.dialect.cla(), 0xA4, 0x00, p2, 0x02, hi, lo];
    let r = ch.command(&apdu, &format!("SELECT {file}"))?;
    if !r.ok() {
        return Err(classify(ch, file, r.sw));
    }
    Ok(r.data)
}

/// Selects an EF and returns its size (and record length).
pub fn select(ch: &mut Channel<'_>, loc: Location<'_>) -> Result<EfInfo, SimError> {
    let file = fid_name(loc);
    match (ch.dialect, loc) {
        (Dialect::Gsm, Location::Path(path)) => {
            let mut last = select_fid(ch, 0x3F00, 0x00, &file)?;
            for &fid in path {
                last = select_fid(ch, fid, 0x00, &file)?;
            }
            Ok(gsm_info(&last))
        }
        (Dialect::Gsm, Location::Telecom { gsm_df, ef }) => select(ch, Location::Path(&[gsm_df, ef])),
        (Dialect::Uicc, Location::Path(path)) => {
            let mut apdu = vec![0x00, 0xA4, 0x08, 0x04, (path.len() * 2) as u8];
            apdu.extend(path.iter().flat_map(|f| f.to_be_bytes()));
            let r = ch.command(&apdu, &format!("SELECT {file}"))?;
            if !r.ok() {
                return Err(classify(ch, &file, r.sw));
            }
            Ok(fcp_info(&r.data))
        }
        (Dialect::Uicc, Location::Telecom { ef, .. }) => {
            let mut apdu = vec![0x00, 0xA4, 0x04, 0x0C, USIM_AID.len() as u8];
            apdu.extend(USIM_AID);
            let r = ch.command(&apdu, "SELECT ADF.USIM")?;
            if !r.ok() {
                return Err(classify(ch, "ADF.USIM", r.sw));
            }
            Ok(fcp_info(&select_fid(ch, ef, 0x04, &file)?))
        }
    }
}

/// TS 51.011 9.2.1: bytes 2-3 file size, byte 14 record length.
fn gsm_info(resp: &[u8]) -> EfInfo {
    let size = resp.get(2..4).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]) as usize);
    EfInfo { size, record_len: resp.get(14).copied().unwrap_or(0) as usize }
}

/// TS 102 221 11.1.1.3: tag 80 file size, tag 82 descriptor (record length
/// in bytes 3-4 for record files).
pub fn fcp_info(fcp: &[u8]) -> EfInfo {
    let mut info = EfInfo::default();
    let body = fcp.get(2..).unwrap_or(&[]);
    let mut i = 0;
    while i + 2 <= body.len() {
        let (tag, len) = (body[i], body[i + 1] as usize);
        let v = body.get(i + 2..i + 2 + len).unwrap_or(&[]);
        match (tag, v) {
            (0x80, [a, b, ..]) => info.size = u16::from_be_bytes([*a, *b]) as usize,
            (0x82, [_, _, a, b, ..]) => info.record_len = u16::from_be_bytes([*a, *b]) as usize,
            _ => {}
        }
        i += 2 + len;
    }
    info
}

/// Reads `len` bytes of the selected transparent EF (len 0 = let the card
/// say, via 6Cxx).
pub fn read_binary(ch: &mut Channel<'_>, len: usize, file: &str) -> Result<Vec<u8>, SimError> {
    let mut out = Vec::new();
    loop {
        let chunk = (len - out.len()).min(255);
        let [hi, lo] = (out.len() as u16).to_be_bytes();
        let r = ch.command(&[ch.dialect.cla(), 0xB0, hi, lo, chunk as u8], &format!("READ BINARY {file}"))?;
        if !r.ok() {
            return Err(classify(ch, file, r.sw));
        }
        out.extend(r.data);
        if len == 0 || out.len() >= len || chunk == 0 {
            return Ok(out);
        }
    }
}

/// Reads record `n` (from 1) of the selected linear fixed EF.
pub fn read_record(ch: &mut Channel<'_>, n: u8, len: usize, file: &str) -> Result<Vec<u8>, SimError> {
    let r = ch.command(&[ch.dialect.cla(), 0xB2, n, 0x04, len as u8], &format!("READ RECORD {file}"))?;
    if !r.ok() {
        return Err(classify(ch, file, r.sw));
    }
    Ok(r.data)
}

/// Selects and reads a whole transparent EF.
pub fn read_file(ch: &mut Channel<'_>, loc: Location<'_>) -> Result<Vec<u8>, SimError> {
    let info = select(ch, loc)?;
    read_binary(ch, info.size, &fid_name(loc))
}
