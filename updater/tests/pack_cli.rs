//! `fotad-update pack` cuts full images into 8 MiB operations compressed
//! against the 16 MiB before them (before the pair, for the second operation
//! of each pair), and deltas into 2 MiB operations, unless
//! `--op-size` / `--prefix` say otherwise; what it writes installs exactly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{evolve, image, run_tool, s, Device};
use fotad_updater::package::{read_header, Extent, Operation};

const TOOL: &str = env!("CARGO_BIN_EXE_fotad-update");
const MIB: u64 = 1 << 20;

/// A full image without zero bytes (no chunk becomes a `zero` operation) and
/// a delta pair; packed at zstd level 1: the sizes are what is checked.
fn pack(dev: &Device, extra: &[&str]) -> (Vec<Operation>, Vec<Operation>) {
    let boot: Vec<u8> = image(20 << 20, 61).into_iter().map(|b| if b == 0 { 0x5a } else { b }).collect();
    let old = image(6 << 20, 62);
    let new = evolve(&old, 63);
    let (boot, old, new) = (dev.write("boot.img", &boot), dev.write("old.img", &old), dev.write("new.img", &new));
    let pkg = dev.path("p.fota");
    let (key, boot_arg) = (dev.path("release.key"), format!("boot={}", s(&boot)));
    let (new_arg, old_arg) = (format!("rootfs={}", s(&new)), format!("rootfs={}", s(&old)));
    let mut args = vec!["pack", "--compatible", "acme,gw-1", "--version", "2", "--key", s(&key)];
    args.extend(["--level", "1", "--patch-level", "1", "--image", &boot_arg, "--image", &new_arg]);
    args.extend(["--source", &old_arg, "-o", s(&pkg)]);
    args.extend(extra);
    run_tool(TOOL, &args, "fotad-update");
    install(dev, &pkg, &boot, &old, &new);
    let mut header = read_header(&mut std::fs::File::open(&pkg).unwrap()).unwrap();
    let rootfs = header.manifest.images.pop().unwrap().operations;
    let boot = header.manifest.images.pop().unwrap().operations;
    (boot, rootfs)
}

/// Installs `pkg` into two new targets of a fresh device and checks their bytes.
fn install(dev: &Device, pkg: &Path, boot: &Path, old: &Path, new: &Path) {
    let (boot_t, rootfs_t) = (dev.path("boot-b.img"), dev.path("rootfs-b.img"));
    let (k, st) = (dev.path("keys"), dev.path("state"));
    let targets = [format!("--target=boot={}", s(&boot_t)), format!("--target=rootfs={}", s(&rootfs_t))];
    let source = format!("--source=rootfs={}", s(old));
    let mut args = vec!["install", s(pkg), "--compatible", "acme,gw-1", "--installed-security-version", "0"];
    args.extend(["--keys", s(&k), "--state-dir", s(&st), &targets[0], &targets[1], &source]);
    run_tool(TOOL, &args, "fotad-update");
    assert!(std::fs::read(boot_t).unwrap() == std::fs::read(boot).unwrap(), "boot installed wrong");
    assert!(std::fs::read(rootfs_t).unwrap() == std::fs::read(new).unwrap(), "rootfs installed wrong");
}

fn lengths(ops: &[Operation]) -> Vec<u64> {
    ops.iter().map(|op| op.dst.length / (MIB / 4)).collect()
}

#[test]
fn full_images_get_8_mib_operations_with_16_mib_prefixes_and_deltas_2_mib() {
    let dev = Device::new();
    let (boot, rootfs) = pack(&dev, &[]);
    assert_eq!(lengths(&boot), [32, 32, 16], "full image operations, in quarter MiB");
    let prefixes: Vec<Option<Extent>> = boot.iter().map(|op| op.prefix).collect();
    let extent = |length| Some(Extent { offset: 0, length });
    // In pairs the installer decodes at once: the second operation of a pair
    // takes the bytes before the pair (none before the first pair).
    assert_eq!(prefixes, [None, None, extent(16 * MIB)], "each prefix is up to 16 MiB before it or its pair");
    assert_eq!(lengths(&rootfs), [8, 8, 8], "delta operations, in quarter MiB");
    assert!(rootfs.iter().all(|op| op.prefix.is_none()), "delta operations have no prefix");
}

#[test]
fn op_size_and_prefix_given_are_used_for_every_image() {
    let dev = Device::new();
    let (boot, rootfs) = pack(&dev, &["--op-size", "4194304", "--prefix", "5242880"]);
    assert_eq!(lengths(&boot), [16, 16, 16, 16, 16]);
    let prefixes: Vec<Option<u64>> = boot.iter().map(|op| op.prefix.map(|e| e.length)).collect();
    assert_eq!(prefixes, [None, None, Some(5 * MIB), Some(5 * MIB), Some(5 * MIB)]);
    let ends: Vec<Option<u64>> = boot.iter().map(|op| op.prefix.map(|e| e.end() / MIB)).collect();
    assert_eq!(ends, [None, None, Some(8), Some(8), Some(16)], "pairs (0, 1), (2, 3) and 4 alone");
    assert_eq!(lengths(&rootfs), [16, 8]);
}
