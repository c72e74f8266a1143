//! The A/B slot model: two slots, each a set of partitions, one per image class
//! (`rootfs`, optionally `boot`, `app`, ...). The slot sets come from the config or
//! from a disk's GPT ([`gpt::discover`]); the booted slot from the kernel command
//! line or the root device ([`booted::detect`]).

pub mod booted;
pub mod gpt;
pub mod record;

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Not;
use std::path::PathBuf;
use std::str::FromStr;

/// One of the two slots. `!Slot::A == Slot::B`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum Slot {
    A,
    B,
}

impl Slot {
    /// Both slots, A first.
    pub const ALL: [Slot; 2] = [Slot::A, Slot::B];

    /// The slot name as the bootloaders spell it: `A` or `B`.
    pub fn name(self) -> &'static str {
        match self {
            Slot::A => "A",
            Slot::B => "B",
        }
    }

    /// The suffix of partition labels: `a` or `b` (as in `rootfs_a`).
    pub fn suffix(self) -> &'static str {
        match self {
            Slot::A => "a",
            Slot::B => "b",
        }
    }
}

impl Not for Slot {
    type Output = Slot;
    fn not(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A slot name that is neither `A` nor `B`.
#[derive(Debug, thiserror::Error)]
#[error("unknown slot {0:?}: a slot is A or B")]
pub struct UnknownSlot(pub String);

impl FromStr for Slot {
    type Err = UnknownSlot;
    fn from_str(s: &str) -> Result<Slot, UnknownSlot> {
        match s {
            "A" | "a" => Ok(Slot::A),
            "B" | "b" => Ok(Slot::B),
            other => Err(UnknownSlot(other.to_string())),
        }
    }
}

/// One partition of a slot: its device and, when known from the GPT, its label and
/// unique GUID (to match `root=PARTLABEL=` / `root=PARTUUID=`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Partition {
    pub device: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partuuid: Option<String>,
}

impl Partition {
    /// A partition known only by its device path.
    pub fn from_device(device: impl Into<PathBuf>) -> Partition {
        Partition { device: device.into(), label: None, partuuid: None }
    }
}

/// The partitions of one slot, by image class (`rootfs`, `boot`, ...).
pub type SlotSet = BTreeMap<String, Partition>;

/// Both slot sets. Every image class is present in both.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Slots {
    a: SlotSet,
    b: SlotSet,
}

/// The two slot sets do not describe the same image classes, or lack `rootfs`.
#[derive(Debug, thiserror::Error)]
pub enum SlotsError {
    #[error("image class {class:?} has a partition in slot {has} but none in slot {lacks}: give every image class a partition in both slots")]
    Unpaired { class: String, has: Slot, lacks: Slot },
    #[error("slot {0} has no \"rootfs\" partition: every slot needs its root file system")]
    NoRootfs(Slot),
    #[error("slots A and B both use {0}: the two slots must be different partitions")]
    SharedDevice(PathBuf),
}

impl Slots {
    /// Pairs two slot sets, checking that both have the same image classes
    /// (including `rootfs`) and share no device.
    pub fn new(a: SlotSet, b: SlotSet) -> Result<Slots, SlotsError> {
        for (slot, this, other) in [(Slot::A, &a, &b), (Slot::B, &b, &a)] {
            if !this.contains_key("rootfs") {
                return Err(SlotsError::NoRootfs(slot));
            }
            if let Some(class) = this.keys().find(|c| !other.contains_key(*c)) {
                return Err(SlotsError::Unpaired { class: class.clone(), has: slot, lacks: !slot });
            }
        }
        if let Some(p) = a.values().find(|p| b.values().any(|q| q.device == p.device)) {
            return Err(SlotsError::SharedDevice(p.device.clone()));
        }
        Ok(Slots { a, b })
    }

    /// The partitions of `slot`.
    pub fn get(&self, slot: Slot) -> &SlotSet {
        match slot {
            Slot::A => &self.a,
            Slot::B => &self.b,
        }
    }

    /// The root file system partition of `slot`.
    pub fn rootfs(&self, slot: Slot) -> Option<&Partition> {
        self.get(slot).get("rootfs")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn set(entries: &[(&str, &str)]) -> SlotSet {
        entries.iter().map(|(c, d)| (c.to_string(), Partition::from_device(*d))).collect()
    }

    #[test]
    fn not_swaps_slots_and_names_round_trip() {
        assert_eq!(!Slot::A, Slot::B);
        assert_eq!(!Slot::B, Slot::A);
        assert_eq!(!!Slot::A, Slot::A);
        for s in Slot::ALL {
            assert_eq!(s.name().parse::<Slot>().unwrap(), s);
        }
        assert!("C".parse::<Slot>().is_err());
    }

    #[test]
    fn slots_need_the_same_classes_rootfs_and_distinct_devices() {
        let a = set(&[("rootfs", "/dev/sda2"), ("boot", "/dev/sda1")]);
        let b = set(&[("rootfs", "/dev/sda4"), ("boot", "/dev/sda3")]);
        let s = Slots::new(a.clone(), b).unwrap();
        assert_eq!(s.rootfs(Slot::B).unwrap().device, PathBuf::from("/dev/sda4"));
        let unpaired = Slots::new(a.clone(), set(&[("rootfs", "/dev/sda4")]));
        assert!(matches!(unpaired, Err(SlotsError::Unpaired { has: Slot::A, .. })));
        let no_root = Slots::new(set(&[("boot", "x")]), set(&[("boot", "y")]));
        assert!(matches!(no_root, Err(SlotsError::NoRootfs(Slot::A))));
        let shared = Slots::new(a, set(&[("rootfs", "/dev/sda2"), ("boot", "/dev/sda3")]));
        assert!(matches!(shared, Err(SlotsError::SharedDevice(_))));
    }
}
