//! The download agent against hostile download servers: redirects are
//! followed by our own code within the URL rules (a refused one ends the
//! download with 411), and random status lines, headers and bodies from a
//! raw TCP server never reach a panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dl;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dl::Rig;
use fotad::download::url::RedirectRefused;
use fotad::download::{DownloadError, DownloadSettings, Downloader};
use fotad_tests::nginx::Nginx;
use fotad_tests::testserver::{script, ServerConfig, TestServer};
use proptest::prelude::*;

fn redirecting_server(lines: &str) -> TestServer {
    let server = TestServer::start(ServerConfig::default(), 0, None).unwrap();
    server.apply("-", script::parse(lines).unwrap());
    server
}

#[test]
fn redirects_within_the_rules_are_followed_to_the_package() {
    let rig = Rig::new();
    let pkg = rig.package("p.fota", 1 << 20, 3, None);
    let nginx = Nginx::start(&rig.www(), None).unwrap();
    let target = nginx.url("/p.fota");
    let server = redirecting_server(&format!("route /a 302 Location: /b\nroute /b 307 Location: {target}"));
    let report = dl::downloader(Duration::from_secs(30))
        .download(&rig.job(&server.url_of("/a")), &rig.installer(), &mut |_| {})
        .unwrap();
    assert!(rig.slot() == pkg.image, "slot differs from the image");
    assert_eq!(report.attempts, 1);
}

#[test]
fn a_redirect_outside_the_rules_ends_the_download_with_411() {
    let rig = Rig::new();
    let server = redirecting_server(
        "route /file 302 Location: file:///etc/passwd\n\
         route /ftp 301 Location: ftp://127.0.0.1/p.fota\n\
         route /none 302\n\
         route /loop 302 Location: /loop\n",
    );
    type Expected = fn(&RedirectRefused) -> bool;
    let cases: [(&str, Expected); 4] = [
        ("/file", |r| matches!(r, RedirectRefused::Scheme(_))),
        ("/ftp", |r| matches!(r, RedirectRefused::Scheme(_))),
        ("/none", |r| matches!(r, RedirectRefused::NoLocation)),
        ("/loop", |r| matches!(r, RedirectRefused::TooMany)),
    ];
    for (path, expected) in cases {
        let url = server.url_of(path);
        let e = dl::downloader(Duration::from_secs(30))
            .download(&rig.job(&url), &rig.installer(), &mut |_| {})
            .unwrap_err();
        match &e {
            DownloadError::Redirect { reason, .. } if expected(reason) => {}
            other => panic!("{path}: {other}"),
        }
        assert_eq!(fotad::fumo::FumoResult::from(&e).code(), 411, "{path}");
        assert!(!rig.path("slot_b").exists(), "{path}: the slot was touched");
    }
}

/// A raw HTTP server answering every request with the bytes in `answer`.
fn raw_server(answer: Arc<Mutex<Vec<u8>>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let answer = answer.lock().unwrap().clone();
            std::thread::spawn(move || {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                let mut rd = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                while rd.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let _ = conn.write_all(&answer);
            });
        }
    });
    addr
}

/// The answer the `http_answer` fuzz target found panicking ureq 2 (a header
/// line without a colon, then `Location` asked for): now an error.
#[test]
fn a_header_line_without_a_colon_is_an_error_not_a_panic() {
    let answer = b"HTTP/1.1 302 Found\r\nLocation\r\nLocation: /p.\0\0: /p.fota\r\nContent-Length:\xff\xff 0\r\n\r\n";
    let addr = raw_server(Arc::new(Mutex::new(answer.to_vec())));
    let rig = Rig::new();
    let agent = Downloader::new(dl::settings(Duration::ZERO)).unwrap();
    let url = format!("http://{addr}/p.fota");
    assert!(agent.download(&rig.job(&url), &rig.installer(), &mut |_| {}).is_err());
}

fn status_line() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![200u16, 206, 301, 302, 303, 307, 308, 304, 404, 416, 500, 0, 999])
            .prop_map(|c| format!("HTTP/1.1 {c} X")),
        "HTTP/1\\.[01] [0-9]{0,4}[ -~]{0,12}",
        "[ -~]{0,40}",
    ]
}

fn header() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        prop::sample::select(vec![
            "Location",
            "Content-Length",
            "Content-Range",
            "Transfer-Encoding",
            "Content-Type",
            "ETag",
            "Last-Modified",
            "Connection",
        ])
        .prop_map(str::to_string),
        "[!-9;-~]{1,12}",
    ];
    // Sometimes no colon at all (a header line ureq 2 panicked on).
    let separator = prop_oneof![Just(": "), Just(":"), Just(""), Just(" ")];
    let value = prop_oneof![
        prop::sample::select(vec![
            "file:///etc/passwd",
            "http://",
            "https://",
            "//evil.example/p",
            "/p.fota",
            "p.fota",
            "http://127.0.0.1:1/x",
            "https://[::1]:99999/",
            "http://[::1",
            "chunked",
            "gzip, chunked",
            "application/vnd.oma.dd+xml",
            "bytes 0-9/10",
            "bytes */5",
            "bytes 100-50/10",
            "-1",
            "18446744073709551616",
            "0",
            "5",
        ])
        .prop_map(str::to_string),
        "[ -~]{0,64}",
        "[0-9]{1,25}",
    ];
    (name, separator, value).prop_map(|(n, sep, v)| format!("{n}{sep}{v}"))
}

fn answer() -> impl Strategy<Value = Vec<u8>> {
    (status_line(), prop::collection::vec(header(), 0..6), prop::collection::vec(any::<u8>(), 0..600), any::<bool>())
        .prop_map(|(status, headers, body, crlf)| {
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut out = format!("{status}{eol}");
            for h in headers {
                out.push_str(&h);
                out.push_str(eol);
            }
            out.push_str(eol);
            let mut bytes = out.into_bytes();
            bytes.extend(body);
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever the server answers, the download ends with a result (here
    /// always an error: no answer is a signed package) and no panic.
    #[test]
    fn random_status_lines_headers_and_bodies_never_panic_the_download(answer in answer()) {
        static SERVER: std::sync::OnceLock<(SocketAddr, Arc<Mutex<Vec<u8>>>)> = std::sync::OnceLock::new();
        let (addr, shared) = SERVER.get_or_init(|| {
            let shared = Arc::new(Mutex::new(Vec::new()));
            (raw_server(Arc::clone(&shared)), shared)
        });
        *shared.lock().unwrap() = answer;
        let rig = Rig::new();
        let agent = Downloader::new(DownloadSettings {
            connect_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_millis(500),
            ..dl::settings(Duration::ZERO)
        })
        .unwrap();
        let url = format!("http://{addr}/p.fota");
        let result = agent.download(&rig.job(&url), &rig.installer(), &mut |_| {});
        prop_assert!(result.is_err(), "an unsigned answer was installed");
    }
}
