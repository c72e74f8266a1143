//! Which slot is running: from the kernel command line (`fotad.slot=A`, or
//! `root=PARTUUID=…` / `root=PARTLABEL=…` / `root=/dev/…`), else by matching the
//! root file system's device (from `mountinfo`, then by device number). Every path
//! is a parameter so tests use plain files.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{Partition, Slot, Slots};

/// Where to look for the booted slot. [`Probe::system`] gives the real paths.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The kernel command line, `/proc/cmdline`.
    pub cmdline: PathBuf,
    /// The mount table, `/proc/self/mountinfo`.
    pub mountinfo: PathBuf,
    /// The root directory whose device number is matched, `/`.
    pub root: PathBuf,
}

impl Probe {
    /// The paths of a running system, with the command line from `cmdline`.
    pub fn system(cmdline: &Path) -> Probe {
        Probe {
            cmdline: cmdline.to_path_buf(),
            mountinfo: PathBuf::from("/proc/self/mountinfo"),
            root: PathBuf::from("/"),
        }
    }
}

/// The booted slot could not be determined.
#[derive(Debug, thiserror::Error)]
pub enum BootedError {
    #[error("cannot read the kernel command line {path}: {source}")]
    Cmdline { path: PathBuf, source: std::io::Error },
    #[error("{path} says fotad.slot={value}, which is not a slot (A or B): fix the boot script")]
    BadSlotArg { path: PathBuf, value: String },
    #[error("cannot tell the booted slot: root={root:?} from {cmdline} and the root device match neither slot; add fotad.slot=A|B to the kernel command line or fix the slot devices in the config")]
    Unknown { cmdline: PathBuf, root: Option<String> },
}

/// Determines the booted slot (see the module documentation).
pub fn detect(slots: &Slots, probe: &Probe) -> Result<Slot, BootedError> {
    let cmdline = fs::read_to_string(&probe.cmdline)
        .map_err(|source| BootedError::Cmdline { path: probe.cmdline.clone(), source })?;
    if let Some(value) = arg(&cmdline, "fotad.slot") {
        return value
            .parse()
            .map_err(|_| BootedError::BadSlotArg { path: probe.cmdline.clone(), value: value.to_string() });
    }
    let root = arg(&cmdline, "root");
    let found = root
        .and_then(|r| find_slot(slots, |p| root_arg_matches(r, p)))
        .or_else(|| mounted_root(&probe.mountinfo).and_then(|dev| find_slot(slots, |p| same_file(&dev, &p.device))))
        .or_else(|| find_slot(slots, |p| same_device_number(&probe.root, &p.device)));
    found.ok_or_else(|| BootedError::Unknown { cmdline: probe.cmdline.clone(), root: root.map(str::to_string) })
}

/// The value of `key=value` on a kernel command line (the last one wins, as in
/// the kernel).
pub fn arg<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    cmdline
        .split_ascii_whitespace()
        .rev()
        .filter_map(|w| w.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.trim_matches('"'))
}

fn find_slot(slots: &Slots, matches: impl Fn(&Partition) -> bool) -> Option<Slot> {
    Slot::ALL.into_iter().find(|s| slots.rootfs(*s).is_some_and(&matches))
}

fn root_arg_matches(root: &str, part: &Partition) -> bool {
    if let Some(uuid) = root.strip_prefix("PARTUUID=") {
        let uuid = uuid.split('/').next().unwrap_or(uuid);
        return part.partuuid.as_deref().is_some_and(|p| p.eq_ignore_ascii_case(uuid));
    }
    if let Some(label) = root.strip_prefix("PARTLABEL=") {
        return part.label.as_deref() == Some(label);
    }
    root.starts_with('/') && same_file(Path::new(root), &part.device)
}

/// The source device of the mount at `/` in a `mountinfo` file.
fn mounted_root(mountinfo: &Path) -> Option<PathBuf> {
    let text = fs::read_to_string(mountinfo).ok()?;
    text.lines().rev().find_map(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        let sep = fields.iter().position(|f| *f == "-")?;
        let source = fields.get(sep + 2)?;
        (fields.get(4) == Some(&"/")).then(|| PathBuf::from(source))
    })
}

/// Same path, or both resolve to the same file (symlinks like /dev/disk/by-*).
fn same_file(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// The file system holding `root` lives on the block device `device`.
fn same_device_number(root: &Path, device: &Path) -> bool {
    match (fs::metadata(root), fs::metadata(device)) {
        (Ok(r), Ok(d)) => d.rdev() != 0 && r.dev() == d.rdev(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::slot::SlotSet;

    fn slots() -> Slots {
        let part = |dev: &str, label: &str, uuid: &str| Partition {
            device: PathBuf::from(dev),
            label: Some(label.into()),
            partuuid: Some(uuid.into()),
        };
        let a: SlotSet = [("rootfs".to_string(), part("/dev/vda2", "rootfs_a", "1111-aa"))].into();
        let b: SlotSet = [("rootfs".to_string(), part("/dev/vda3", "rootfs_b", "2222-bb"))].into();
        Slots::new(a, b).unwrap()
    }

    fn probe(dir: &Path, cmdline: &str, mountinfo: &str) -> Probe {
        fs::write(dir.join("cmdline"), cmdline).unwrap();
        fs::write(dir.join("mountinfo"), mountinfo).unwrap();
        Probe { cmdline: dir.join("cmdline"), mountinfo: dir.join("mountinfo"), root: dir.join("nothing") }
    }

    #[test]
    fn cmdline_forms_name_the_booted_slot() {
        let d = tempfile::tempdir().unwrap();
        let cases = [
            ("quiet fotad.slot=B root=/dev/vda2\n", Slot::B),
            ("root=PARTUUID=2222-BB rw", Slot::B),
            ("root=PARTUUID=1111-aa/PARTNROFF=0", Slot::A),
            ("console=ttyS0 root=PARTLABEL=rootfs_b", Slot::B),
            ("root=/dev/vda2 ro", Slot::A),
        ];
        for (line, want) in cases {
            assert_eq!(detect(&slots(), &probe(d.path(), line, "")).unwrap(), want, "{line}");
        }
    }

    #[test]
    fn mountinfo_root_device_is_used_when_the_cmdline_says_nothing() {
        let d = tempfile::tempdir().unwrap();
        let mi = "22 1 8:3 / / rw,relatime shared:1 - ext4 /dev/vda3 rw\n\
                  23 22 0:5 / /dev rw - devtmpfs udev rw\n";
        assert_eq!(detect(&slots(), &probe(d.path(), "quiet", mi)).unwrap(), Slot::B);
    }

    #[test]
    fn unknown_root_and_bad_slot_arg_are_errors() {
        let d = tempfile::tempdir().unwrap();
        let e = detect(&slots(), &probe(d.path(), "root=/dev/sdz1", "")).unwrap_err();
        assert!(matches!(e, BootedError::Unknown { .. }), "{e}");
        let e = detect(&slots(), &probe(d.path(), "fotad.slot=C", "")).unwrap_err();
        assert!(matches!(e, BootedError::BadSlotArg { .. }), "{e}");
    }
}
