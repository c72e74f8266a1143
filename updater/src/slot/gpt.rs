//! Slot discovery from a disk's GUID partition table: partitions labelled
//! `<class>_a` / `<class>_b` (e.g. `rootfs_a`, `rootfs_b`, `boot_a`) form the slots.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Partition, Slot, SlotSet, Slots, SlotsError};

/// Why the slots could not be read from a disk's GPT.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("cannot read the GPT of {disk}: {source}; check that it is a GPT-partitioned disk")]
    Read { disk: PathBuf, source: gpt::GptError },
    #[error("the GPT of {disk} has no partitions labelled <class>_a / <class>_b: label the slot partitions (e.g. rootfs_a, rootfs_b)")]
    NoSlots { disk: PathBuf },
    #[error("the GPT of {disk} does not form two slots: {source}")]
    Slots { disk: PathBuf, source: SlotsError },
}

/// One partition entry of interest: its 1-based number, label and unique GUID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptEntry {
    pub number: u32,
    pub label: String,
    pub partuuid: String,
}

/// Lists the used partition entries of `disk` (read-only).
pub fn entries(disk: &Path) -> Result<Vec<GptEntry>, DiscoverError> {
    let table = gpt::GptConfig::new()
        .writable(false)
        .open(disk)
        .map_err(|source| DiscoverError::Read { disk: disk.to_path_buf(), source })?;
    Ok(table
        .partitions()
        .iter()
        .filter(|(_, p)| p.is_used())
        .map(|(n, p)| GptEntry { number: *n, label: p.name.clone(), partuuid: p.part_guid.to_string() })
        .collect())
}

/// The device node of partition `number` of `disk`: `/dev/sda` → `/dev/sda3`,
/// `/dev/mmcblk0` → `/dev/mmcblk0p3` (a `p` when the disk name ends in a digit).
pub fn partition_device(disk: &Path, number: u32) -> PathBuf {
    let mut name = disk.as_os_str().to_os_string();
    if name.to_string_lossy().ends_with(|c: char| c.is_ascii_digit()) {
        name.push("p");
    }
    name.push(number.to_string());
    PathBuf::from(name)
}

/// Splits a label `rootfs_a` into (`rootfs`, A).
fn split_label(label: &str) -> Option<(&str, Slot)> {
    let (class, suffix) = label.rsplit_once('_')?;
    let slot = match suffix {
        "a" | "A" => Slot::A,
        "b" | "B" => Slot::B,
        _ => return None,
    };
    (!class.is_empty()).then_some((class, slot))
}

/// Reads the slots from the GPT of `disk` by partition label.
pub fn discover(disk: &Path) -> Result<Slots, DiscoverError> {
    let mut sets: BTreeMap<Slot, SlotSet> = BTreeMap::new();
    for e in entries(disk)? {
        let Some((class, slot)) = split_label(&e.label) else {
            continue;
        };
        let part = Partition {
            device: partition_device(disk, e.number),
            label: Some(e.label.clone()),
            partuuid: Some(e.partuuid.clone()),
        };
        sets.entry(slot).or_default().insert(class.to_string(), part);
    }
    if sets.is_empty() {
        return Err(DiscoverError::NoSlots { disk: disk.to_path_buf() });
    }
    let a = sets.remove(&Slot::A).unwrap_or_default();
    let b = sets.remove(&Slot::B).unwrap_or_default();
    Slots::new(a, b).map_err(|source| DiscoverError::Slots { disk: disk.to_path_buf(), source })
}

/// The 1-based GPT partition numbers of `class` in slots A and B of `disk`.
pub fn slot_partition_numbers(disk: &Path, class: &str) -> Result<(u32, u32), DiscoverError> {
    let all = entries(disk)?;
    let find = |slot: Slot| all.iter().find(|e| split_label(&e.label) == Some((class, slot))).map(|e| e.number);
    match (find(Slot::A), find(Slot::B)) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(DiscoverError::NoSlots { disk: disk.to_path_buf() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_device_adds_p_after_a_digit() {
        assert_eq!(partition_device(Path::new("/dev/sda"), 3), PathBuf::from("/dev/sda3"));
        assert_eq!(partition_device(Path::new("/dev/mmcblk0"), 2), PathBuf::from("/dev/mmcblk0p2"));
        assert_eq!(partition_device(Path::new("/dev/nvme0n1"), 1), PathBuf::from("/dev/nvme0n1p1"));
    }

    #[test]
    fn labels_split_into_class_and_slot() {
        assert_eq!(split_label("rootfs_a"), Some(("rootfs", Slot::A)));
        assert_eq!(split_label("app_data_b"), Some(("app_data", Slot::B)));
        assert_eq!(split_label("esp"), None);
        assert_eq!(split_label("data_c"), None);
        assert_eq!(split_label("_a"), None);
    }
}
