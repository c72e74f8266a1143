//! The lifecycle's refusals and boot outcomes, on the in-memory simulator backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use fotad_updater::boot::sim::SimDisk;
use fotad_updater::boot::{BootState, SlotState};
use fotad_updater::lifecycle::{BootCheck, Lifecycle, LifecycleError};
use fotad_updater::slot::record::{SlotContent, UpdateResult};
use fotad_updater::slot::{Partition, Slot, SlotSet, Slots};

fn slots() -> Slots {
    let set = |r: &str, b: &str| -> SlotSet {
        [("rootfs".to_string(), Partition::from_device(r)), ("boot".to_string(), Partition::from_device(b))].into()
    };
    Slots::new(set("/dev/a2", "/dev/a1"), set("/dev/b2", "/dev/b1")).unwrap()
}

fn lc(disk: &SimDisk, booted: Slot, dir: &Path) -> Lifecycle {
    Lifecycle::from_parts(slots(), booted, Box::new(disk.clone()), dir).unwrap()
}

#[test]
fn prepare_target_returns_inactive_targets_with_booted_sources() {
    let d = tempfile::tempdir().unwrap();
    let disk =
        SimDisk::new(BootState { primary: Some(Slot::B), a: SlotState::Good, b: SlotState::Trial { tries_left: 1 } });
    let t = lc(&disk, Slot::A, d.path()).prepare_target().unwrap();
    assert_eq!(t.slot, Slot::B);
    assert_eq!(t.images["boot"].target, Path::new("/dev/b1"));
    assert_eq!(t.images["boot"].source.as_deref(), Some(Path::new("/dev/a1")));
    assert_eq!(disk.state(), BootState { primary: Some(Slot::A), a: SlotState::Good, b: SlotState::Bad });
}

#[test]
fn refusals_protect_the_running_and_the_confirmed_slot() {
    let d = tempfile::tempdir().unwrap();
    let unconfirmed = BootState { primary: Some(Slot::B), a: SlotState::Good, b: SlotState::Trial { tries_left: 2 } };
    let disk = SimDisk::new(unconfirmed);
    let mut l = lc(&disk, Slot::B, d.path());
    assert!(matches!(l.prepare_target(), Err(LifecycleError::BootedNotConfirmed(Slot::B))));
    assert!(matches!(l.activate(Slot::B, 3, None), Err(LifecycleError::TargetIsBooted(Slot::B))));
    assert!(matches!(l.switch_to(Slot::A, 0), Err(LifecycleError::Tries(0))));
    assert!(matches!(l.switch_to(Slot::A, 10), Err(LifecycleError::Tries(10))));
    assert_eq!(disk.state(), unconfirmed, "refused calls write nothing");

    let disk = SimDisk::new(BootState::FACTORY);
    let mut l = lc(&disk, Slot::A, d.path());
    assert!(matches!(l.switch_to(Slot::B, 3), Err(LifecycleError::SlotIsBad(Slot::B))));
    assert!(matches!(l.mark_bad(Slot::A), Err(LifecycleError::NoFallback { slot: Slot::A, .. })));
    assert_eq!(disk.state(), BootState::FACTORY);
}

#[test]
fn check_boot_walks_waiting_booted_new_and_updated() {
    let d = tempfile::tempdir().unwrap();
    let disk = SimDisk::new(BootState::FACTORY);
    let mut l = lc(&disk, Slot::A, d.path());
    assert_eq!(l.check_boot().unwrap(), BootCheck::NoUpdate);
    let t = l.prepare_target().unwrap();
    l.activate(t.slot, 2, Some(&SlotContent::new("7", 1))).unwrap();
    assert_eq!(l.check_boot().unwrap(), BootCheck::Waiting { target: Slot::B });
    assert_eq!(l.mark_good().unwrap(), BootCheck::Waiting { target: Slot::B }, "mark-good on A keeps the activation");
    assert_eq!(disk.state().primary, Some(Slot::B));
    disk.power_on();
    let mut l = lc(&disk, Slot::B, d.path());
    assert_eq!(l.check_boot().unwrap(), BootCheck::BootedNew { target: Slot::B });
    let BootCheck::Done(o) = l.mark_good().unwrap() else { panic!("outcome expected") };
    assert_eq!(
        (o.result, o.target, o.booted, o.version.as_deref()),
        (UpdateResult::Updated, Slot::B, Slot::B, Some("7"))
    );
    assert_eq!(l.take_outcome().unwrap(), Some(o));
    assert_eq!(l.take_outcome().unwrap(), None, "taken once");
    assert_eq!(l.status().unwrap().slots[1].version.as_deref(), Some("7"));
}

#[test]
fn power_cut_between_record_and_bootloader_write_reports_fell_back() {
    let d = tempfile::tempdir().unwrap();
    let disk = SimDisk::new(BootState::FACTORY);
    let mut l = lc(&disk, Slot::A, d.path());
    let t = l.prepare_target().unwrap();
    disk.cut_power_at(0);
    assert!(l.activate(t.slot, 3, Some(&SlotContent::new("8", 1))).is_err());
    disk.power_on();
    let mut l = lc(&disk, Slot::A, d.path());
    let BootCheck::Done(o) = l.mark_good().unwrap() else { panic!("outcome expected") };
    assert_eq!((o.result, o.target), (UpdateResult::FellBack, Slot::B));
    assert_eq!(l.status().unwrap().slots[1].version, None, "the failed version is forgotten");
}

#[test]
fn switching_back_to_a_confirmed_slot_keeps_it_confirmed_and_never_leaves_no_bootable_slot() {
    let d = tempfile::tempdir().unwrap();
    // B booted in its last trial boot, unconfirmed; A is the confirmed fallback.
    let trial = BootState { primary: Some(Slot::B), a: SlotState::Good, b: SlotState::Trial { tries_left: 0 } };
    let disk = SimDisk::new(trial);
    lc(&disk, Slot::B, d.path()).switch_to(Slot::A, 2).unwrap();
    assert_eq!(
        disk.state(),
        BootState { primary: Some(Slot::A), a: SlotState::Good, b: SlotState::Trial { tries_left: 0 } },
        "a confirmed slot made primary again must stay confirmed"
    );
    for _ in 0..5 {
        assert_eq!(disk.power_on(), fotad_updater::boot::sim::Selection::Boot(Slot::A));
    }

    // Putting an unconfirmed slot on trial needs a confirmed slot to fall back to.
    let both_unconfirmed = BootState {
        primary: Some(Slot::B),
        a: SlotState::Trial { tries_left: 0 },
        b: SlotState::Trial { tries_left: 1 },
    };
    let disk = SimDisk::new(both_unconfirmed);
    let refused = lc(&disk, Slot::B, d.path()).switch_to(Slot::A, 2);
    assert!(matches!(refused, Err(LifecycleError::BootedNotConfirmed(Slot::B))), "{refused:?}");
    assert_eq!(disk.state(), both_unconfirmed);
}
