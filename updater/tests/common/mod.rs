//! Fixtures shared by the updater's integration tests: generated images, keys,
//! packages, an installer pointed at a temporary device; running the real tools
//! (failing loudly when one is missing) and building slot sets.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

pub mod rig;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use fotad_updater::boot::{BootState, SlotState};
use fotad_updater::delta::{pack, ImageInput, PackSpec, PlanSettings};
use fotad_updater::install::{ImageTarget, InstallOptions, Installer};
use fotad_updater::package::{load_secret_key, write_keypair};
use fotad_updater::slot::Slot;

/// Deterministic pseudo-random bytes (xorshift64).
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A filesystem-like image: text-like blocks, random blocks and zero runs.
pub fn image(size: usize, seed: u64) -> Vec<u8> {
    let words: Vec<Vec<u8>> =
        (0..2000).map(|i| noise(3 + i % 7, seed ^ i as u64).iter().map(|b| b'a' + b % 26).collect()).collect();
    let mut out = Vec::with_capacity(size);
    let mut block = 0u64;
    while out.len() < size {
        match block % 5 {
            0 => out.extend(noise(64 << 10, seed + block)),
            4 => out.resize(out.len() + (64 << 10), 0),
            _ => {
                let end = out.len() + (64 << 10);
                let mut i = (seed + block) as usize;
                while out.len() < end {
                    out.extend_from_slice(&words[i % words.len()]);
                    out.push(b' ');
                    i = i.wrapping_mul(31).wrapping_add(7);
                }
            }
        }
        block += 1;
    }
    out.truncate(size);
    out
}

/// The next version of `old`: a region moved, bytes inserted (shifting the
/// rest), scattered byte edits, and a new tail.
pub fn evolve(old: &[u8], seed: u64) -> Vec<u8> {
    let mut new = old.to_vec();
    let n = new.len();
    let moved: Vec<u8> = old[n / 10..n / 10 + n / 20].to_vec();
    new.splice(n / 2..n / 2 + moved.len(), moved);
    new.splice(n / 4..n / 4, noise(20_000, seed));
    for (i, b) in noise(300, seed + 1).iter().enumerate() {
        let at = (i * 7919 * 13 + *b as usize * 31) % new.len();
        new[at] = new[at].wrapping_add(1 + b % 200);
    }
    let tail = noise(50_000, seed + 2);
    new.truncate(n - tail.len());
    new.extend(tail);
    new
}

/// A temporary "device" with keys, a state directory and slot files.
pub struct Device {
    pub dir: tempfile::TempDir,
}

impl Device {
    pub fn new() -> Device {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("keys")).unwrap();
        write_keypair(&dir.path().join("release")).unwrap();
        std::fs::copy(dir.path().join("release.pub"), dir.path().join("keys/release.pub")).unwrap();
        Device { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, data).unwrap();
        path
    }

    pub fn spec(&self, images: Vec<(&str, ImageInput)>) -> PackSpec {
        PackSpec {
            compatible: "acme,gw-1".into(),
            version: "2.0.0".into(),
            security_version: 5,
            operator_tag: None,
            description: BTreeMap::from([("en".into(), "Fixes".into()), ("de".into(), "Korrekturen".into())]),
            images: images.into_iter().map(|(c, i)| (c.to_string(), i)).collect(),
            op_size: 256 << 10,
            full_op_size: None,
            threads: 2,
            settings: PlanSettings::default(),
        }
    }

    /// Packs `spec` signed with this device's release key into `name`.
    pub fn pack(&self, spec: &PackSpec, name: &str) -> PathBuf {
        self.pack_with_key(spec, name, &self.path("release.key"))
    }

    pub fn pack_with_key(&self, spec: &PackSpec, name: &str, key: &Path) -> PathBuf {
        let out = self.path(name);
        pack(spec, &[load_secret_key(key).unwrap()], &out).unwrap();
        out
    }

    pub fn options(&self, images: &[(&str, &Path, Option<&Path>)]) -> InstallOptions {
        InstallOptions {
            keys_dir: self.path("keys"),
            state_dir: self.path("state"),
            compatible: "acme,gw-1".into(),
            installed_security_version: 5,
            images: images
                .iter()
                .map(|(c, t, s)| {
                    (c.to_string(), ImageTarget { target: t.to_path_buf(), source: s.map(Path::to_path_buf) })
                })
                .collect(),
        }
    }

    pub fn installer(&self, images: &[(&str, &Path, Option<&Path>)]) -> Installer {
        Installer::new(self.options(images))
    }
}

/// Installs the package file at `pkg` from the start.
pub fn install_file(
    installer: &Installer,
    pkg: &Path,
) -> Result<fotad_updater::install::Installed, fotad_updater::InstallError> {
    let file = std::fs::File::open(pkg).unwrap();
    installer.install(std::io::BufReader::new(file), 0, &mut |_| {})
}

/// Runs `program args`, asserts success, returns stdout. Panics with the Debian
/// package to install when the tool is missing.
pub fn run_tool(program: &str, args: &[&str], package: &str) -> String {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run {program} ({e}): install the Debian package {package} (scripts/test does)")
    });
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A path as a `&str` for tool arguments.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every boot state made of a primary and the given slot states.
pub fn all_states(slot_states: &[SlotState]) -> Vec<BootState> {
    let mut out = Vec::new();
    for primary in Slot::ALL {
        for a in slot_states {
            for b in slot_states {
                out.push(BootState { primary: Some(primary), a: *a, b: *b });
            }
        }
    }
    out
}
