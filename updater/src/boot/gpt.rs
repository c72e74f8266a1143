//! GPT partition attributes in the ChromeOS layout (as `cgpt` reads them): bits
//! 48–51 priority, 52–55 tries, 56 successful, on the slots' `rootfs` partitions.
//!
//! | state | priority | tries | successful |
//! |---|---|---|---|
//! | good | 2 primary / 1 other | 0 | 1 |
//! | trial, n tries left | 2 / 1 | n | 0 |
//! | bad | 0 | 0 | 0 |
//!
//! Both copies of the table are updated with their CRCs, the backup first and
//! fsynced, then the primary: a torn write leaves one copy whose CRCs fail, and
//! readers (firmware, `cgpt`, this module) use the other, which is whole.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{Backend, BootError, BootState, SlotState};
use crate::slot::Slot;

const SECTOR: u64 = 512;
const PRIORITY_SHIFT: u32 = 48;
const TRIES_SHIFT: u32 = 52;
const SUCCESSFUL_BIT: u64 = 1 << 56;
const ATTR_OFFSET: usize = 48;

/// The GPT-attribute backend: `disk` and the 1-based numbers of the A and B
/// `rootfs` partitions.
#[derive(Debug, Clone)]
pub struct GptAttrs {
    pub disk: PathBuf,
    pub partitions: (u32, u32),
}

/// One GPT copy as found on disk: its header sector and entry array.
#[derive(Debug, Clone)]
struct Table {
    header_lba: u64,
    header: Vec<u8>,
    entries: Vec<u8>,
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(x)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

fn read_at(f: &mut File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    f.seek(SeekFrom::Start(offset))?;
    f.read_exact(&mut buf)?;
    Ok(buf)
}

/// Header size field, bounded to what a sector holds.
fn header_size(h: &[u8]) -> usize {
    (le_u32(h, 12) as usize).clamp(92, SECTOR as usize)
}

fn header_crc(h: &[u8]) -> u32 {
    let mut copy = h[..header_size(h)].to_vec();
    copy[16..20].fill(0);
    super::crc32(&copy)
}

/// Reads and checks the copy whose header is at `lba`; `None` when its signature
/// or either CRC is wrong.
fn read_table(f: &mut File, lba: u64) -> std::io::Result<Option<Table>> {
    let header = read_at(f, lba * SECTOR, SECTOR as usize)?;
    if &header[..8] != b"EFI PART" || header_crc(&header) != le_u32(&header, 16) {
        return Ok(None);
    }
    let (count, size) = (le_u32(&header, 80) as usize, le_u32(&header, 84) as usize);
    if size < 128 || count == 0 || count * size > 1 << 20 {
        return Ok(None);
    }
    let entries = read_at(f, le_u64(&header, 72) * SECTOR, count * size)?;
    let ok = super::crc32(&entries) == le_u32(&header, 88);
    Ok(ok.then_some(Table { header_lba: lba, header, entries }))
}

impl GptAttrs {
    /// The backend for `disk`, with the slot partitions found by their labels
    /// `rootfs_a` / `rootfs_b`.
    pub fn discover(disk: &Path) -> Result<GptAttrs, crate::slot::gpt::DiscoverError> {
        let partitions = crate::slot::gpt::slot_partition_numbers(disk, "rootfs")?;
        Ok(GptAttrs { disk: disk.to_path_buf(), partitions })
    }

    fn number(&self, slot: Slot) -> u32 {
        match slot {
            Slot::A => self.partitions.0,
            Slot::B => self.partitions.1,
        }
    }

    /// Reads both copies; returns the valid ones (primary first).
    fn tables(&self) -> Result<(File, Option<Table>, Option<Table>), BootError> {
        let io = || BootError::io(&self.disk);
        let mut f = OpenOptions::new().read(true).write(true).open(&self.disk).map_err(io())?;
        let primary = read_table(&mut f, 1).map_err(io())?;
        let last = f.seek(SeekFrom::End(0)).map_err(io())? / SECTOR - 1;
        let backup_lba = primary.as_ref().map_or(last, |p| le_u64(&p.header, 32));
        let backup = read_table(&mut f, backup_lba).map_err(io())?;
        Ok((f, primary, backup))
    }

    /// Where the attributes of `slot`'s entry lie in the entry array of `t`.
    fn attr_range(&self, t: &Table, slot: Slot) -> Result<std::ops::Range<usize>, BootError> {
        let size = le_u32(&t.header, 84) as usize;
        let number = self.number(slot) as usize;
        let at = number.saturating_sub(1) * size + ATTR_OFFSET;
        if number == 0 || at + 8 > t.entries.len() {
            return Err(BootError::format(&self.disk, format!("no partition {number} in the GPT")));
        }
        Ok(at..at + 8)
    }

    fn attributes(&self, t: &Table, slot: Slot) -> Result<u64, BootError> {
        Ok(le_u64(&t.entries[self.attr_range(t, slot)?], 0))
    }
}

fn decode(attr: u64) -> (u64, u64, bool) {
    ((attr >> PRIORITY_SHIFT) & 0xf, (attr >> TRIES_SHIFT) & 0xf, attr & SUCCESSFUL_BIT != 0)
}

fn encode(old: u64, priority: u64, tries: u64, successful: bool) -> u64 {
    let mask = (0xffu64 << PRIORITY_SHIFT) | SUCCESSFUL_BIT;
    let mut attr = (old & !mask) | (priority << PRIORITY_SHIFT) | (tries << TRIES_SHIFT);
    if successful {
        attr |= SUCCESSFUL_BIT;
    }
    attr
}

fn slot_state(attr: u64) -> SlotState {
    match decode(attr) {
        (0, _, _) => SlotState::Bad,
        (_, _, true) => SlotState::Good,
        (_, tries, false) => SlotState::Trial { tries_left: tries as u8 },
    }
}

/// Rebuilds a missing or damaged copy from the whole one: the header with the
/// current/backup LBAs swapped and the entry array placed before the backup
/// header (or after the primary one).
fn mirror(whole: &Table, at_lba: u64) -> Table {
    let mut header = whole.header.clone();
    let other = le_u64(&whole.header, 24);
    header[24..32].copy_from_slice(&at_lba.to_le_bytes());
    header[32..40].copy_from_slice(&other.to_le_bytes());
    let sectors = (whole.entries.len() as u64).div_ceil(SECTOR);
    let start = if at_lba == 1 { 2 } else { at_lba - sectors };
    header[72..80].copy_from_slice(&start.to_le_bytes());
    Table { header_lba: at_lba, header, entries: whole.entries.clone() }
}

fn write_table(f: &mut File, t: &mut Table, entries: &[u8]) -> std::io::Result<()> {
    t.entries = entries.to_vec();
    let crc = super::crc32(entries);
    t.header[88..92].copy_from_slice(&crc.to_le_bytes());
    let hcrc = header_crc(&t.header);
    t.header[16..20].copy_from_slice(&hcrc.to_le_bytes());
    f.seek(SeekFrom::Start(le_u64(&t.header, 72) * SECTOR))?;
    f.write_all(entries)?;
    f.seek(SeekFrom::Start(t.header_lba * SECTOR))?;
    f.write_all(&t.header)?;
    f.sync_all()
}

impl Backend for GptAttrs {
    fn name(&self) -> &'static str {
        "gpt"
    }

    fn read(&self) -> Result<BootState, BootError> {
        let (_, primary, backup) = self.tables()?;
        let t = primary.or(backup).ok_or_else(|| BootError::format(&self.disk, "neither GPT copy is valid"))?;
        let (a, b) = (self.attributes(&t, Slot::A)?, self.attributes(&t, Slot::B)?);
        let (pa, pb) = (decode(a).0, decode(b).0);
        let primary = match (pa, pb) {
            (0, 0) => None,
            _ if pb > pa => Some(Slot::B),
            _ => Some(Slot::A),
        };
        Ok(BootState { primary, a: slot_state(a), b: slot_state(b) })
    }

    fn write(&self, state: &BootState) -> Result<(), BootError> {
        let (mut f, primary, backup) = self.tables()?;
        let whole = primary
            .clone()
            .or(backup.clone())
            .ok_or_else(|| BootError::format(&self.disk, "neither GPT copy is valid"))?;
        let mut entries = whole.entries.clone();
        for slot in Slot::ALL {
            let priority = if state.primary == Some(slot) { 2 } else { 1 };
            let (p, t, s) = match state.get(slot) {
                SlotState::Good => (priority, 0, true),
                SlotState::Bad => (0, 0, false),
                SlotState::Trial { tries_left } => (priority, u64::from(tries_left), false),
            };
            let attr = encode(self.attributes(&whole, slot)?, p, t, s);
            entries[self.attr_range(&whole, slot)?].copy_from_slice(&attr.to_le_bytes());
        }
        let backup_lba = le_u64(&whole.header, if whole.header_lba == 1 { 32 } else { 24 });
        let mut backup = backup.unwrap_or_else(|| mirror(&whole, backup_lba));
        let mut primary = primary.unwrap_or_else(|| mirror(&whole, 1));
        let io = BootError::io(&self.disk);
        write_table(&mut f, &mut backup, &entries).and_then(|_| write_table(&mut f, &mut primary, &entries)).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_bits_follow_the_chromeos_layout() {
        let other_bits = 1u64 | (1 << 60);
        let attr = encode(other_bits, 2, 3, false);
        assert_eq!(attr, other_bits | (2 << 48) | (3 << 52));
        assert_eq!(decode(attr), (2, 3, false));
        assert_eq!(slot_state(attr), SlotState::Trial { tries_left: 3 });
        assert_eq!(slot_state(encode(0, 1, 0, true)), SlotState::Good);
        assert_eq!(slot_state(encode(0, 0, 5, false)), SlotState::Bad);
    }
}
