//! HTTPS downloads from the real nginx with a certificate from a CA the test
//! makes with the `openssl` CLI: the CA bundle setting makes it trusted; with
//! another CA the download fails at once with a clear TLS error (no retries).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dl;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use dl::Rig;
use fotad::download::{DownloadError, DownloadSettings, Downloader};
use fotad_tests::nginx::{Nginx, TlsFiles};

fn openssl(args: &[&str], dir: &Path) {
    let out =
        Command::new("openssl").args(args).current_dir(dir).output().unwrap_or_else(|e| {
            panic!("cannot run openssl ({e}): install the Debian package openssl (scripts/test does)")
        });
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA `<name>-ca.pem` and, when `server`, a localhost certificate it signed.
fn make_ca(dir: &Path, name: &str, server: bool) -> TlsFiles {
    let ca_key = format!("{name}-ca.key");
    let ca = format!("{name}-ca.pem");
    let subject = format!("/CN=fotad test CA {name}");
    openssl(
        &[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", &subject, "-keyout", &ca_key,
            "-out", &ca,
        ],
        dir,
    );
    if server {
        openssl(
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ],
            dir,
        );
        std::fs::write(dir.join("ext.cnf"), "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n").unwrap();
        let sign =
            ["x509", "-req", "-in", "server.csr", "-CA", &ca, "-CAkey", &ca_key, "-CAcreateserial", "-days", "2"];
        openssl(&[&sign[..], &["-extfile", "ext.cnf", "-out", "server.pem"]].concat(), dir);
    }
    TlsFiles { cert: dir.join("server.pem"), key: dir.join("server.key") }
}

fn agent(ca_bundle: &Path) -> Downloader {
    Downloader::new(DownloadSettings {
        ca_bundle: Some(ca_bundle.to_path_buf()),
        ..dl::settings(Duration::from_secs(30))
    })
    .unwrap()
}

#[test]
fn https_with_the_configured_ca_installs_and_a_wrong_ca_fails_at_once() {
    let rig = Rig::new();
    let pkg = rig.package("p.fota", 1 << 20, 7, None);
    let pki = rig.path("pki");
    std::fs::create_dir_all(&pki).unwrap();
    let server = make_ca(&pki, "good", true);
    make_ca(&pki, "other", false);
    let nginx = Nginx::start(&rig.www(), Some(&server)).unwrap();
    let url = nginx.url("/p.fota");
    assert!(url.starts_with("https://"));

    let started = Instant::now();
    let e = agent(&pki.join("other-ca.pem")).download(&rig.job(&url), &rig.installer(), &mut |_| {}).unwrap_err();
    assert!(matches!(e, DownloadError::Tls { .. }), "{e}");
    assert!(e.to_string().contains("ca_bundle"), "the error does not say what to check: {e}");
    assert!(e.to_string().contains("certificate"), "the error does not say what failed: {e}");
    assert!(started.elapsed() < Duration::from_secs(5), "a TLS failure was retried");
    assert_eq!(fotad::fumo::FumoResult::from(&e).code(), 406);

    let report = agent(&pki.join("good-ca.pem")).download(&rig.job(&url), &rig.installer(), &mut |_| {}).unwrap();
    assert!(rig.slot() == pkg.image, "slot differs from the image");
    assert_eq!(report.attempts, 1);
}
