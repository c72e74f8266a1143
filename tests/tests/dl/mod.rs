//! Fixtures shared by the download integration tests: a device (keys, state,
//! a file slot), packages built with `fotad_updater::delta::pack` into an
//! nginx root, and a download agent with fast test timings.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fotad::download::{DownloadJob, DownloadSettings, Downloader};
use fotad_updater::delta::{pack, ImageInput, PackSpec, PlanSettings};
use fotad_updater::install::{ImageTarget, InstallOptions, Installer};
use fotad_updater::package::{load_secret_key, write_keypair};

/// Operation size of the test packages: the most a cut can waste.
pub const OP_SIZE: u64 = 128 << 10;

/// A temporary device and package server root.
pub struct Rig {
    pub dir: tempfile::TempDir,
    pub state: PathBuf,
}

/// A package served from the rig's root.
pub struct Pkg {
    /// The image it installs.
    pub image: Vec<u8>,
    /// Its size in bytes.
    pub size: u64,
    /// The largest data blob of one operation (what one cut can waste).
    pub largest_op: u64,
}

impl Rig {
    pub fn new() -> Rig {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["keys", "www", "state"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        write_keypair(&dir.path().join("release")).unwrap();
        std::fs::copy(dir.path().join("release.pub"), dir.path().join("keys/release.pub")).unwrap();
        let state = dir.path().join("state");
        Rig { dir, state }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn www(&self) -> PathBuf {
        self.path("www")
    }

    /// Writes a `size`-byte image (from `seed`) and packs it as a full package
    /// `www/<name>` signed with `key` (the device's release key when `None`).
    pub fn package(&self, name: &str, size: u64, seed: u64, key: Option<&Path>) -> Pkg {
        let image_path = self.path(&format!("{name}.img"));
        let mut image = Vec::new();
        fotad_tests::images::write_image(&mut image, size, seed).unwrap();
        std::fs::write(&image_path, &image).unwrap();
        let spec = PackSpec {
            compatible: "acme,gw-1".into(),
            version: format!("2.0.{seed}"),
            security_version: 5,
            operator_tag: None,
            description: BTreeMap::from([("en".into(), "Fixes".into())]),
            images: vec![("rootfs".into(), ImageInput::Full { target: image_path })],
            op_size: OP_SIZE,
            full_op_size: None,
            threads: 2,
            settings: PlanSettings::default(),
        };
        let key = load_secret_key(key.unwrap_or(&self.path("release.key"))).unwrap();
        let report = pack(&spec, &[key], &self.www().join(name)).unwrap();
        let ops = report.manifest.images.iter().flat_map(|i| i.operations.iter());
        let largest_op = ops.map(|op| op.data_length).max().unwrap_or(0);
        Pkg { image, size: report.package_size, largest_op }
    }

    /// A fresh installer writing the slot file `slot_b`, like after an agent start.
    pub fn installer(&self) -> Installer {
        Installer::new(InstallOptions {
            keys_dir: self.path("keys"),
            state_dir: self.state.clone(),
            compatible: "acme,gw-1".into(),
            installed_security_version: 5,
            images: BTreeMap::from([("rootfs".into(), ImageTarget { target: self.path("slot_b"), source: None })]),
        })
    }

    pub fn slot(&self) -> Vec<u8> {
        std::fs::read(self.path("slot_b")).unwrap()
    }

    pub fn job<'a>(&'a self, url: &'a str) -> DownloadJob<'a> {
        DownloadJob { pkg_url: url, state_dir: &self.state, language: "en" }
    }
}

/// Test timings: quick backoff, a 1 s stall detection, a deadline of `deadline`.
pub fn settings(deadline: Duration) -> DownloadSettings {
    DownloadSettings {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(1),
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        deadline,
        ..DownloadSettings::default()
    }
}

pub fn downloader(deadline: Duration) -> Downloader {
    Downloader::new(settings(deadline)).unwrap()
}
