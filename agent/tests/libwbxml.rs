//! Cross-checks our WBXML codec against the real libwbxml tools
//! (`wbxml2xml`, `xml2wbxml` from Debian's libwbxml2-utils). Fails loudly when
//! the tools are missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command as Proc;

use fotad::dm::syncml::{Codec, Command, Message};

const PKG2: &str = include_str!("fixtures/server-package2.xml");

fn tool(name: &str) -> String {
    let path = format!("/usr/bin/{name}");
    assert!(Path::new(&path).exists(), "{name} is missing: install Debian package libwbxml2-utils (scripts/test does)");
    path
}

/// Runs a libwbxml tool on `input` with `args` (before `-o OUT IN`) and
/// returns what it wrote.
fn convert(name: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let bin = tool(name);
    let dir = tempfile::tempdir().unwrap();
    let (inp, out) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::write(&inp, input).unwrap();
    let mut cmd = Proc::new(&bin);
    cmd.args(args).arg("-o").arg(&out).arg(&inp);
    let res = cmd.output().unwrap();
    assert!(res.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&res.stderr));
    std::fs::read(&out).unwrap()
}

/// Messages of every shape the client sends and the server sends.
fn samples() -> Vec<Message> {
    let server = Codec::Xml.decode(PKG2.as_bytes()).unwrap();
    let mut client = server.clone();
    client.hdr.meta = None;
    client.body.commands.retain(|c| matches!(c, Command::Status(_) | Command::Alert(_)));
    let mut results = client.clone();
    results.body.commands = vec![Command::Results(fotad::dm::syncml::Results {
        cmd_id: 9,
        msg_ref: 1,
        cmd_ref: 2,
        meta: None,
        target_ref: vec![],
        source_ref: vec![],
        items: vec![fotad::dm::syncml::Item {
            source: Some(fotad::dm::syncml::Loc::uri("./DevInfo/Mod")),
            data: Some(b"fotad-qemu".to_vec()),
            ..Default::default()
        }],
    })];
    vec![server, client, results]
}

#[test]
fn wbxml2xml_decodes_every_message_we_encode() {
    for m in &samples() {
        let xml = convert("wbxml2xml", &["-l", "SYNCML12", "-m", "0"], &Codec::Wbxml.encode(m).unwrap());
        let back = Codec::Xml.decode(&xml).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&xml)));
        assert_eq!(&back, m, "libwbxml's XML: {}", String::from_utf8_lossy(&xml));
    }
}

#[test]
fn we_decode_what_xml2wbxml_encodes() {
    for (i, m) in samples().iter().enumerate() {
        let wbxml = convert("xml2wbxml", &["-v", "1.2", "-n"], &Codec::Xml.encode(m).unwrap());
        assert_eq!(&Codec::Wbxml.decode(&wbxml).unwrap(), m, "message {i}");
    }
}

#[test]
fn we_decode_the_pretty_fixture_through_xml2wbxml() {
    let wbxml = convert("xml2wbxml", &["-v", "1.2", "-n"], PKG2.as_bytes());
    assert_eq!(Codec::Wbxml.decode(&wbxml).unwrap(), Codec::Xml.decode(PKG2.as_bytes()).unwrap());
}
