//! The U-Boot environment as libubootenv stores it, located by `fw_env.config`
//! (`device offset size [erase-size [sectors]]`, one line per copy). A copy is a
//! little-endian CRC32 of the data, then (redundant environments only) a flags
//! byte that counts writes, then `name=value\0…\0\0` padded to the size.
//!
//! Redundant environments are written to the copy that is not current, with the
//! next flags value, and fsynced: a torn write leaves a copy with a bad CRC and the
//! other copy still current. A single copy in a regular file is replaced atomically
//! (whole file, rename); a single copy on a device is written in place, which no
//! format can make crash-safe (use a redundant environment there).

use std::fs::{self, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::vars::Vars;
use super::BootError;
use crate::atomic_file;

/// One environment copy from `fw_env.config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvCopy {
    pub device: PathBuf,
    pub offset: u64,
    pub size: usize,
}

/// Parses `fw_env.config`: one or two copies.
pub fn parse_config(path: &Path) -> Result<Vec<EnvCopy>, BootError> {
    let text = fs::read_to_string(path).map_err(BootError::io(path))?;
    let mut copies = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let bad = || BootError::format(path, format!("line {line:?} is not `device offset size`"));
        let (dev, off, size) = match fields.as_slice() {
            [d, o, s, ..] => (*d, number(o).ok_or_else(bad)?, number(s).ok_or_else(bad)?),
            _ => return Err(bad()),
        };
        if size < 16 {
            return Err(BootError::format(path, format!("environment size {size} is too small")));
        }
        let size = usize::try_from(size).map_err(|_| bad())?;
        copies.push(EnvCopy { device: PathBuf::from(dev), offset: off, size });
    }
    match copies.len() {
        1 | 2 => Ok(copies),
        n => Err(BootError::format(path, format!("{n} environment copies listed; give one or two lines"))),
    }
}

fn number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// The environment read from its copies: the variables and where they came from.
#[derive(Debug, Clone)]
pub struct Env {
    pub(crate) vars: Vars,
    copies: Vec<EnvCopy>,
    /// Index of the current copy, `None` when no copy had a valid CRC.
    current: Option<usize>,
    flags: u8,
}

fn header_len(redundant: bool) -> usize {
    if redundant {
        5
    } else {
        4
    }
}

fn read_copy(copy: &EnvCopy) -> Result<Vec<u8>, BootError> {
    let mut f = fs::File::open(&copy.device).map_err(BootError::io(&copy.device))?;
    f.seek(SeekFrom::Start(copy.offset)).map_err(BootError::io(&copy.device))?;
    let mut buf = vec![0u8; copy.size];
    f.read_exact(&mut buf).map_err(BootError::io(&copy.device))?;
    Ok(buf)
}

/// Checks a copy's CRC; returns its flags byte (0 for single copies) when valid.
fn valid_flags(buf: &[u8], redundant: bool) -> Option<u8> {
    let stored = u32::from_le_bytes(buf.get(..4)?.try_into().ok()?);
    let data = buf.get(header_len(redundant)..)?;
    (super::crc32(data) == stored).then(|| if redundant { buf[4] } else { 0 })
}

/// The newer of two valid flags values (a counter that wraps from 255 to 0).
fn newer(f0: u8, f1: u8) -> usize {
    if f1 == f0.wrapping_add(1) || (f0 != f1.wrapping_add(1) && f1 > f0) {
        1
    } else {
        0
    }
}

fn parse_data(data: &[u8], device: &Path) -> Result<Vars, BootError> {
    let mut vars = Vars::default();
    for entry in data.split(|b| *b == 0).take_while(|e| !e.is_empty()) {
        let text =
            std::str::from_utf8(entry).map_err(|_| BootError::format(device, "environment entry is not UTF-8"))?;
        let (name, value) = text
            .split_once('=')
            .ok_or_else(|| BootError::format(device, format!("environment entry {text:?} has no '='")))?;
        vars.set(name, value);
    }
    Ok(vars)
}

impl Env {
    /// Reads the environment from `copies` (as listed in `fw_env.config`). When no
    /// copy is valid the environment is empty, as for libubootenv.
    pub fn read(copies: Vec<EnvCopy>) -> Result<Env, BootError> {
        let redundant = copies.len() == 2;
        let mut valid = Vec::new();
        for (i, copy) in copies.iter().enumerate() {
            let buf = read_copy(copy)?;
            if let Some(flags) = valid_flags(&buf, redundant) {
                valid.push((i, flags, buf));
            }
        }
        let chosen = match valid.as_slice() {
            [one] => Some(one),
            [a, b] => Some(if newer(a.1, b.1) == 0 { a } else { b }),
            _ => None,
        };
        let Some((index, flags, buf)) = chosen else {
            return Ok(Env { vars: Vars::default(), copies, current: None, flags: 0 });
        };
        let vars = parse_data(&buf[header_len(redundant)..], &copies[*index].device)?;
        Ok(Env { vars, current: Some(*index), flags: *flags, copies })
    }

    /// The index of the copy a write goes to, and the flags it gets.
    fn target(&self) -> (usize, u8) {
        match (self.copies.len(), self.current) {
            (2, Some(cur)) => (1 - cur, self.flags.wrapping_add(1)),
            _ => (0, self.flags.wrapping_add(1)),
        }
    }

    /// Serialises the variables into one copy's bytes.
    fn encode(&self, size: usize, flags: u8) -> Result<Vec<u8>, BootError> {
        let redundant = self.copies.len() == 2;
        let mut data = Vec::new();
        for (name, value) in self.vars.iter() {
            data.extend_from_slice(format!("{name}={value}").as_bytes());
            data.push(0);
        }
        data.push(0);
        let room = size - header_len(redundant);
        if data.len() > room {
            let dev = &self.copies[0].device;
            return Err(BootError::format(
                dev,
                format!("variables need {} bytes, the environment holds {room}", data.len()),
            ));
        }
        data.resize(room, 0);
        let mut out = super::crc32(&data).to_le_bytes().to_vec();
        if redundant {
            out.push(flags);
        }
        out.extend_from_slice(&data);
        Ok(out)
    }

    /// Writes the variables crash-safely (see the module documentation) and makes
    /// the written copy current.
    pub fn write(&mut self) -> Result<(), BootError> {
        let (index, flags) = self.target();
        let copy = self.copies[index].clone();
        let bytes = self.encode(copy.size, flags)?;
        let is_file = fs::metadata(&copy.device).map_err(BootError::io(&copy.device))?.is_file();
        if self.copies.len() == 1 && is_file {
            let mut whole = fs::read(&copy.device).map_err(BootError::io(&copy.device))?;
            let start = usize::try_from(copy.offset).unwrap_or(usize::MAX);
            let region = whole
                .get_mut(start..start.saturating_add(copy.size))
                .ok_or_else(|| BootError::format(&copy.device, "file is shorter than offset + size"))?;
            region.copy_from_slice(&bytes);
            atomic_file::replace(&copy.device, &whole).map_err(BootError::io(&copy.device))?;
        } else {
            write_in_place(&copy, &bytes)?;
        }
        self.current = Some(index);
        self.flags = flags;
        Ok(())
    }
}

fn write_in_place(copy: &EnvCopy, bytes: &[u8]) -> Result<(), BootError> {
    let io = BootError::io(&copy.device);
    let mut f = OpenOptions::new().write(true).open(&copy.device).map_err(BootError::io(&copy.device))?;
    f.seek(SeekFrom::Start(copy.offset)).and_then(|_| f.write_all(bytes)).and_then(|_| f.sync_all()).map_err(io)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn config_lines_give_copies_with_hex_or_decimal_numbers() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("fw_env.config");
        fs::write(&p, "# comment\n/dev/mmcblk0 0x3000 0x2000 0x200 1\n/dev/mmcblk0 16384 8192\n").unwrap();
        let c = parse_config(&p).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].offset, c[0].size), (0x3000, 0x2000));
        assert_eq!((c[1].offset, c[1].size), (16384, 8192));
        fs::write(&p, "/dev/x 0\n").unwrap();
        assert!(parse_config(&p).is_err());
    }

    #[test]
    fn flags_counter_wraps() {
        assert_eq!(newer(3, 4), 1);
        assert_eq!(newer(4, 3), 0);
        assert_eq!(newer(255, 0), 1);
        assert_eq!(newer(0, 255), 0);
    }
}
