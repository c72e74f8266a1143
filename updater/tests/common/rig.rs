//! A configured device for `fotad-update` run as a process: two file slots
//! (`rootfs` only), the file bootloader backend, a config root, keys, and
//! full packages of small images with a chosen version and security version.
//! `simulate-boot` and `mark-good` stand in for the reboots.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use fotad_updater::boot::BootState;
use fotad_updater::delta::ImageInput;

use super::{image, s, Device};

/// The bootloader state, the slot record and the install status record.
pub type Snapshot = (BootState, Option<Vec<u8>>, Option<Vec<u8>>);

/// Size of the slot images.
pub const IMAGE_SIZE: usize = 256 << 10;

pub struct Rig {
    pub dev: Device,
    pub root: PathBuf,
}

impl Rig {
    /// Slot A booted (factory state: A good and primary, B bad), A holds an image.
    pub fn new() -> Rig {
        Rig::with_updater_keys("")
    }

    /// Like [`Rig::new`], with `extra` appended to the `[updater]` section.
    pub fn with_updater_keys(extra: &str) -> Rig {
        let dev = Device::new();
        let root = dev.path("root");
        std::fs::create_dir_all(root.join("etc/fotad")).unwrap();
        dev.write("rootfs-a.img", &image(IMAGE_SIZE, 1));
        dev.write("rootfs-b.img", &super::noise(IMAGE_SIZE, 2));
        dev.write("cmdline", b"console=ttyS0 fotad.slot=A\n");
        let p = |n: &str| dev.path(n);
        let toml = format!(
            "[updater]\ncompatible = \"acme,gw-1\"\nkeys_dir = {:?}\nstate_dir = {:?}\ncmdline = {:?}\ntries = 2\n{extra}\n\
             [bootloader]\nbackend = \"file\"\nfile = {:?}\n\n[slots.A]\nrootfs = {:?}\n[slots.B]\nrootfs = {:?}\n",
            p("keys"),
            p("state"),
            p("cmdline"),
            p("bootstate.json"),
            p("rootfs-a.img"),
            p("rootfs-b.img"),
        );
        std::fs::write(root.join("etc/fotad/fotad.toml"), toml).unwrap();
        Rig { dev, root }
    }

    /// A full package of a fresh image: `version`, `security_version`, signed
    /// by the device's release key.
    pub fn package(&self, version: &str, security_version: u64) -> PathBuf {
        self.package_with(version, security_version, |_| {})
    }

    /// Like [`Rig::package`], after `edit` changed the spec.
    pub fn package_with(
        &self,
        version: &str,
        security_version: u64,
        edit: impl FnOnce(&mut fotad_updater::delta::PackSpec),
    ) -> PathBuf {
        let name = format!("{}-{security_version}", version.replace(|c: char| !c.is_ascii_alphanumeric(), "_"));
        let img = self.dev.write(&format!("{name}.img"), &image(IMAGE_SIZE, 100 + security_version));
        let mut spec = self.dev.spec(vec![("rootfs", ImageInput::Full { target: img })]);
        spec.version = version.into();
        spec.security_version = security_version;
        spec.op_size = 32 << 10;
        edit(&mut spec);
        self.dev.pack(&spec, &format!("{name}.fota"))
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_fotad-update"))
            .arg("--config-root")
            .arg(&self.root)
            .args(args)
            .output()
            .unwrap();
        eprintln!("{args:?}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        out
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Installs `pkg` into the inactive slot, boots it and confirms it.
    pub fn update_and_confirm(&self, pkg: &Path) {
        self.ok(&["install", s(pkg)]);
        self.ok(&["simulate-boot"]);
        self.ok(&["mark-good"]);
    }

    /// The bootloader state (the file backend's JSON; factory when missing).
    pub fn boot_state(&self) -> BootState {
        match std::fs::read(self.dev.path("bootstate.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap(),
            Err(_) => BootState::FACTORY,
        }
    }

    /// `status --json`.
    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["status", "--json"])).unwrap()
    }

    /// Everything an install may change before its checks: the bootloader
    /// state, the slot record and the installer's status record.
    pub fn snapshot(&self) -> Snapshot {
        let read = |p: PathBuf| std::fs::read(p).ok();
        (self.boot_state(), read(self.dev.path("state/slots.json")), read(self.dev.path("state/install/status.json")))
    }

    /// Puts back what [`Rig::snapshot`] saw.
    pub fn restore(&self, snap: &Snapshot) {
        let bytes = serde_json::to_vec(&snap.0).unwrap();
        std::fs::write(self.dev.path("bootstate.json"), bytes).unwrap();
        for (path, content) in [("state/slots.json", &snap.1), ("state/install/status.json", &snap.2)] {
            match content {
                Some(bytes) => std::fs::write(self.dev.path(path), bytes).unwrap(),
                None => drop(std::fs::remove_file(self.dev.path(path))),
            }
        }
    }
}
