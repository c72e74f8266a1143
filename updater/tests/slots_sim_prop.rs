//! Property test of the whole lifecycle on the boot simulator: any sequence of
//! updates (with a failed verification or a power cut at any bootloader write or
//! during the install), boots that come up healthy or not, power cuts before
//! mark-good, and mark-good, always leaves a bootable slot with verified content,
//! never boots a slot whose install did not verify, and never abandons a confirmed
//! slot.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use fotad_updater::boot::sim::{Selection, SimDisk};
use fotad_updater::boot::{BootState, SlotState};
use fotad_updater::lifecycle::{BootCheck, Lifecycle};
use fotad_updater::slot::record::{SlotContent, UpdateResult};
use fotad_updater::slot::{Partition, Slot, SlotSet, Slots};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Install an update into the inactive slot. `cut_write`: the bootloader write
    /// (0 = mark target bad, 1 = make it primary) lost to a power cut;
    /// `cut_install`: power lost while writing the slot; `verifies`: read-back
    /// verification passes.
    Update { cut_write: Option<usize>, cut_install: bool, verifies: bool, tries: u8 },
    /// Reboot; the booted system is healthy (and runs mark-good) or not, and the
    /// power may be cut during mark-good's bootloader write.
    Reboot { healthy: bool, cut_mark_good: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (proptest::option::of(0usize..2), any::<bool>(), prop::bool::weighted(0.8), 1u8..4).prop_map(
            |(cut_write, cut_install, verifies, tries)| Op::Update { cut_write, cut_install, verifies, tries }
        ),
        (any::<bool>(), prop::bool::weighted(0.2))
            .prop_map(|(healthy, cut_mark_good)| { Op::Reboot { healthy, cut_mark_good } }),
    ]
}

/// The device: bootloader state, what each slot holds, what runs.
struct World {
    disk: SimDisk,
    verified: [bool; 2],
    booted: Slot,
    next_version: u32,
    slots: Slots,
}

fn idx(s: Slot) -> usize {
    match s {
        Slot::A => 0,
        Slot::B => 1,
    }
}

fn slots() -> Slots {
    let set = |dev: &str| -> SlotSet { [("rootfs".to_string(), Partition::from_device(dev))].into() };
    Slots::new(set("/dev/sim-a"), set("/dev/sim-b")).unwrap()
}

impl World {
    fn new() -> World {
        World {
            disk: SimDisk::new(BootState::FACTORY),
            verified: [true, false],
            booted: Slot::A,
            next_version: 2,
            slots: slots(),
        }
    }

    fn lifecycle(&self, dir: &Path) -> Lifecycle {
        Lifecycle::from_parts(self.slots.clone(), self.booted, Box::new(self.disk.clone()), dir).unwrap()
    }

    /// Every bootable slot holds verified content, and one is bootable.
    fn check_bootable(&self, when: &str) {
        let st = self.disk.state();
        for s in Slot::ALL {
            if st.get(s).bootable() {
                assert!(self.verified[idx(s)], "{when}: slot {s} bootable with unverified content: {st:?}");
            }
        }
        assert!(st.a.bootable() || st.b.bootable(), "{when}: no bootable slot: {st:?}");
    }

    /// Powers on: the selection must find a verified slot, and must not spend or
    /// skip a confirmed primary.
    fn power_on(&mut self) {
        let before = self.disk.state();
        let choice = self.disk.power_on();
        let after = self.disk.state();
        let Selection::Boot(slot) = choice else { panic!("no bootable slot: {before:?}") };
        assert!(self.verified[idx(slot)], "booted slot {slot} whose install did not verify: {before:?}");
        for s in Slot::ALL {
            if before.get(s) == SlotState::Good {
                assert_eq!(after.get(s), SlotState::Good, "a boot changed confirmed slot {s}");
            }
        }
        if let Some(p) = before.primary.filter(|p| before.get(*p) == SlotState::Good) {
            assert_eq!(slot, p, "confirmed primary {p} abandoned: {before:?}");
        }
        self.booted = slot;
    }

    fn update(&mut self, dir: &Path, cut_write: Option<usize>, cut_install: bool, verifies: bool, tries: u8) {
        if let Some(n) = cut_write {
            self.disk.cut_power_at(n);
        }
        let mut lc = self.lifecycle(dir);
        let good_before = self.disk.state();
        let Ok(target) = lc.prepare_target() else {
            // Refused (booted slot not confirmed) or power cut at the first write.
            assert!(self.disk.is_cut() || good_before.get(self.booted) != SlotState::Good);
            return self.after_cut();
        };
        assert_eq!(target.slot, !self.booted);
        assert_eq!(self.disk.state().get(target.slot), SlotState::Bad, "target marked bad before writing");
        assert_eq!(good_before.get(self.booted), SlotState::Good);
        self.verified[idx(target.slot)] = false;
        if cut_install {
            self.disk.cut_power_at(0);
            return self.after_cut();
        }
        if !verifies {
            return self.after_cut();
        }
        self.verified[idx(target.slot)] = true;
        let version = self.next_version.to_string();
        self.next_version += 1;
        let activated = lc.activate(target.slot, tries, Some(&SlotContent::new(version, 1)));
        assert_eq!(activated.is_err(), self.disk.is_cut());
        self.after_cut();
    }

    /// Reboots when the power was cut; otherwise the system keeps running.
    fn after_cut(&mut self) {
        if self.disk.is_cut() {
            self.power_on();
        }
    }

    fn reboot(&mut self, dir: &Path, healthy: bool, cut_mark_good: bool) {
        self.power_on();
        if !healthy {
            return;
        }
        if cut_mark_good {
            self.disk.cut_power_at(0);
        }
        let mut lc = self.lifecycle(dir);
        match lc.mark_good() {
            Err(_) => {
                assert!(self.disk.is_cut());
                self.power_on();
            }
            Ok(check) => {
                let st = self.disk.state();
                assert_eq!(st.get(self.booted), SlotState::Good);
                if let BootCheck::Done(o) = check {
                    match o.result {
                        UpdateResult::Updated => assert_eq!(o.target, self.booted),
                        UpdateResult::FellBack => assert!(!st.get(o.target).bootable()),
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn lifecycle_on_the_simulator_keeps_a_verified_bootable_slot(ops in prop::collection::vec(op(), 1..30)) {
        let dir = tempfile::tempdir().unwrap();
        let mut world = World::new();
        world.power_on();
        for op in ops {
            match op {
                Op::Update { cut_write, cut_install, verifies, tries } =>
                    world.update(dir.path(), cut_write, cut_install, verifies, tries),
                Op::Reboot { healthy, cut_mark_good } => world.reboot(dir.path(), healthy, cut_mark_good),
            }
            world.check_bootable(&format!("after {op:?}"));
        }
    }
}

#[test]
fn an_update_that_boots_healthy_is_confirmed_and_one_that_never_comes_up_falls_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = World::new();
    w.power_on();
    w.update(dir.path(), None, false, true, 2);
    w.reboot(dir.path(), true, false);
    assert_eq!(w.booted, Slot::B);
    assert_eq!(w.disk.state(), BootState { primary: Some(Slot::B), a: SlotState::Good, b: SlotState::Good });
    let mut lc = w.lifecycle(dir.path());
    assert_eq!(lc.take_outcome().unwrap().unwrap().result, UpdateResult::Updated);
    // Next update (into A) never comes up: 2 tries, then B again.
    w.update(dir.path(), None, false, true, 2);
    for _ in 0..2 {
        w.reboot(dir.path(), false, false);
        assert_eq!(w.booted, Slot::A);
    }
    w.reboot(dir.path(), true, false);
    assert_eq!(w.booted, Slot::B);
    let outcome = w.lifecycle(dir.path()).take_outcome().unwrap().unwrap();
    assert_eq!((outcome.result, outcome.target, outcome.booted), (UpdateResult::FellBack, Slot::A, Slot::B));
}

#[test]
fn power_cuts_before_mark_good_never_abandon_a_confirmed_slot() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = World::new();
    for _ in 0..20 {
        w.reboot(dir.path(), false, false);
        assert_eq!(w.booted, Slot::A);
    }
    assert_eq!(w.disk.state(), BootState::FACTORY);
}
