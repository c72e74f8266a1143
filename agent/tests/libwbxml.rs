//! Cross-checks our WBXML codec against the real libwbxml tools
//! (`wbxml2xml`, `xml2wbxml` from Debian's libwbxml2-utils). Fails loudly when
//! the tools are missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command as Proc;

use fotad::syncml::{Codec, Command, Message};

const PKG2: &str = include_str!("fixtures/server-package2.xml");

fn tool(name: &str) -> String {
    let path = format!("/usr/bin/{name}");
    assert!(Path::new(&path).exists(), "{name} is missing: install Debian package libwbxml2-utils (scripts/test does)");
    path
}

fn run(cmd: &mut Proc) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// Messages of every shape the client sends and the server sends.
fn samples() -> Vec<Message> {
    let server = Codec::Xml.decode(PKG2.as_bytes()).unwrap();
    let mut client = server.clone();
    client.hdr.meta = None;
    client.body.commands.retain(|c| matches!(c, Command::Status(_) | Command::Alert(_)));
    let mut results = client.clone();
    results.body.commands = vec![Command::Results(fotad::syncml::Results {
        cmd_id: 9,
        msg_ref: 1,
        cmd_ref: 2,
        meta: None,
        target_ref: vec![],
        source_ref: vec![],
        items: vec![fotad::syncml::Item {
            source: Some(fotad::syncml::Loc::uri("./DevInfo/Mod")),
            data: Some(b"fotad-qemu".to_vec()),
            ..Default::default()
        }],
    })];
    vec![server, client, results]
}

#[test]
fn wbxml2xml_decodes_every_message_we_encode() {
    let bin = tool("wbxml2xml");
    let dir = tempfile::tempdir().unwrap();
    for (i, m) in samples().iter().enumerate() {
        let input = dir.path().join(format!("m{i}.wbxml"));
        let output = dir.path().join(format!("m{i}.xml"));
        std::fs::write(&input, Codec::Wbxml.encode(m).unwrap()).unwrap();
        run(Proc::new(&bin).args(["-l", "SYNCML12", "-m", "0", "-o"]).arg(&output).arg(&input));
        let xml = std::fs::read(&output).unwrap();
        let back = Codec::Xml.decode(&xml).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&xml)));
        assert_eq!(&back, m, "libwbxml's XML: {}", String::from_utf8_lossy(&xml));
    }
}

#[test]
fn we_decode_what_xml2wbxml_encodes() {
    let bin = tool("xml2wbxml");
    let dir = tempfile::tempdir().unwrap();
    for (i, m) in samples().iter().enumerate() {
        let input = dir.path().join(format!("m{i}.xml"));
        let output = dir.path().join(format!("m{i}.wbxml"));
        std::fs::write(&input, Codec::Xml.encode(m).unwrap()).unwrap();
        run(Proc::new(&bin).args(["-v", "1.2", "-n", "-o"]).arg(&output).arg(&input));
        let wbxml = std::fs::read(&output).unwrap();
        assert_eq!(&Codec::Wbxml.decode(&wbxml).unwrap(), m, "message {i}");
    }
}

#[test]
fn we_decode_the_pretty_fixture_through_xml2wbxml() {
    let bin = tool("xml2wbxml");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("pkg2.xml");
    let output = dir.path().join("pkg2.wbxml");
    std::fs::write(&input, PKG2).unwrap();
    run(Proc::new(&bin).args(["-v", "1.2", "-n", "-o"]).arg(&output).arg(&input));
    let ours = Codec::Wbxml.decode(&std::fs::read(&output).unwrap()).unwrap();
    assert_eq!(ours, Codec::Xml.decode(PKG2.as_bytes()).unwrap());
}
