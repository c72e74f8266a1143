//! A PkgURL answering with an OMA download descriptor (served by the real
//! nginx as `application/vnd.oma.dd+xml`): the package it names is installed
//! and the installNotify status line is posted; a size that does not match
//! the package is refused with 905.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dl;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use dl::Rig;
use fotad::download::{DescriptorError, DownloadError};
use fotad_tests::nginx::Nginx;

/// A one-shot HTTP endpoint; returns its URL and the body it will receive.
fn notify_endpoint() -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/notify?id=7", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            if line.trim().is_empty() {
                break;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        (&stream).write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
        tx.send(String::from_utf8(body).unwrap()).unwrap();
    });
    (url, rx)
}

fn descriptor(size: u64, notify: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?>\n<media xmlns=\"http://www.openmobilealliance.org/xmlns/dd\">\n\
         <DDVersion>1.0</DDVersion><name>Gateway</name><size>{size}</size>\
         <type>application/vnd.fotad.package</type><objectURI>p.fota</objectURI>\
         <installNotifyURI>{notify}</installNotifyURI><description>Fixes</description></media>\n"
    )
}

#[test]
fn a_descriptor_leads_to_the_package_and_900_is_posted() {
    let rig = Rig::new();
    let pkg = rig.package("p.fota", 1 << 20, 8, None);
    let (notify, received) = notify_endpoint();
    std::fs::write(rig.www().join("p.dd"), descriptor(pkg.size, &notify)).unwrap();
    let nginx = Nginx::start(&rig.www(), None).unwrap();
    let url = nginx.url("/p.dd");
    let report =
        dl::downloader(Duration::from_secs(30)).download(&rig.job(&url), &rig.installer(), &mut |_| {}).unwrap();
    assert!(rig.slot() == pkg.image, "slot differs from the image");
    let dd = report.descriptor.unwrap();
    assert_eq!((dd.size, dd.description.as_deref()), (pkg.size, Some("Fixes")));
    assert_eq!(received.recv_timeout(Duration::from_secs(5)).unwrap(), "900 Success");
}

#[test]
fn a_descriptor_size_mismatch_is_refused_and_905_is_posted() {
    let rig = Rig::new();
    let pkg = rig.package("p.fota", 1 << 20, 9, None);
    let (notify, received) = notify_endpoint();
    std::fs::write(rig.www().join("p.dd"), descriptor(pkg.size + 1, &notify)).unwrap();
    let nginx = Nginx::start(&rig.www(), None).unwrap();
    let url = nginx.url("/p.dd");
    let e =
        dl::downloader(Duration::from_secs(30)).download(&rig.job(&url), &rig.installer(), &mut |_| {}).unwrap_err();
    assert!(matches!(e, DownloadError::Descriptor(DescriptorError::Size { .. })), "{e}");
    assert_eq!(fotad::fumo::FumoResult::from(&e).code(), 402);
    assert_eq!(received.recv_timeout(Duration::from_secs(5)).unwrap(), "905 Attribute mismatch");
    assert!(!rig.path("slot_b").exists(), "the slot was touched");
}
