//! A test disk image read from the host while no VM runs: its partitions (from
//! the `layout` file `tests/qemu/build-image` writes), the GRUB environment
//! block on the ESP read by the real `mcopy` and `grub-editenv`, and slot
//! contents compared with image files.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};

/// One partition of the disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub name: String,
    pub offset: u64,
    pub size: u64,
    pub part_uuid: String,
}

/// A disk image and its partitions.
#[derive(Debug, Clone)]
pub struct Disk {
    pub path: PathBuf,
    pub partitions: Vec<Partition>,
}

impl Disk {
    /// `path` with the partitions listed in `layout` (`name offset size uuid` lines).
    pub fn open(path: &Path, layout: &Path) -> Result<Disk> {
        let text = std::fs::read_to_string(layout).with_context(|| format!("reading {}", layout.display()))?;
        let mut partitions = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let w: Vec<&str> = line.split_whitespace().collect();
            ensure!(w.len() == 4, "{}: bad line {line:?}", layout.display());
            partitions.push(Partition {
                name: w[0].to_string(),
                offset: w[1].parse()?,
                size: w[2].parse()?,
                part_uuid: w[3].to_string(),
            });
        }
        Ok(Disk { path: path.to_path_buf(), partitions })
    }

    pub fn partition(&self, name: &str) -> Result<&Partition> {
        self.partitions.iter().find(|p| p.name == name).with_context(|| format!("no partition {name}"))
    }

    /// The GRUB environment block `EFI/BOOT/grubenv` on the ESP, as `grub-editenv list` shows it.
    pub fn grubenv(&self, scratch: &Path) -> Result<BTreeMap<String, String>> {
        let esp = self.partition("esp")?;
        let copy = scratch.join("grubenv.read");
        let _ = std::fs::remove_file(&copy);
        let image = format!("{}@@{}", self.path.display(), esp.offset);
        let out = Command::new("mcopy")
            .args(["-n", "-i", &image, "::/EFI/BOOT/grubenv"])
            .arg(&copy)
            .output()
            .context("running mcopy: install the Debian package mtools (scripts/test does)")?;
        ensure!(out.status.success(), "mcopy: {}", String::from_utf8_lossy(&out.stderr));
        let out = Command::new("grub-editenv")
            .arg(&copy)
            .arg("list")
            .output()
            .context("running grub-editenv: install the Debian package grub-common (scripts/test does)")?;
        ensure!(out.status.success(), "grub-editenv list: {}", String::from_utf8_lossy(&out.stderr));
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect())
    }

    /// Fails unless partition `name` starts with exactly the bytes of `image`.
    pub fn assert_holds(&self, name: &str, image: &Path) -> Result<()> {
        let part = self.partition(name)?;
        let mut img = File::open(image).with_context(|| format!("opening {}", image.display()))?;
        let len = img.metadata()?.len();
        ensure!(len <= part.size, "{} ({len} bytes) is larger than partition {name}", image.display());
        let mut disk = File::open(&self.path)?;
        disk.seek(SeekFrom::Start(part.offset))?;
        let (mut a, mut b) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
        let mut at = 0u64;
        while at < len {
            let n = (len - at).min(a.len() as u64) as usize;
            img.read_exact(&mut a[..n])?;
            disk.read_exact(&mut b[..n])?;
            if a[..n] != b[..n] {
                let i = a[..n].iter().zip(&b[..n]).position(|(x, y)| x != y).unwrap_or(0) as u64;
                bail!(
                    "partition {name} differs from {} at byte {} (4 KiB block {})",
                    image.display(),
                    at + i,
                    (at + i) / 4096
                );
            }
            at += n as u64;
        }
        Ok(())
    }
}
