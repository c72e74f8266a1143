//! An agent "restart" mid-download: everything dropped, a new installer and
//! download agent built from the state directory resume with a Range request,
//! so the bytes fetched in total stay within the size plus one operation.
//! A cancel through the installer's flag stops at a checkpoint and resumes too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dl;

use std::sync::atomic::Ordering;
use std::time::Duration;

use dl::Rig;
use fotad::download::{DownloadError, ResumeState};
use fotad_tests::faultproxy::{Fault, FaultProxy};
use fotad_tests::nginx::Nginx;

const MIB: u64 = 1 << 20;

#[test]
fn a_restarted_agent_resumes_with_range_from_the_persisted_state() {
    let rig = Rig::new();
    let pkg = rig.package("p.fota", 3 * MIB, 5, None);
    let nginx = Nginx::start(&rig.www(), None).unwrap();
    let proxy = FaultProxy::start(nginx.addr(), vec![Fault::ResetAfter(pkg.size * 2 / 5)]).unwrap();
    let url = proxy.url("/p.fota?session=abc");
    let first_run = {
        let agent = dl::downloader(Duration::from_millis(1));
        let e = agent.download(&rig.job(&url), &rig.installer(), &mut |_| {}).unwrap_err();
        assert!(matches!(e, DownloadError::Deadline { .. }), "{e}");
        agent.bytes_fetched()
    };
    let stored = ResumeState::load(&rig.state, &url).unwrap().expect("download.json after the cut");
    assert!(stored.validator.is_some() && stored.total == Some(pkg.size), "{stored:?}");
    let offset = rig.installer().checkpoint().unwrap().unwrap().next_offset;
    assert!(offset > 0 && offset < pkg.size);

    let mut first_progress = None;
    let report = dl::downloader(Duration::from_secs(30))
        .download(&rig.job(&url), &rig.installer(), &mut |p| {
            first_progress.get_or_insert(p);
        })
        .unwrap();
    assert!(rig.slot() == pkg.image, "slot differs from the image");
    assert_eq!(report.attempts, 1);
    assert_eq!(report.bytes_fetched, pkg.size - offset, "the second run did not start at the checkpoint");
    assert!(first_progress.unwrap().bytes_done > offset);
    // What the agent read; the proxy also counts what sat in the socket
    // buffers when the connection was reset (lost with it, never read).
    let total = first_run + report.bytes_fetched;
    let bound = pkg.size + pkg.largest_op;
    let forwarded = proxy.bytes_forwarded();
    assert!(total <= bound, "{total} bytes read in total ({forwarded} forwarded) > {bound}");
}

#[test]
fn a_cancel_stops_at_a_checkpoint_with_401_and_the_next_run_resumes() {
    let rig = Rig::new();
    let pkg = rig.package("p.fota", 2 * MIB, 6, None);
    let nginx = Nginx::start(&rig.www(), None).unwrap();
    let url = nginx.url("/p.fota");
    let installer = rig.installer();
    let cancel = installer.cancel_flag();
    let e = dl::downloader(Duration::from_secs(30))
        .download(&rig.job(&url), &installer, &mut |p| {
            if p.percent >= 30 {
                cancel.store(true, Ordering::SeqCst);
            }
        })
        .unwrap_err();
    assert!(matches!(e, DownloadError::Cancelled { .. }), "{e}");
    assert_eq!(fotad::fumo::FumoResult::from(&e).code(), 401);
    let offset = installer.checkpoint().unwrap().unwrap().next_offset;
    assert!(offset > 0 && offset < pkg.size);
    let report =
        dl::downloader(Duration::from_secs(30)).download(&rig.job(&url), &rig.installer(), &mut |_| {}).unwrap();
    assert!(rig.slot() == pkg.image, "slot differs from the image");
    assert_eq!(report.bytes_fetched, pkg.size - offset);
}

#[test]
fn a_leftover_checkpoint_of_another_package_is_never_resumed_with_a_range() {
    let rig = Rig::new();
    rig.package("a.fota", 2 * MIB, 12, None);
    let b = rig.package("b.fota", 2 * MIB, 13, None);
    let nginx = Nginx::start(&rig.www(), None).unwrap();
    let proxy =
        FaultProxy::start(nginx.addr(), vec![Fault::TruncateAfter(b.size / 2), Fault::TruncateAfter(400)]).unwrap();
    let a_url = proxy.url("/a.fota");
    let e =
        dl::downloader(Duration::from_millis(1)).download(&rig.job(&a_url), &rig.installer(), &mut |_| {}).unwrap_err();
    assert!(matches!(e, DownloadError::Deadline { .. }), "{e}");
    assert!(rig.installer().checkpoint().unwrap().is_some(), "package a left no checkpoint");
    // b's first connection is cut before its first operation completes: a's
    // checkpoint is still there, but b must restart from 0, not range from it.
    let b_url = proxy.url("/b.fota");
    let report =
        dl::downloader(Duration::from_secs(30)).download(&rig.job(&b_url), &rig.installer(), &mut |_| {}).unwrap();
    assert!(rig.slot() == b.image, "slot differs from image b");
    assert_eq!(report.attempts, 2);
}
