//! The anti-rollback floor is the highest security version ever confirmed on
//! the device's slots: interrupted and refused installs, which rewrite the
//! installer's status record, never lower it (`fotad-update` as a process on
//! file slots).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::rig::Rig;
use common::s;
use fotad_updater::boot::SlotState;

#[test]
fn an_interrupted_or_refused_install_does_not_lower_the_downgrade_floor() {
    let r = Rig::new();
    r.update_and_confirm(&r.package("2.0", 5));
    assert_eq!(r.status()["booted"], "B");

    // An install of 3.0 (security 6) cut in its payload: interrupted, resumable.
    let v3 = std::fs::read(r.package("3.0", 6)).unwrap();
    let cut = r.dev.write("cut.fota", &v3[..v3.len() * 2 / 3]);
    assert_eq!(r.cli(&["install", s(&cut)]).status.code(), Some(75));
    // The floor holds after the interruption...
    let old = r.package("1.5", 3);
    let out = r.cli(&["install", s(&old)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "security version 3 accepted below the confirmed 5: {err}");
    assert!(err.contains("install failed (downgrade)") && err.contains("downgrade"), "{err}");

    // ...and after a refused install (payload corrupt: recorded as failed).
    let mut bad = v3;
    let at = bad.len() - 100;
    bad[at] ^= 0x55;
    let bad = r.dev.write("bad.fota", &bad);
    assert_eq!(r.cli(&["install", s(&bad)]).status.code(), Some(3));
    let out = r.cli(&["install", s(&old)]);
    assert_eq!(out.status.code(), Some(3), "security version 3 accepted after a refused install");
    assert_eq!(r.boot_state().get(fotad_updater::slot::Slot::B), SlotState::Good);

    // A package at the floor still installs.
    r.ok(&["install", s(&r.package("2.1", 5))]);
}

#[test]
fn the_floor_is_the_highest_confirmed_even_after_switching_back_to_an_older_slot() {
    let r = Rig::new();
    r.update_and_confirm(&r.package("2.0", 5)); // B: security 5, confirmed
    r.update_and_confirm(&r.package("3.0", 7)); // A: security 7, confirmed
    r.ok(&["activate", "other"]); // back to B (security 5) by hand
    r.ok(&["simulate-boot"]);
    r.ok(&["mark-good"]);
    assert_eq!(r.status()["booted"], "B");
    let out = r.cli(&["install", s(&r.package("2.5", 6))]);
    assert_eq!(out.status.code(), Some(3), "security version 6 accepted below the confirmed 7");
    assert_eq!(r.status()["security_floor"], 7);
}

#[test]
fn a_device_updated_by_a_fotad_without_the_floor_record_keeps_its_confirmed_security_version() {
    let r = Rig::new();
    r.update_and_confirm(&r.package("2.0", 5));
    assert_eq!(r.status()["booted"], "B");
    // The slot record as fotad 0.1 wrote it: versions only, no security versions.
    let path = r.dev.path("state/slots.json");
    let mut record: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let record = record.as_object_mut().unwrap();
    record.remove("security_versions");
    record.remove("security_floor");
    std::fs::write(&path, serde_json::to_vec(record).unwrap()).unwrap();
    assert_eq!(r.status()["security_floor"], 5, "the status record's security version was not carried over");
    let out = r.cli(&["install", s(&r.package("1.5", 3))]);
    assert_eq!(out.status.code(), Some(3), "security version 3 accepted below the confirmed 5 after the upgrade");
}
