//! A connected card: the PC/SC transport (released without reset, so the
//! verified PIN survives), and reading everything we want from it.

use std::ffi::CString;

use super::apdu::{Channel, Dialect, Transport};
use super::decode;
use super::error::SimError;
use super::files::{self, Location};
use super::gate::GateState;
use super::pin::PinState;

/// DF_GSM, where 2G (and many 3G) cards keep EF_IMSI.
pub const DF_GSM: u16 = 0x7F20;
/// DF_TELECOM, where 2G cards keep EF_MSISDN.
pub const DF_TELECOM: u16 = 0x7F10;
pub const EF_ICCID: u16 = 0x2FE2;
pub const EF_IMSI: u16 = 0x6F07;
pub const EF_MSISDN: u16 = 0x6F40;

/// A PC/SC card handle.
pub struct PcscCard {
    card: Option<pcsc::Card>,
    reader: String,
    buf: Vec<u8>,
}

impl std::fmt::Debug for PcscCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscCard").field("reader", &self.reader).finish()
    }
}

fn is_removal(e: pcsc::Error) -> bool {
    matches!(
        e,
        pcsc::Error::RemovedCard
            | pcsc::Error::ResetCard
            | pcsc::Error::NoSmartcard
            | pcsc::Error::ReaderUnavailable
            | pcsc::Error::UnpoweredCard
            | pcsc::Error::UnresponsiveCard
            | pcsc::Error::CommError
            | pcsc::Error::NotTransacted
    )
}

impl PcscCard {
    /// Connects (shared, T=0 or T=1).
    pub fn connect(ctx: &pcsc::Context, reader: &str) -> Result<PcscCard, SimError> {
        let name = CString::new(reader).map_err(|_| SimError::NoCard(format!("bad reader name {reader:?}")))?;
        let card =
            ctx.connect(&name, pcsc::ShareMode::Shared, pcsc::Protocols::ANY).map_err(|source| match source {
                e if is_removal(e) => SimError::Removed { reader: reader.into(), during: "connect".into() },
                source => SimError::Pcsc { reader: reader.into(), op: "SCardConnect", source },
            })?;
        Ok(PcscCard { card: Some(card), reader: reader.to_string(), buf: vec![0; pcsc::MAX_BUFFER_SIZE_EXTENDED] })
    }

    /// Releases the card without resetting it (a dropped `pcsc::Card`
    /// resets the card and the verified PIN is lost).
    pub fn release(mut self) {
        if let Some(c) = self.card.take() {
            let _ = c.disconnect(pcsc::Disposition::LeaveCard);
        }
    }
}

impl Drop for PcscCard {
    fn drop(&mut self) {
        if let Some(c) = self.card.take() {
            let _ = c.disconnect(pcsc::Disposition::LeaveCard);
        }
    }
}

impl Transport for PcscCard {
    fn transmit(&mut self, apdu: &[u8], during: &str) -> Result<Vec<u8>, SimError> {
        let removed = || SimError::Removed { reader: self.reader.clone(), during: during.to_string() };
        let card = self.card.as_ref().ok_or_else(removed)?;
        match card.transmit(apdu, &mut self.buf) {
            Ok(r) => Ok(r.to_vec()),
            Err(e) if is_removal(e) => Err(removed()),
            Err(source) => Err(SimError::Pcsc { reader: self.reader.clone(), op: "SCardTransmit", source }),
        }
    }

    fn reader(&self) -> &str {
        &self.reader
    }
}

/// What we read from a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardInfo {
    pub dialect: Dialect,
    pub iccid: String,
    pub imsi: Option<String>,
    pub msisdn: Option<String>,
    pub gate: GateState,
}

/// Reads EF_ICCID; on a UICC with Le=0 so the card states the length (6Cxx).
pub fn read_iccid(ch: &mut Channel<'_>) -> Result<String, SimError> {
    let info = files::select(ch, Location::Path(&[EF_ICCID]))?;
    let len = if ch.dialect == Dialect::Uicc { 0 } else { info.size };
    let raw = files::read_binary(ch, len, "EF_ICCID")?;
    decode::iccid(&raw).ok_or_else(|| SimError::Malformed {
        reader: ch.reader(),
        file: "EF_ICCID".into(),
        reason: "no BCD digits".into(),
    })
}

/// Keeps only removals as errors: other failures make the value unknown.
fn optional<T>(r: Result<Option<T>, SimError>) -> Result<Option<T>, SimError> {
    match r {
        Err(e @ SimError::Removed { .. }) => Err(e),
        Err(_) => Ok(None),
        Ok(v) => Ok(v),
    }
}

fn read_imsi(ch: &mut Channel<'_>) -> Result<Option<String>, SimError> {
    let raw = files::read_file(ch, Location::Telecom { gsm_df: DF_GSM, ef: EF_IMSI })?;
    Ok(decode::imsi(&raw))
}

fn read_msisdn(ch: &mut Channel<'_>) -> Result<Option<String>, SimError> {
    let loc = match ch.dialect {
        Dialect::Gsm => Location::Path(&[DF_TELECOM, EF_MSISDN]),
        Dialect::Uicc => Location::Telecom { gsm_df: DF_GSM, ef: EF_MSISDN },
    };
    let info = files::select(ch, loc)?;
    let rec = files::read_record(ch, 1, info.record_len, "EF_MSISDN")?;
    Ok(decode::msisdn(&rec))
}

/// EF_FOTA → gate state; a missing file is `NoFile`.
pub fn read_gate(ch: &mut Channel<'_>, ef_fota: &[u16]) -> Result<GateState, SimError> {
    match files::read_file(ch, Location::Path(ef_fota)) {
        Ok(bytes) => Ok(GateState::from_ef_fota(&bytes)),
        Err(SimError::NotFound { .. }) => Ok(GateState::NoFile),
        Err(e @ SimError::Removed { .. }) => Err(e),
        Err(e) => Ok(GateState::Unreadable { reason: e.to_string() }),
    }
}

/// Reads identity and gate; IMSI and MSISDN only when the PIN allows.
pub fn read_all(ch: &mut Channel<'_>, pin: PinState, ef_fota: &[u16]) -> Result<CardInfo, SimError> {
    let iccid = read_iccid(ch)?;
    let open = matches!(pin, PinState::NotRequired | PinState::Verified);
    let imsi = if open { optional(read_imsi(ch))? } else { None };
    let msisdn = if open { optional(read_msisdn(ch))? } else { None };
    let gate = read_gate(ch, ef_fota)?;
    Ok(CardInfo { dialect: ch.dialect, iccid, imsi, msisdn, gate })
}
