//! `fotad-update install` reads and verifies the package before it changes any
//! slot state: a missing file, garbage, a package signed by an unknown key or a
//! file cut inside its header leave a good fallback slot good and an update
//! waiting for its trial boot in place (`fotad-update` as a process on file
//! slots). Exit codes: 1 for a missing file, 3 for a refused package.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use common::rig::Rig;
use common::s;
use fotad_updater::boot::SlotState;
use fotad_updater::delta::ImageInput;
use fotad_updater::package::write_keypair;
use fotad_updater::slot::Slot;

/// A device running a confirmed update in slot B, with slot A (the previous
/// system) confirmed too: the good fallback the next install would overwrite.
fn with_good_fallback() -> Rig {
    let r = Rig::new();
    r.update_and_confirm(&r.package("2.0", 5));
    let st = r.boot_state();
    assert_eq!((st.a, st.b), (SlotState::Good, SlotState::Good), "{st:?}");
    r
}

/// The bad inputs, each with the exit status it must give.
fn bad_packages(r: &Rig) -> Vec<(&'static str, PathBuf, i32)> {
    let garbage = r.dev.write("garbage.fota", b"GET / HTTP/1.1\r\nnot a package at all\r\n");
    let good = std::fs::read(r.package("9.0", 9)).unwrap();
    let header_cut = r.dev.write("header-cut.fota", &good[..200]);
    write_keypair(&r.dev.path("rogue")).unwrap();
    let rogue_img = r.dev.write("rogue.img", &common::image(common::rig::IMAGE_SIZE, 77));
    let mut spec = r.dev.spec(vec![("rootfs", ImageInput::Full { target: rogue_img })]);
    spec.security_version = 9;
    let rogue = r.dev.pack_with_key(&spec, "rogue.fota", &r.dev.path("rogue.key"));
    vec![
        ("a missing file", r.dev.path("no-such.fota"), 1),
        ("garbage", garbage, 3),
        ("a package signed by an unknown key", rogue, 3),
        ("a file cut inside its header", header_cut, 3),
    ]
}

/// Installs each bad input (from the same state: what one changed is put
/// back) and lists what went wrong: an exit status other than the expected
/// one, a changed bootloader state, slot record or install status.
fn wrongs_of_bad_inputs(r: &Rig) -> Vec<String> {
    let mut wrong = Vec::new();
    for (what, pkg, code) in bad_packages(r) {
        let before = r.snapshot();
        let out = r.cli(&["install", s(&pkg)]);
        if out.status.code() != Some(code) {
            wrong.push(format!("{what}: exit status {:?}, expected {code}", out.status.code()));
        }
        let after = r.snapshot();
        if after.0 != before.0 {
            wrong.push(format!("{what}: the bootloader state changed from {:?} to {:?}", before.0, after.0));
        }
        if after.1 != before.1 {
            wrong.push(format!("{what}: the slot record changed"));
        }
        if after.2 != before.2 {
            wrong.push(format!("{what}: the install status changed"));
        }
        r.restore(&before);
    }
    wrong
}

#[test]
fn bad_inputs_leave_a_good_fallback_slot_good() {
    let r = with_good_fallback();
    let wrong = wrongs_of_bad_inputs(&r);
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert_eq!(r.boot_state().get(Slot::A), SlotState::Good);
}

#[test]
fn bad_inputs_leave_an_update_waiting_for_its_trial_boot_in_place() {
    let r = Rig::new();
    r.ok(&["install", s(&r.package("2.0", 5))]);
    let waiting = r.boot_state();
    assert_eq!((waiting.primary, waiting.b), (Some(Slot::B), SlotState::Trial { tries_left: 2 }));
    let wrong = wrongs_of_bad_inputs(&r);
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert_eq!(r.status()["pending"]["target"], "B");
    r.ok(&["simulate-boot"]);
    let out = r.ok(&["mark-good"]);
    assert!(out.contains("Updated"), "the waiting update was not the one booted: {out}");
}

#[test]
fn a_cut_package_file_is_resumable_only_past_its_header() {
    let r = Rig::new();
    let whole = std::fs::read(r.package("2.0", 5)).unwrap();
    let header = fotad_updater::package::read_header(&mut whole.as_slice()).unwrap().payload_offset() as usize;
    let in_header = r.dev.write("in-header.fota", &whole[..header - 10]);
    let out = r.cli(&["install", s(&in_header)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("install failed (corrupt)") && !err.contains("resum"), "{err}");
    let in_payload = r.dev.write("in-payload.fota", &whole[..header + (whole.len() - header) / 2]);
    assert_eq!(r.cli(&["install", s(&in_payload)]).status.code(), Some(75));
}

/// The pipeline every caller uses (`update::begin` → `Installer::install`, as
/// the agent's download streams into it) on the boot simulator.
mod pipeline {
    use std::sync::{Arc, Mutex};

    use fotad_updater::boot::sim::SimDisk;
    use fotad_updater::boot::{BootState, SlotState};
    use fotad_updater::config::{BootloaderConfig, Settings, SlotSource, DEFAULT_READ_TIMEOUT};
    use fotad_updater::lifecycle::{Lifecycle, LifecycleError};
    use fotad_updater::slot::{Partition, Slot, SlotSet, Slots};
    use fotad_updater::update::{begin_on, DevicePolicy};
    use fotad_updater::InstallError;

    use super::common::rig::Rig;

    fn settings(r: &Rig) -> Settings {
        let set = |name: &str| -> SlotSet { [("rootfs".to_string(), Partition::from_device(r.dev.path(name)))].into() };
        Settings {
            compatible: Some("acme,gw-1".into()),
            keys_dir: r.dev.path("keys"),
            state_dir: r.dev.path("state"),
            tries: 2,
            cmdline: r.dev.path("cmdline"),
            mountinfo: r.dev.path("mountinfo"),
            read_timeout: DEFAULT_READ_TIMEOUT,
            bootloader: BootloaderConfig::File { path: r.dev.path("unused") },
            slots: SlotSource::Config(Slots::new(set("rootfs-a.img"), set("rootfs-b.img")).unwrap()),
        }
    }

    fn lifecycle(r: &Rig, disk: &SimDisk) -> Lifecycle {
        let slots = match settings(r).slots {
            SlotSource::Config(s) => s,
            SlotSource::Gpt { .. } => unreachable!(),
        };
        Lifecycle::from_parts(slots, Slot::A, Box::new(disk.clone()), &r.dev.path("state")).unwrap()
    }

    #[test]
    fn the_slot_is_marked_bad_inside_the_install_right_before_the_first_write() {
        let r = Rig::new();
        let good = BootState { primary: Some(Slot::A), a: SlotState::Good, b: SlotState::Good };
        let disk = SimDisk::new(good);
        let update = begin_on(lifecycle(&r, &disk), &settings(&r), DevicePolicy::None, Default::default()).unwrap();
        assert_eq!(disk.state(), good, "begin changed the slot state");

        let garbage = b"\x89FOTA\r\n\x1a\0\x01\0\0\0\0\0\x10not a manifest at all";
        let err = update.installer().install(&garbage[..], 0, &mut |_| {}).unwrap_err();
        assert!(err.is_refusal(), "{err}");
        assert_eq!(disk.state(), good, "a refused stream changed the slot state");

        let pkg = std::fs::read(r.package("2.0", 5)).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (log, watched) = (Arc::clone(&seen), disk);
        let done = update.installer().install(pkg.as_slice(), 0, &mut move |p| {
            log.lock().unwrap().push((p.ops_done, watched.state().b));
        });
        assert!(done.is_ok(), "{done:?}");
        let seen = seen.lock().unwrap();
        assert!(!seen.is_empty() && seen.iter().all(|(_, b)| *b == SlotState::Bad), "{seen:?}");
    }

    #[test]
    fn when_the_slot_cannot_be_marked_bad_nothing_is_written() {
        let r = Rig::new();
        let disk = SimDisk::new(BootState { primary: Some(Slot::A), a: SlotState::Good, b: SlotState::Good });
        let update = begin_on(lifecycle(&r, &disk), &settings(&r), DevicePolicy::None, Default::default()).unwrap();
        let slot_b = std::fs::read(r.dev.path("rootfs-b.img")).unwrap();
        let before = r.snapshot();
        disk.cut_power_at(0);
        let pkg = std::fs::read(r.package("2.0", 5)).unwrap();
        let err = update.installer().install(pkg.as_slice(), 0, &mut |_| {}).unwrap_err();
        assert!(matches!(&err, InstallError::Slot(e) if matches!(**e, LifecycleError::Boot { .. })), "{err}");
        assert!(std::fs::read(r.dev.path("rootfs-b.img")).unwrap() == slot_b, "slot B written");
        let after = r.snapshot();
        assert!(after.1 == before.1 && after.2 == before.2, "the records changed");
        assert!(update.installer().checkpoint().unwrap().is_none(), "a checkpoint was written");
    }
}
