//! Bootloader backends behind one small trait. Every backend maps its native
//! variables to the same [`BootState`] (primary slot + the state of each slot) and
//! back. Edits happen in memory on a [`Bootloader`] and reach the bootloader only
//! through an explicit [`Bootloader::write`], which each backend does crash-safely.
//!
//! Selection rule shared by the shipped boot scripts and the [`sim`]ulator: try the
//! primary slot, then the other; a `Good` slot boots without spending a try, a slot
//! in `Trial` with tries left spends one and boots, anything else is skipped.

pub mod file;
pub mod gpt;
pub mod grub;
pub mod sim;
pub mod uboot;
pub mod uboot_env;
mod vars;

use std::fmt;
use std::path::PathBuf;

use crate::slot::Slot;

/// CRC-32 (IEEE, as zlib), used by the U-Boot environment and the GPT.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
    CRC32.checksum(data)
}

/// Largest number of boot tries a slot in trial can get (one decimal digit, so the
/// GRUB script can count down without arithmetic and U-Boot's hex `setexpr` agrees).
pub const MAX_TRIES: u8 = 9;

/// What the bootloader thinks of one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum SlotState {
    /// Confirmed: boots without spending tries.
    Good,
    /// Not bootable (being written, failed, or marked bad).
    Bad,
    /// Being tried: boots while `tries_left > 0`, each boot spends one.
    Trial { tries_left: u8 },
}

impl SlotState {
    /// The boot scripts would boot this slot.
    pub fn bootable(self) -> bool {
        match self {
            SlotState::Good => true,
            SlotState::Bad => false,
            SlotState::Trial { tries_left } => tries_left > 0,
        }
    }
}

impl fmt::Display for SlotState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SlotState::Good => f.write_str("good"),
            SlotState::Bad => f.write_str("bad"),
            SlotState::Trial { tries_left } => write!(f, "trial ({tries_left} tries left)"),
        }
    }
}

/// The whole boot state: which slot is tried first and what each slot is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BootState {
    pub primary: Option<Slot>,
    pub a: SlotState,
    pub b: SlotState,
}

impl BootState {
    /// The state of a device as it leaves the factory, and what the boot scripts
    /// assume when the environment has no slot order: A primary and good, B bad.
    pub const FACTORY: BootState = BootState { primary: Some(Slot::A), a: SlotState::Good, b: SlotState::Bad };

    /// The state of `slot`.
    pub fn get(&self, slot: Slot) -> SlotState {
        match slot {
            Slot::A => self.a,
            Slot::B => self.b,
        }
    }

    /// Sets the state of `slot` (in memory).
    pub fn set(&mut self, slot: Slot, state: SlotState) {
        match slot {
            Slot::A => self.a = state,
            Slot::B => self.b = state,
        }
    }

    /// The order the boot scripts try the slots in: the primary first.
    pub fn order(&self) -> [Slot; 2] {
        let first = self.primary.unwrap_or(Slot::A);
        [first, !first]
    }
}

/// A bootloader backend could not read or write its state.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("cannot access the bootloader state in {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("bootloader state in {path} is invalid: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("{tries} boot tries asked for; give between 1 and {MAX_TRIES}")]
    Tries { tries: u8 },
    #[error("power cut simulated at bootloader write {0}")]
    SimulatedPowerCut(usize),
}

impl BootError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> BootError {
        let path = path.into();
        move |source| BootError::Io { path, source }
    }

    pub(crate) fn format(path: impl Into<PathBuf>, reason: impl Into<String>) -> BootError {
        BootError::Format { path: path.into(), reason: reason.into() }
    }
}

/// One bootloader's storage: reads and writes the native format.
pub trait Backend: fmt::Debug + Send {
    /// A short name for messages and `status`: `grub`, `uboot`, `gpt`, `file`, `sim`.
    fn name(&self) -> &'static str;
    /// Reads the native state and maps it to a [`BootState`].
    fn read(&self) -> Result<BootState, BootError>;
    /// Writes `state` natively, crash-safely: after a power cut the bootloader sees
    /// either the old or the new state.
    fn write(&self, state: &BootState) -> Result<(), BootError>;
}

/// A bootloader's state loaded in memory, edited with the setters and persisted
/// by [`Bootloader::write`].
#[derive(Debug)]
pub struct Bootloader {
    backend: Box<dyn Backend>,
    state: BootState,
}

impl Bootloader {
    /// Loads the current state from `backend`.
    pub fn open(backend: Box<dyn Backend>) -> Result<Bootloader, BootError> {
        let state = backend.read()?;
        Ok(Bootloader { backend, state })
    }

    /// Reads the state from the bootloader again, dropping unwritten edits
    /// (another process may have written it since).
    pub fn reload(&mut self) -> Result<(), BootError> {
        self.state = self.backend.read()?;
        Ok(())
    }

    /// The backend's name.
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// The state in memory (including unwritten edits).
    pub fn state(&self) -> BootState {
        self.state
    }

    /// The slot tried first.
    pub fn primary(&self) -> Option<Slot> {
        self.state.primary
    }

    /// The state of `slot`.
    pub fn slot_state(&self, slot: Slot) -> SlotState {
        self.state.get(slot)
    }

    /// Makes `slot` tried first (in memory).
    pub fn set_primary(&mut self, slot: Slot) {
        self.state.primary = Some(slot);
    }

    /// Sets the state of `slot` (in memory).
    pub fn set_slot_state(&mut self, slot: Slot, state: SlotState) -> Result<(), BootError> {
        if let SlotState::Trial { tries_left } = state {
            if tries_left > MAX_TRIES {
                return Err(BootError::Tries { tries: tries_left });
            }
        }
        self.state.set(slot, state);
        Ok(())
    }

    /// Writes the state in memory to the bootloader.
    pub fn write(&mut self) -> Result<(), BootError> {
        self.backend.write(&self.state)
    }
}
