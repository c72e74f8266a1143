//! GRUB environment block (`grubenv`), with RAUC's variables: `ORDER="A B"` (the
//! primary first), and per slot `X_OK` / `X_TRY`:
//!
//! | state | `X_OK` | `X_TRY` |
//! |---|---|---|
//! | good | 1 | 0 |
//! | trial, n tries left | 0 | n (1–9) |
//! | bad | 0 | 0 |
//!
//! The block is `# GRUB Environment Block\n`, `name=value\n` lines (`\` and newline
//! escaped with `\`), padded with `#` to its size (1024 bytes). It is replaced
//! atomically (temporary file, fsync, rename, fsync of the directory); other
//! variables are kept.

use std::fs;
use std::path::PathBuf;

use super::vars::Vars;
use super::{Backend, BootError, BootState, SlotState};
use crate::atomic_file;
use crate::slot::Slot;

const HEADER: &str = "# GRUB Environment Block\n";
/// Size of a new environment block.
pub const BLOCK_SIZE: usize = 1024;

/// The GRUB backend over the environment block at `path`.
#[derive(Debug, Clone)]
pub struct Grub {
    pub path: PathBuf,
}

impl Grub {
    pub fn new(path: impl Into<PathBuf>) -> Grub {
        Grub { path: path.into() }
    }

    fn load(&self) -> Result<(Vars, usize), BootError> {
        let bytes = fs::read(&self.path).map_err(BootError::io(&self.path))?;
        let vars = parse(&bytes).map_err(|r| BootError::format(&self.path, r))?;
        Ok((vars, bytes.len()))
    }
}

/// Parses an environment block.
fn parse(bytes: &[u8]) -> Result<Vars, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
    let body = text.strip_prefix(HEADER).ok_or_else(|| format!("does not start with {HEADER:?}"))?;
    let mut vars = Vars::default();
    for line in body.split('\n').filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (name, value) = line.split_once('=').ok_or_else(|| format!("line {line:?} has no '='"))?;
        vars.set(name, unescape(value));
    }
    Ok(vars)
}

fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            },
            (c, false) => out.push(c),
        }
    }
    out
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Renders `vars` as an environment block of `size` bytes.
fn render(vars: &Vars, size: usize) -> Option<Vec<u8>> {
    let mut out = HEADER.to_string();
    for (name, value) in vars.iter() {
        out.push_str(&format!("{name}={}\n", escape(value)));
    }
    let mut bytes = out.into_bytes();
    if bytes.len() > size {
        return None;
    }
    bytes.resize(size, b'#');
    Some(bytes)
}

fn slot_state(vars: &Vars, slot: Slot) -> SlotState {
    let ok = vars.number(&format!("{slot}_OK")) == Some(1);
    let tries = vars.number(&format!("{slot}_TRY")).unwrap_or(0);
    match (ok, tries) {
        (true, _) => SlotState::Good,
        (false, 0) => SlotState::Bad,
        (false, n) => SlotState::Trial { tries_left: n },
    }
}

fn set_slot(vars: &mut Vars, slot: Slot, state: SlotState) {
    let (ok, tries) = match state {
        SlotState::Good => (1, 0),
        SlotState::Bad => (0, 0),
        SlotState::Trial { tries_left } => (0, tries_left),
    };
    vars.set(&format!("{slot}_OK"), ok.to_string());
    vars.set(&format!("{slot}_TRY"), tries.to_string());
}

/// Maps GRUB variables to a boot state; without `ORDER` (or with an empty one),
/// the factory state, as `grub.cfg` assumes.
fn to_state(vars: &Vars) -> BootState {
    let has_order = vars.get("ORDER").is_some_and(|o| !o.trim().is_empty());
    if !has_order {
        return BootState::FACTORY;
    }
    BootState {
        primary: vars.order("ORDER").first().copied(),
        a: slot_state(vars, Slot::A),
        b: slot_state(vars, Slot::B),
    }
}

impl Backend for Grub {
    fn name(&self) -> &'static str {
        "grub"
    }

    fn read(&self) -> Result<BootState, BootError> {
        Ok(to_state(&self.load()?.0))
    }

    fn write(&self, state: &BootState) -> Result<(), BootError> {
        let (mut vars, size) = match self.load() {
            Ok(loaded) => loaded,
            Err(BootError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                (Vars::default(), BLOCK_SIZE)
            }
            Err(e) => return Err(e),
        };
        let [first, second] = state.order();
        vars.set("ORDER", format!("{first} {second}"));
        for slot in Slot::ALL {
            set_slot(&mut vars, slot, state.get(slot));
        }
        let bytes = render(&vars, size)
            .ok_or_else(|| BootError::format(&self.path, format!("variables do not fit in {size} bytes")))?;
        atomic_file::replace(&self.path, &bytes).map_err(BootError::io(&self.path))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn parse_render_round_trip_keeps_other_variables_and_escapes() {
        let block = render(
            &[("saved_entry".to_string(), "x\\y\nz".to_string()), ("ORDER".to_string(), "B A".to_string())]
                .into_iter()
                .collect(),
            BLOCK_SIZE,
        )
        .unwrap();
        assert_eq!(block.len(), BLOCK_SIZE);
        let vars = parse(&block).unwrap();
        assert_eq!(vars.get("saved_entry"), Some("x\\y\nz"));
        assert_eq!(to_state(&vars).primary, Some(Slot::B));
    }

    #[test]
    fn slot_states_map_to_ok_and_try() {
        let mut vars = Vars::default();
        for st in [SlotState::Good, SlotState::Bad, SlotState::Trial { tries_left: 3 }] {
            set_slot(&mut vars, Slot::A, st);
            assert_eq!(slot_state(&vars, Slot::A), st);
        }
        assert_eq!(vars.get("A_OK"), Some("0"));
        assert_eq!(vars.get("A_TRY"), Some("3"));
    }

    #[test]
    fn oversized_environment_is_refused() {
        let vars: Vars = [("big".to_string(), "x".repeat(2000))].into_iter().collect();
        assert!(render(&vars, BLOCK_SIZE).is_none());
    }
}
