//! Bad packages and wrong devices are refused with the right typed error
//! (and error kind), and the target is never marked installed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{evolve, image, install_file, Device};
use fotad_updater::delta::ImageInput;
use fotad_updater::install::Status;
use fotad_updater::package::{read_header, sha256_hex, write_keypair, PackageError};
use fotad_updater::{ErrorKind, InstallError};

struct Case {
    dev: Device,
    old: Vec<u8>,
    old_path: PathBuf,
    target: PathBuf,
    pkg: PathBuf,
}

/// A device whose slot B holds an installed v1, and a delta package v2.
fn case() -> Case {
    let dev = Device::new();
    let old = image(1 << 20, 11);
    let old_path = dev.write("slot-a.img", &old);
    let target = dev.write("slot-b.img", &[]);
    let v1 = dev.pack(&dev.spec(vec![("rootfs", ImageInput::Full { target: old_path.clone() })]), "v1.fota");
    install_file(&dev.installer(&[("rootfs", &target, None)]), &v1).unwrap();
    let new_path = dev.write("new.img", &evolve(&old, 12));
    let spec = dev.spec(vec![("rootfs", ImageInput::Delta { target: new_path, source: old_path.clone() })]);
    let pkg = dev.pack(&spec, "v2.fota");
    Case { dev, old, old_path, target, pkg }
}

impl Case {
    fn install(&self, pkg: &Path) -> InstallError {
        let installer = self.dev.installer(&[("rootfs", &self.target, Some(&self.old_path))]);
        install_file(&installer, pkg).expect_err("the package was accepted")
    }

    fn install_with(&self, f: impl FnOnce(&mut fotad_updater::install::InstallOptions)) -> InstallError {
        let mut opts = self.dev.options(&[("rootfs", &self.target, Some(&self.old_path))]);
        f(&mut opts);
        install_file(&fotad_updater::install::Installer::new(opts), &self.pkg).expect_err("the package was accepted")
    }

    /// The refused package is not marked installed, and the target still holds v1.
    fn assert_untouched(&self) {
        self.assert_not_installed();
        assert_eq!(std::fs::read(&self.target).unwrap(), self.old, "target written before the refusal");
    }

    fn assert_not_installed(&self) {
        self.assert_v2_not_marked_installed();
        assert!(self.dev.installer(&[]).checkpoint().unwrap().is_none(), "checkpoint left behind");
    }

    fn assert_v2_not_marked_installed(&self) {
        let v2 = read_header(&mut std::fs::File::open(&self.pkg).unwrap()).unwrap();
        let v2_id = sha256_hex(&v2.manifest_bytes);
        let status = self.dev.installer(&[]).records().status().unwrap();
        if let Some(Status::Installed { package, .. }) = &status {
            assert_ne!(*package, v2_id, "refused package marked installed");
        }
    }

    fn tampered(&self, at: impl FnOnce(&[u8], u64) -> usize) -> PathBuf {
        let mut bytes = std::fs::read(&self.pkg).unwrap();
        let header = read_header(&mut bytes.as_slice()).unwrap();
        let i = at(&bytes, header.payload_offset());
        bytes[i] ^= 0x20;
        self.dev.write("tampered.fota", &bytes)
    }
}

#[test]
fn tampered_manifest_fails_signature_404() {
    let c = case();
    let pkg = c.tampered(|bytes, _| find(bytes, b"\"version\":\"2.0.0\"") + 12);
    let err = c.install(&pkg);
    assert!(matches!(err, InstallError::Package(PackageError::BadSignature { .. })), "{err}");
    assert_eq!(err.kind(), ErrorKind::Untrusted);
    c.assert_untouched();
}

#[test]
fn tampered_signature_fails_404() {
    let c = case();
    let pkg = c.tampered(|_, payload| payload as usize - 10);
    let err = c.install(&pkg);
    assert!(matches!(err, InstallError::Package(PackageError::BadSignature { .. })), "{err}");
    assert_eq!(err.kind(), ErrorKind::Untrusted);
    c.assert_untouched();
}

#[test]
fn tampered_payload_is_corrupt_402_and_marked_failed() {
    let c = case();
    let pkg = c.tampered(|bytes, payload| (payload as usize + bytes.len()) / 2);
    let err = c.install(&pkg);
    assert!(matches!(err, InstallError::Corrupt { .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    c.assert_not_installed();
    let status = c.dev.installer(&[]).records().status().unwrap();
    assert!(matches!(status, Some(Status::Failed { kind: ErrorKind::Corrupt, .. })), "{status:?}");
}

#[test]
fn truncated_package_is_reported_and_not_installed() {
    let c = case();
    let bytes = std::fs::read(&c.pkg).unwrap();
    for cut in [10, bytes.len() / 3, bytes.len() - 1] {
        let pkg = c.dev.write("cut.fota", &bytes[..cut]);
        let err = c.install(&pkg);
        assert!(matches!(err, InstallError::Truncated { .. }), "cut at {cut}: {err}");
        assert!(err.is_resumable());
        c.assert_v2_not_marked_installed();
    }
}

#[test]
fn package_signed_by_an_untrusted_key_is_refused_404() {
    let c = case();
    write_keypair(&c.dev.path("rogue")).unwrap();
    let new_path = c.dev.write("new2.img", &evolve(&c.old, 13));
    let spec = c.dev.spec(vec![("rootfs", ImageInput::Delta { target: new_path, source: c.old_path.clone() })]);
    let pkg = c.dev.pack_with_key(&spec, "rogue.fota", &c.dev.path("rogue.key"));
    let err = c.install(&pkg);
    assert!(matches!(err, InstallError::Package(PackageError::Untrusted { .. })), "{err}");
    assert_eq!(err.kind(), ErrorKind::Untrusted);
    c.assert_untouched();
}

#[test]
fn wrong_compatible_is_refused_403() {
    let c = case();
    let err = c.install_with(|o| o.compatible = "other,model".into());
    assert!(matches!(err, InstallError::Incompatible { .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::NotForDevice);
    c.assert_untouched();
}

#[test]
fn downgrade_is_refused_405() {
    let c = case();
    let err = c.install_with(|o| o.installed_security_version = 6);
    assert!(matches!(err, InstallError::Downgrade { package: 5, installed: 6 }), "{err}");
    assert_eq!(err.kind(), ErrorKind::Downgrade);
    c.assert_untouched();
}

#[test]
fn delta_over_the_wrong_source_is_refused_403_and_source_untouched() {
    let c = case();
    let mut wrong = c.old.clone();
    wrong[1000] ^= 1;
    let wrong_path = c.dev.write("other-a.img", &wrong);
    let err = c.install_with(|o| o.images.get_mut("rootfs").unwrap().source = Some(wrong_path.clone()));
    assert!(
        matches!(err, InstallError::Corrupt { source: fotad_updater::ops::OpError::SourceHash { .. }, .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("(4 KiB block 0)") && msg.contains("the source slot changed"), "{msg}");
    assert_eq!(err.kind(), ErrorKind::NotForDevice);
    assert_eq!(std::fs::read(&wrong_path).unwrap(), wrong, "source slot written");
    c.assert_not_installed();
}

#[test]
fn target_that_is_the_source_is_refused() {
    let c = case();
    let err = c.install_with(|o| o.images.get_mut("rootfs").unwrap().target = c.old_path.clone());
    assert!(matches!(err, InstallError::TargetIsSource { .. }), "{err}");
    assert_eq!(std::fs::read(&c.old_path).unwrap(), c.old, "booted slot written");
}

#[test]
fn garbage_is_not_a_package() {
    let c = case();
    let pkg = c.dev.write("garbage.fota", b"this is not a package at all, just some text");
    let err = c.install(&pkg);
    assert!(matches!(err, InstallError::Package(PackageError::BadMagic)), "{err}");
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    c.assert_untouched();
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack.windows(needle.len()).position(|w| w == needle).expect("needle not in package")
}
