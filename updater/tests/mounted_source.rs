//! A delta applies over a source slot that is the mounted root file system:
//! ext4 with a journal, mounted read-only from a loop device, as the booted
//! slot is on a device. While it is mounted the kernel's cached copy of the
//! journal superblock differs from the disk, so reading the source through
//! the page cache made the install fail (`source extents do not match`, found
//! by the QEMU tests); the installer reads the source with O_DIRECT.
//!
//! Needs root, a free loop device and `mount` (scripts/test runs as root);
//! without them the test fails saying so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{install_file, run_tool, s, Device};
use fotad_updater::delta::ImageInput;

/// A loop device with `image` on it, mounted read-only at `mnt`; undone on drop.
struct Mounted {
    dev: String,
    mnt: PathBuf,
}

impl Mounted {
    fn new(image: &Path, mnt: &Path) -> Mounted {
        std::fs::create_dir_all(mnt).unwrap();
        let dev = run_tool("losetup", &["-f", "--show", "--read-only", s(image)], "mount").trim().to_string();
        let m = Mounted { dev, mnt: mnt.to_path_buf() };
        run_tool("mount", &["-t", "ext4", "-o", "ro", &m.dev, s(mnt)], "mount");
        m
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.mnt).status();
        let _ = std::process::Command::new("losetup").args(["-d", &self.dev]).status();
    }
}

#[test]
fn a_delta_applies_over_a_mounted_ext4_source_with_a_journal() {
    let d = Device::new();
    let tree = d.path("tree");
    std::fs::create_dir_all(tree.join("etc")).unwrap();
    std::fs::write(tree.join("etc/version"), "1.0\n").unwrap();
    std::fs::write(tree.join("etc/data"), common::noise(1 << 20, 3)).unwrap();
    let v1 = d.path("v1.ext4");
    // ext4 with a journal (mkfs.ext4's default), made from a tree like a slot image.
    run_tool("mkfs.ext4", &["-q", "-F", "-b", "4096", "-d", s(&tree), s(&v1), "16M"], "e2fsprogs");
    let v2 = d.path("v2.ext4");
    std::fs::copy(&v1, &v2).unwrap();
    let new = d.write("new-data", &common::noise(300 << 10, 4));
    run_tool("debugfs", &["-w", "-R", &format!("write {} /etc/new-data", s(&new)), s(&v2)], "e2fsprogs");
    let pkg =
        d.pack(&d.spec(vec![("rootfs", ImageInput::Delta { target: v2.clone(), source: v1.clone() })]), "v2.fota");
    let v1_bytes = std::fs::read(&v1).unwrap();

    let mounted = Mounted::new(&v1, &d.path("mnt"));
    let source = PathBuf::from(&mounted.dev);
    // The case itself: read through the page cache, the mounted source is no
    // longer the image it was made from (else this test would test nothing).
    let cached = std::fs::read(&source).unwrap();
    let changed: Vec<usize> =
        (0..v1_bytes.len() / 4096).filter(|b| cached[b * 4096..][..4096] != v1_bytes[b * 4096..][..4096]).collect();
    assert!(!changed.is_empty(), "the mounted ext4 shows its disk bytes through the page cache here");

    let target = d.write("slot-b.img", &[]);
    install_file(&d.installer(&[("rootfs", &target, Some(&source))]), &pkg)
        .unwrap_or_else(|e| panic!("the delta did not apply over the mounted source (cached blocks {changed:?}): {e}"));
    let got = std::fs::read(&target).unwrap();
    let want = std::fs::read(&v2).unwrap();
    assert!(got.len() >= want.len() && got[..want.len()] == want[..], "slot B is not image v2");
    drop(mounted);
    assert_eq!(std::fs::read(&v1).unwrap(), v1_bytes, "the source image was written");
}
