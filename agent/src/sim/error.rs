//! SIM errors, each naming the reader (and file or command) concerned.

use std::path::PathBuf;

use crate::state_file::StateError;

/// What went wrong talking to the SIM, and on which reader.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("PC/SC {op} failed: {source}; is pcscd running?")]
    Context { op: &'static str, source: pcsc::Error },
    #[error("PC/SC {op} on reader {reader:?} failed: {source}")]
    Pcsc { reader: String, op: &'static str, source: pcsc::Error },
    #[error("the card was removed from reader {reader:?} during {during}; insert it again")]
    Removed { reader: String, during: String },
    #[error("the card in reader {reader:?} answered {sw:04X} to {command}")]
    Status { reader: String, command: String, sw: u16 },
    #[error("file {file} not found on the card in reader {reader:?}")]
    NotFound { reader: String, file: String },
    #[error("file {file} on the card in reader {reader:?} needs the PIN; enter it (fotactl or the PIN file)")]
    PinNeeded { reader: String, file: String },
    #[error("{file} on the card in reader {reader:?} is malformed: {reason}")]
    Malformed { reader: String, file: String, reason: String },
    #[error("the card in reader {reader:?} is neither a 2G SIM nor a UICC (SELECT MF answered {sw:04X})")]
    UnknownCard { reader: String, sw: u16 },
    #[error("wrong PIN for the card in reader {reader:?}: {tries} tries left")]
    WrongPin { reader: String, tries: u32 },
    #[error("the PIN of the card in reader {reader:?} is blocked; unblock it with the PUK in a phone")]
    PinBlocked { reader: String },
    #[error("PIN file {path}: {reason}")]
    PinFile { path: PathBuf, reason: String },
    #[error("no SIM: {0}")]
    NoCard(String),
    #[error(transparent)]
    State(#[from] StateError),
}
