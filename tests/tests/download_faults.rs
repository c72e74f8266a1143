//! The download agent against the real nginx through the fault proxy: resets,
//! stalls and truncations end with the exact image in the slot file; a 404
//! and a badly signed package end at once with their FUMO codes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dl;

use std::time::Duration;

use dl::Rig;
use fotad::download::DownloadError;
use fotad_tests::faultproxy::{Fault, FaultProxy};
use fotad_tests::nginx::Nginx;

const MIB: u64 = 1 << 20;

#[test]
fn resets_stalls_and_truncations_end_with_the_exact_image() {
    let rig = Rig::new();
    let pkg = rig.package("p.fota", 3 * MIB, 1, None);
    let nginx = Nginx::start(&rig.www(), None).unwrap();
    let script = vec![
        Fault::ResetAfter(pkg.size / 5),
        Fault::TruncateAfter(200),
        Fault::StallAfter(pkg.size / 10, Duration::from_secs(4)),
        Fault::ResetAfter(10),
        Fault::TruncateAfter(pkg.size / 3),
    ];
    let cuts = script.len() as u64;
    let proxy = FaultProxy::start(nginx.addr(), script).unwrap();
    let url = proxy.url("/p.fota");
    let mut last = None;
    let started = std::time::Instant::now();
    let report = dl::downloader(Duration::from_secs(60))
        .download(&rig.job(&url), &rig.installer(), &mut |p| last = Some(p))
        .unwrap();
    assert!(rig.slot() == pkg.image, "slot differs from the image");
    assert!(started.elapsed() >= dl::settings(Duration::ZERO).read_timeout, "the stall was not waited out");
    assert_eq!(report.attempts, cuts as u32 + 1);
    let last = last.unwrap();
    assert_eq!((last.bytes_done, last.bytes_total, last.percent), (pkg.size, pkg.size, 100));
    let bound = pkg.size + cuts * pkg.largest_op;
    let forwarded = proxy.bytes_forwarded();
    assert!(report.bytes_fetched <= bound, "{} bytes read ({forwarded} forwarded) > {bound}", report.bytes_fetched);
    assert!(!rig.state.join("download.json").exists(), "resume record left after success");
}

#[test]
fn a_missing_package_is_final_bad_url_411_without_retries() {
    let rig = Rig::new();
    let nginx = Nginx::start(&rig.www(), None).unwrap();
    let proxy = FaultProxy::start(nginx.addr(), vec![]).unwrap();
    let url = proxy.url("/absent.fota?token=secret");
    let e =
        dl::downloader(Duration::from_secs(30)).download(&rig.job(&url), &rig.installer(), &mut |_| {}).unwrap_err();
    assert!(matches!(e, DownloadError::Http { status: 404, .. }), "{e}");
    assert_eq!(fotad::fumo::FumoResult::from(&e).code(), 411);
    assert!(!e.to_string().contains("secret"), "the token leaked into {e}");
    assert_eq!(proxy.connections(), 1);
}

#[test]
fn a_badly_signed_package_is_refused_404_without_retries_or_writes() {
    let rig = Rig::new();
    fotad_updater::package::write_keypair(&rig.path("rogue")).unwrap();
    rig.package("rogue.fota", MIB, 2, Some(&rig.path("rogue.key")));
    let nginx = Nginx::start(&rig.www(), None).unwrap();
    let proxy = FaultProxy::start(nginx.addr(), vec![]).unwrap();
    let url = proxy.url("/rogue.fota");
    let e =
        dl::downloader(Duration::from_secs(30)).download(&rig.job(&url), &rig.installer(), &mut |_| {}).unwrap_err();
    assert!(matches!(e, DownloadError::Install { .. }), "{e}");
    assert_eq!(fotad::fumo::FumoResult::from(&e).code(), 404);
    assert_eq!(proxy.connections(), 1);
    assert!(!rig.path("slot_b").exists(), "the slot was touched");
}

#[test]
fn a_file_changed_on_the_server_restarts_and_ends_with_the_new_image() {
    let rig = Rig::new();
    let old = rig.package("p.fota", 2 * MIB, 3, None);
    let nginx = Nginx::start(&rig.www(), None).unwrap();
    let proxy = FaultProxy::start(nginx.addr(), vec![Fault::TruncateAfter(old.size / 2)]).unwrap();
    let url = proxy.url("/p.fota");
    // A deadline shorter than the first backoff: the cut ends this run, the
    // resume record (validator) stays.
    let e =
        dl::downloader(Duration::from_millis(1)).download(&rig.job(&url), &rig.installer(), &mut |_| {}).unwrap_err();
    assert!(matches!(e, DownloadError::Deadline { .. }), "{e}");
    assert!(rig.installer().checkpoint().unwrap().is_some_and(|cp| cp.next_offset > 0));
    let new = rig.package("p.fota", 2 * MIB, 4, None);
    let later = std::time::SystemTime::now() + Duration::from_secs(100);
    std::fs::File::options().write(true).open(rig.www().join("p.fota")).unwrap().set_modified(later).unwrap();
    let before = proxy.bytes_forwarded();
    let report =
        dl::downloader(Duration::from_secs(30)).download(&rig.job(&url), &rig.installer(), &mut |_| {}).unwrap();
    assert!(rig.slot() == new.image, "slot does not hold the new image");
    assert_eq!(report.installed.version, "2.0.4");
    assert!(proxy.bytes_forwarded() - before >= new.size, "the new package was not fetched whole");
}

#[test]
fn server_errors_and_throttling_are_retried_until_the_package_comes() {
    let rig = Rig::new();
    let pkg = rig.package("p.fota", MIB, 10, None);
    let nginx = Nginx::start(&rig.www(), None).unwrap();
    let script = vec![Fault::Status(503), Fault::Status(429), Fault::Status(500), Fault::Status(408)];
    let proxy = FaultProxy::start(nginx.addr(), script).unwrap();
    let url = proxy.url("/p.fota");
    let report =
        dl::downloader(Duration::from_secs(30)).download(&rig.job(&url), &rig.installer(), &mut |_| {}).unwrap();
    assert!(rig.slot() == pkg.image, "slot differs from the image");
    assert_eq!((report.attempts, proxy.connections()), (5, 5));
}

#[test]
fn a_server_failing_past_the_deadline_ends_with_500() {
    let rig = Rig::new();
    rig.package("p.fota", MIB, 11, None);
    let nginx = Nginx::start(&rig.www(), None).unwrap();
    let proxy = FaultProxy::start(nginx.addr(), vec![Fault::Status(503); 1000]).unwrap();
    let url = proxy.url("/p.fota");
    let started = std::time::Instant::now();
    let e = dl::downloader(Duration::from_secs(2)).download(&rig.job(&url), &rig.installer(), &mut |_| {}).unwrap_err();
    assert!(matches!(e, DownloadError::Deadline { .. }), "{e}");
    assert_eq!(fotad::fumo::FumoResult::from(&e).code(), 500);
    assert!(started.elapsed() <= Duration::from_secs(3), "the deadline was overrun: {:?}", started.elapsed());
    assert!(proxy.connections() > 3, "only {} attempts before the deadline", proxy.connections());
}
