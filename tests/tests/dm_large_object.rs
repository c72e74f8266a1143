//! A 50 MiB large object from fotad-testserver into the agent, with the
//! agent (a separate process, `fotad-dm-session`) staying under 32 MiB of
//! peak resident memory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::process::Command as Proc;

use fotad::dm::syncml::Codec;
use fotad::dm::tree::{Tree, UriLimits, Value, Who};
use fotad_tests::testserver::harness::device_toml;
use fotad_tests::testserver::{pattern_byte, Payload, ServerConfig, TestServer};

const SIZE: u64 = 50 * 1024 * 1024;
const LIMIT_KIB: u64 = 32 * 1024;

#[test]
fn fifty_mib_object_streams_to_disk_under_32_mib() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let cfg = ServerConfig { chunk_size: 256 * 1024, max_msg_size: 1024 * 1024, ..ServerConfig::default() };
    let server = TestServer::start(cfg.clone(), 0, None).unwrap();
    // The device lets this server create nodes under ./Vendor.
    {
        let mut t = Tree::open(&state, UriLimits::default()).unwrap();
        t.put_interior("./Vendor").unwrap();
        t.with_node("./Vendor", |n| n.acl = fotad::dm::tree::Acl::parse("Add=*&Get=*&Replace=*").unwrap()).unwrap();
        t.save().unwrap();
    }
    server.queue_large(
        "IMEI:490154203237518",
        false,
        "./Vendor/image",
        "bin",
        Payload::Pattern { size: SIZE, seed: 9 },
    );
    let conf = dir.path().join("device.toml");
    std::fs::write(&conf, device_toml(&state, &server.url(), &cfg, Codec::Wbxml, 300 * 1024, None)).unwrap();

    let out = Proc::new(env!("CARGO_BIN_EXE_fotad-dm-session")).arg(&conf).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let kib: u64 = stdout.lines().find_map(|l| l.strip_prefix("peak_rss_kib=")).unwrap().parse().unwrap();
    eprintln!("agent peak memory {kib} KiB");
    assert!(kib < LIMIT_KIB, "agent peak memory {kib} KiB");

    let t = Tree::open(&state, UriLimits::default()).unwrap();
    let items = t.get(Who::Local, "./Vendor/image").unwrap();
    let Some(Value::File { path, size }) = &items[0].data else { panic!("{items:?}") };
    assert_eq!(*size, SIZE);
    let mut f = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        for (i, b) in buf[..n].iter().enumerate() {
            assert_eq!(*b, pattern_byte(9, offset + i as u64), "byte {}", offset + i as u64);
        }
        offset += n as u64;
    }
    assert_eq!(offset, SIZE);
}
