//! Property test of the anti-rollback floor through the whole install pipeline
//! (`update::begin` → installer → activate) on the boot simulator: any sequence
//! of installs of real signed packages (some signed by an unknown key, some with
//! a corrupt payload), cut streams, cancels, power cuts during the install and at
//! each bootloader write, reboots healthy or not with mark-good (whose slot record
//! write a power cut may lose), and switching back to the other slot by hand,
//! never accepts a package below the highest security version ever confirmed,
//! and refuses as a downgrade exactly the packages below it, before any slot
//! state changes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::OnceLock;

use common::{image, Device};
use fotad_updater::boot::sim::{Selection, SimDisk};
use fotad_updater::boot::{BootState, SlotState};
use fotad_updater::config::{BootloaderConfig, Settings, SlotSource};
use fotad_updater::delta::ImageInput;
use fotad_updater::lifecycle::Lifecycle;
use fotad_updater::package::{read_header, write_keypair};
use fotad_updater::slot::{Partition, Slot, SlotSet, Slots};
use fotad_updater::InstallError;
use proptest::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Good,
    /// Signed by a key the device does not trust.
    Rogue,
    /// A payload byte flipped: refused once the operation is read, after writing began.
    Corrupt,
}

struct Pkg {
    bytes: Vec<u8>,
    header_len: usize,
    security_version: u64,
    kind: Kind,
}

/// The packages, built once: good ones with security versions 1..=6 and a
/// rogue and a corrupt one with security version 9.
fn fixture() -> &'static (Device, Vec<Pkg>) {
    static PKGS: OnceLock<(Device, Vec<Pkg>)> = OnceLock::new();
    PKGS.get_or_init(|| {
        let dev = Device::new();
        write_keypair(&dev.path("rogue")).unwrap();
        let mut pkgs = Vec::new();
        let mut make = |sv: u64, kind: Kind| {
            let img = dev.write(&format!("img-{sv}-{kind:?}.img"), &image(96 << 10, sv));
            let mut spec = dev.spec(vec![("rootfs", ImageInput::Full { target: img })]);
            spec.version = format!("{sv}.0-{kind:?}");
            spec.security_version = sv;
            spec.op_size = 16 << 10;
            let name = format!("p-{sv}-{kind:?}.fota");
            let path = match kind {
                Kind::Rogue => dev.pack_with_key(&spec, &name, &dev.path("rogue.key")),
                _ => dev.pack(&spec, &name),
            };
            let mut bytes = std::fs::read(path).unwrap();
            let header_len = read_header(&mut bytes.as_slice()).unwrap().payload_offset() as usize;
            if kind == Kind::Corrupt {
                let at = bytes.len() - 10;
                bytes[at] ^= 0x40;
            }
            pkgs.push(Pkg { bytes, header_len, security_version: sv, kind });
        };
        for sv in 1..=6 {
            make(sv, Kind::Good);
        }
        make(9, Kind::Rogue);
        make(9, Kind::Corrupt);
        (dev, pkgs)
    })
}

fn packages() -> &'static [Pkg] {
    &fixture().1
}

#[derive(Debug, Clone, Copy)]
enum Cut {
    None,
    /// The stream ends after this many 256ths of the package (maybe inside the header).
    Stream(u8),
    /// The install is cancelled after this many operations.
    Cancel(usize),
    /// The stream ends there, then the power is cut (another boot).
    Power(u8),
    /// The power is cut at this bootloader write of the update (0: the first).
    BootWrite(usize),
}

#[derive(Debug, Clone)]
enum Op {
    Install {
        pkg: usize,
        cut: Cut,
    },
    /// Reboot; a healthy system runs mark-good, whose bootloader write may be cut,
    /// or whose slot record write may be lost (a cut just after the bootloader write).
    Reboot {
        healthy: bool,
        cut_mark_good: bool,
        lose_record: bool,
    },
    /// `fotad-update activate other`: back to the other slot by hand.
    SwitchBack,
}

fn cut() -> impl Strategy<Value = Cut> {
    prop_oneof![
        3 => Just(Cut::None),
        1 => any::<u8>().prop_map(Cut::Stream),
        1 => (0usize..6).prop_map(Cut::Cancel),
        1 => any::<u8>().prop_map(Cut::Power),
        1 => (0usize..2).prop_map(Cut::BootWrite),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => ((0usize..8), cut()).prop_map(|(pkg, cut)| Op::Install { pkg, cut }),
        4 => (prop::bool::weighted(0.8), prop::bool::weighted(0.15), prop::bool::weighted(0.2))
            .prop_map(|(healthy, cut_mark_good, lose_record)| Op::Reboot { healthy, cut_mark_good, lose_record }),
        1 => Just(Op::SwitchBack),
    ]
}

/// The device, and the model: what each slot verifiably holds (its security
/// version) and the highest security version ever confirmed.
struct World {
    dir: tempfile::TempDir,
    disk: SimDisk,
    booted: Slot,
    boots: u32,
    settings: Settings,
    slots: Slots,
    content: [Option<u64>; 2],
    confirmed_max: u64,
}

fn idx(s: Slot) -> usize {
    match s {
        Slot::A => 0,
        Slot::B => 1,
    }
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let keys = fixture().0.path("keys");
        let set =
            |name: &str| -> SlotSet { [("rootfs".to_string(), Partition::from_device(dir.path().join(name)))].into() };
        let slots = Slots::new(set("a.img"), set("b.img")).unwrap();
        std::fs::write(dir.path().join("a.img"), image(96 << 10, 0)).unwrap();
        let settings = Settings {
            compatible: Some("acme,gw-1".into()),
            keys_dir: keys,
            state_dir: dir.path().join("state"),
            tries: 2,
            cmdline: dir.path().join("cmdline"),
            mountinfo: dir.path().join("mountinfo"),
            read_timeout: fotad_updater::config::DEFAULT_READ_TIMEOUT,
            bootloader: BootloaderConfig::File { path: dir.path().join("unused") },
            slots: SlotSource::Config(slots.clone()),
        };
        let mut w = World {
            disk: SimDisk::new(BootState::FACTORY),
            booted: Slot::A,
            boots: 0,
            settings,
            slots,
            content: [Some(0), None],
            confirmed_max: 0,
            dir,
        };
        w.power_on();
        w
    }

    fn boot_id_path(&self) -> PathBuf {
        self.dir.path().join("boot_id")
    }

    fn lifecycle(&self) -> Lifecycle {
        let disk = Box::new(self.disk.clone());
        Lifecycle::from_parts(self.slots.clone(), self.booted, disk, &self.settings.state_dir).unwrap()
    }

    /// A boot: a new boot id, the boot scripts' selection.
    fn power_on(&mut self) {
        self.boots += 1;
        std::fs::write(self.boot_id_path(), format!("boot-{}\n", self.boots)).unwrap();
        let Selection::Boot(slot) = self.disk.power_on() else { panic!("no bootable slot: {:?}", self.disk.state()) };
        assert!(self.content[idx(slot)].is_some(), "booted slot {slot} without verified content");
        self.booted = slot;
    }

    fn after_cut(&mut self) {
        if self.disk.is_cut() {
            self.power_on();
        }
    }

    fn install(&mut self, pkg: &Pkg, cut: Cut) {
        let before = self.disk.state();
        if let Cut::BootWrite(n) = cut {
            self.disk.cut_power_at(n);
        }
        let mut update = match fotad_updater::update::begin_on(
            self.lifecycle(),
            &self.settings,
            fotad_updater::update::DevicePolicy::None,
            Default::default(),
        ) {
            Ok(u) => u,
            Err(e) => {
                let refused = before.get(self.booted) != SlotState::Good;
                assert!(refused || self.disk.is_cut(), "begin failed: {e}");
                return self.after_cut();
            }
        };
        let target = update.slot();
        update.set_boot_id_path(&self.boot_id_path());
        let cancel = update.installer().cancel_flag();
        let len = match cut {
            Cut::Stream(f) | Cut::Power(f) => pkg.bytes.len() * f as usize / 256,
            _ => pkg.bytes.len(),
        };
        let stop_after = match cut {
            Cut::Cancel(k) => Some(k),
            _ => None,
        };
        let result = update.installer().install(&pkg.bytes[..len], 0, &mut |p| {
            if stop_after.is_some_and(|k| p.ops_done > k) {
                cancel.store(true, Ordering::SeqCst);
            }
        });
        let sv = pkg.security_version;
        let checked = len >= pkg.header_len;
        match result {
            Ok(installed) => {
                assert!(
                    sv >= self.confirmed_max,
                    "accepted security version {sv} below the highest confirmed {}",
                    self.confirmed_max
                );
                assert_eq!(pkg.kind, Kind::Good, "a {:?} package was installed", pkg.kind);
                self.content[idx(target)] = Some(installed.security_version);
                let finished = update.activate(&installed);
                assert_eq!(finished.is_err(), self.disk.is_cut(), "{finished:?}");
            }
            Err(InstallError::Downgrade { package, installed }) => {
                assert!(
                    package < self.confirmed_max,
                    "{package} refused as a downgrade below {installed}, but the highest confirmed is {}",
                    self.confirmed_max
                );
                assert_eq!(self.disk.state(), before, "a downgrade refusal changed the slot state");
            }
            Err(e) => {
                if checked && pkg.kind != Kind::Rogue && sv < self.confirmed_max {
                    panic!(
                        "security version {sv} below the confirmed {} not refused as a downgrade: {e}",
                        self.confirmed_max
                    );
                }
                if self.disk.state().get(target) == SlotState::Bad {
                    self.content[idx(target)] = None;
                }
            }
        }
        match cut {
            Cut::Power(_) => self.power_on(),
            _ => self.after_cut(),
        }
    }

    fn reboot(&mut self, healthy: bool, cut_mark_good: bool, lose_record: bool) {
        self.power_on();
        if !healthy {
            return;
        }
        if cut_mark_good {
            self.disk.cut_power_at(0);
        }
        let record = self.settings.state_dir.join("slots.json");
        let saved = std::fs::read(&record).ok();
        match self.lifecycle().mark_good() {
            Err(e) => {
                assert!(self.disk.is_cut(), "mark-good failed: {e}");
                self.power_on();
            }
            Ok(_) => {
                let sv = self.content[idx(self.booted)].unwrap();
                self.confirmed_max = self.confirmed_max.max(sv);
                if lose_record {
                    match &saved {
                        Some(bytes) => std::fs::write(&record, bytes).unwrap(),
                        None => drop(std::fs::remove_file(&record)),
                    }
                    self.power_on();
                }
            }
        }
    }

    fn switch_back(&mut self) {
        let _ = self.lifecycle().switch_to(!self.booted, 2);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn no_package_below_the_highest_confirmed_security_version_is_ever_accepted(
        ops in prop::collection::vec(op(), 1..24)
    ) {
        let mut w = World::new();
        for op in ops {
            match op {
                Op::Install { pkg, cut } => w.install(&packages()[pkg], cut),
                Op::Reboot { healthy, cut_mark_good, lose_record } => w.reboot(healthy, cut_mark_good, lose_record),
                Op::SwitchBack => w.switch_back(),
            }
        }
    }
}
