//! Full and delta packages built from generated images install to exactly
//! the new image, including moved and inserted regions and several images.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{evolve, image, install_file, Device};
use fotad_updater::delta::ImageInput;
use fotad_updater::install::Status;
use fotad_updater::package::{read_header, OpKind};

#[test]
fn full_package_installs_the_exact_image() {
    let dev = Device::new();
    let new = image(3 << 20, 1);
    let new_path = dev.write("new.img", &new);
    let pkg = dev.pack(&dev.spec(vec![("rootfs", ImageInput::Full { target: new_path })]), "full.fota");
    let target = dev.write("slot-b.img", &image(3 << 20, 99));
    let done = install_file(&dev.installer(&[("rootfs", &target, None)]), &pkg).unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), new);
    assert_eq!(done.version, "2.0.0");
    let status = dev.installer(&[]).records().status().unwrap();
    assert!(matches!(status, Some(Status::Installed { security_version: 5, .. })), "{status:?}");
}

#[test]
fn delta_with_moved_and_inserted_regions_installs_the_exact_image() {
    let dev = Device::new();
    let old = image(4 << 20, 2);
    let new = evolve(&old, 3);
    let (old_path, new_path) = (dev.write("old.img", &old), dev.write("new.img", &new));
    let spec = dev.spec(vec![("rootfs", ImageInput::Delta { target: new_path.clone(), source: old_path.clone() })]);
    let delta = dev.pack(&spec, "delta.fota");
    let full = dev.pack(&dev.spec(vec![("rootfs", ImageInput::Full { target: new_path })]), "full.fota");
    let (delta_size, full_size) = (std::fs::metadata(&delta).unwrap().len(), std::fs::metadata(&full).unwrap().len());
    assert!(delta_size * 20 < full_size, "delta {delta_size} bytes is not much smaller than full {full_size}");

    let header = read_header(&mut std::fs::File::open(&delta).unwrap()).unwrap();
    let kinds: Vec<OpKind> = header.manifest.images[0].operations.iter().map(|o| o.kind).collect();
    assert!(kinds.contains(&OpKind::Bsdiff), "{kinds:?}");

    let target = dev.write("slot-b.img", &[]);
    install_file(&dev.installer(&[("rootfs", &target, Some(&old_path))]), &delta).unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), new);
    assert_eq!(std::fs::read(&old_path).unwrap(), old, "the source slot was modified");
}

#[test]
fn package_with_two_images_installs_both() {
    let dev = Device::new();
    let (old_root, boot) = (image(2 << 20, 4), image(700_000, 5));
    let new_root = evolve(&old_root, 6);
    let (old_path, new_path) = (dev.write("old-root.img", &old_root), dev.write("new-root.img", &new_root));
    let boot_path = dev.write("boot.img", &boot);
    let spec = dev.spec(vec![
        ("boot", ImageInput::Full { target: boot_path }),
        ("rootfs", ImageInput::Delta { target: new_path, source: old_path.clone() }),
    ]);
    let pkg = dev.pack(&spec, "two.fota");
    let (root_b, boot_b) = (dev.write("root-b.img", &[]), dev.write("boot-b.img", &[]));
    let installer = dev.installer(&[("rootfs", &root_b, Some(&old_path)), ("boot", &boot_b, None)]);
    let done = install_file(&installer, &pkg).unwrap();
    assert_eq!(std::fs::read(&root_b).unwrap(), new_root);
    assert_eq!(std::fs::read(&boot_b).unwrap(), boot);
    assert_eq!(done.images.len(), 2);
}

#[test]
fn identical_and_zero_regions_become_copy_and_zero_operations() {
    let dev = Device::new();
    let mut old = image(2 << 20, 7);
    old.extend(vec![0u8; 1 << 20]);
    let mut new = old.clone();
    new[100] ^= 0xff;
    let (old_path, new_path) = (dev.write("old.img", &old), dev.write("new.img", &new));
    let spec = dev.spec(vec![("rootfs", ImageInput::Delta { target: new_path, source: old_path.clone() })]);
    let pkg = dev.pack(&spec, "d.fota");
    let header = read_header(&mut std::fs::File::open(&pkg).unwrap()).unwrap();
    let kinds: Vec<OpKind> = header.manifest.images[0].operations.iter().map(|o| o.kind).collect();
    assert!(kinds.contains(&OpKind::Copy) && kinds.contains(&OpKind::Zero), "{kinds:?}");
    let target = dev.write("b.img", &noise_image());
    install_file(&dev.installer(&[("rootfs", &target, Some(&old_path))]), &pkg).unwrap();
    assert_eq!(std::fs::read(&target).unwrap()[..new.len()], new[..]);
}

fn noise_image() -> Vec<u8> {
    common::noise(3 << 20, 42)
}

#[test]
fn description_falls_back_to_english() {
    let dev = Device::new();
    let path = dev.write("n.img", &image(100_000, 8));
    let pkg = dev.pack(&dev.spec(vec![("rootfs", ImageInput::Full { target: path })]), "p.fota");
    let header = read_header(&mut std::fs::File::open(&pkg).unwrap()).unwrap();
    assert_eq!(header.manifest.description_for("de-AT"), Some("Korrekturen"));
    assert_eq!(header.manifest.description_for("fr"), Some("Fixes"));
}
