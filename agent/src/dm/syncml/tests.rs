#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

const PKG2: &str = include_str!("../../../tests/fixtures/server-package2.xml");

#[test]
fn parses_a_server_package_with_every_part() {
    let m = Codec::Xml.decode(PKG2.as_bytes()).unwrap();
    assert_eq!(m.hdr.ver_dtd, "1.2");
    assert_eq!(m.hdr.session_id, "1A2B");
    assert_eq!(m.hdr.source.name.as_deref(), Some("srv1"));
    assert_eq!(m.hdr.meta.as_ref().unwrap().max_msg_size, Some(10000));
    assert_eq!(m.hdr.cred.as_ref().unwrap().data, b"QnJ1Y2UyOk9oQmVoYXZl");
    assert!(m.body.final_flag);
    let names: Vec<_> = m.body.commands.iter().map(Command::name).collect();
    assert_eq!(names, ["Status", "Get", "Atomic", "Exec", "Alert"]);
    let Command::Status(s) = &m.body.commands[0] else { panic!() };
    assert_eq!(s.code, 212);
    assert_eq!(s.chal.as_ref().unwrap().meta.next_nonce.as_deref(), Some("Tm9uY2U="));
    let Command::Atomic(a) = &m.body.commands[2] else { panic!() };
    let Command::Add(add) = &a.commands[0] else { panic!() };
    assert_eq!(add.items[0].data.as_deref(), Some(&b"x & y"[..]));
    let Command::Exec(e) = &m.body.commands[3] else { panic!() };
    assert_eq!(e.correlator.as_deref(), Some("abc"));
}

#[test]
fn xml_and_wbxml_round_trip_the_model() {
    let m = Codec::Xml.decode(PKG2.as_bytes()).unwrap();
    for codec in [Codec::Xml, Codec::Wbxml] {
        let bytes = codec.encode(&m).unwrap();
        assert_eq!(codec.decode(&bytes).unwrap(), m, "{codec:?}");
    }
}

#[test]
fn legacy_firmware_commands_are_xml_only() {
    let xml = PKG2.replace(
        "<Final/>",
        "<GetFirmwareUpdate><CmdID>9</CmdID><Item><Target><LocURI>./FwUpdate/p1</LocURI></Target>\
         <Source><LocURI>http://h/u.fota</LocURI></Source><Data>DL_Prompt=1</Data></Item></GetFirmwareUpdate>\
         <Update><CmdID>10</CmdID><Item><Target><LocURI>./FwUpdate/p1</LocURI></Target></Item></Update><Final/>",
    );
    let m = Codec::Xml.decode(xml.as_bytes()).unwrap();
    let n = m.body.commands.len();
    let Command::Firmware(FirmwareCmd::GetFirmwareUpdate, get) = &m.body.commands[n - 2] else { panic!() };
    assert_eq!((get.cmd_id, get.items[0].source_uri()), (9, Some("http://h/u.fota")));
    assert_eq!(m.body.commands[n - 1].name(), "Update");
    assert_eq!(FirmwareCmd::Update.action(), FirmwareAction::Apply);
    assert_eq!(Codec::Xml.decode(&Codec::Xml.encode(&m).unwrap()).unwrap(), m);
    assert!(matches!(Codec::Wbxml.encode(&m), Err(SyncmlError::UnknownElement(e)) if e == "GetFirmwareUpdate"));
}

#[test]
fn wbxml_carries_binary_data_as_opaque() {
    let mut m = Codec::Xml.decode(PKG2.as_bytes()).unwrap();
    let Command::Atomic(a) = &mut m.body.commands[2] else { panic!() };
    let Command::Add(add) = &mut a.commands[0] else { panic!() };
    add.items[0].data = Some(vec![0, 0xff, 0x10, 0x80]);
    let bytes = Codec::Wbxml.encode(&m).unwrap();
    assert!(bytes.windows(2).any(|w| w == [0xC3, 4]), "no OPAQUE token");
    assert_eq!(Codec::Wbxml.decode(&bytes).unwrap(), m);
    assert!(matches!(Codec::Xml.encode(&m), Err(SyncmlError::BinaryInXml(_))));
}

#[test]
fn truncated_and_malformed_messages_are_errors() {
    let wb = Codec::Wbxml.encode(&Codec::Xml.decode(PKG2.as_bytes()).unwrap()).unwrap();
    for n in [0, 1, 5, wb.len() / 2, wb.len() - 1] {
        assert!(Codec::Wbxml.decode(&wb[..n]).is_err(), "wbxml prefix {n}");
    }
    let xml = PKG2.as_bytes();
    for n in [0, 10, xml.len() / 2, xml.len() - 12] {
        assert!(Codec::Xml.decode(&xml[..n]).is_err(), "xml prefix {n}");
    }
    let bad = PKG2.replace("<MsgID>1</MsgID>", "<MsgID>one</MsgID>");
    assert_eq!(
        Codec::Xml.decode(bad.as_bytes()),
        Err(SyncmlError::BadNumber { element: "MsgID", value: "one".into() })
    );
    let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
    assert_eq!(Codec::Xml.decode(deep.as_bytes()), Err(SyncmlError::TooDeep));
}

#[test]
fn content_types_select_the_codec() {
    assert_eq!(Codec::from_content_type("application/vnd.syncml.dm+wbxml").unwrap(), Codec::Wbxml);
    assert_eq!(Codec::from_content_type("application/vnd.syncml.dm+xml; charset=UTF-8").unwrap(), Codec::Xml);
    assert!(Codec::from_content_type("text/html").is_err());
}

#[test]
fn budget_refuses_commands_past_max_msg_size() {
    let m = Codec::Xml.decode(PKG2.as_bytes()).unwrap();
    for codec in [Codec::Xml, Codec::Wbxml] {
        let base = MessageBudget::new(codec, usize::MAX, &m).unwrap().used();
        let total: usize = m.body.commands.iter().map(|c| codec.command_size(c).unwrap()).sum();
        let max = base + total / 2;
        let mut budget = MessageBudget::new(codec, max, &m).unwrap();
        let mut out = m.clone();
        out.body.commands.clear();
        for c in &m.body.commands {
            if budget.try_add(c).unwrap() {
                out.body.commands.push(c.clone());
            }
        }
        assert!(out.body.commands.len() < m.body.commands.len(), "{codec:?}: nothing refused");
        let real = codec.encode(&out).unwrap().len();
        assert!(real <= max, "{codec:?}: {real} bytes");
        assert!(real <= budget.used(), "{codec:?}: estimate {} < real {real}", budget.used());
    }
}

#[test]
fn an_empty_meta_is_the_same_as_none() {
    // Found by the syncml_wbxml fuzz target: `<Meta/>` did not round-trip.
    let with_empty = PKG2.replace("<MsgID>1</MsgID>", "<MsgID>1</MsgID><Meta/>").replace(
        "<Meta><MaxMsgSize xmlns=\"syncml:metinf\">10000</MaxMsgSize><MaxObjSize xmlns=\"syncml:metinf\">1048576</MaxObjSize></Meta>",
        "",
    );
    let m = Codec::Xml.decode(with_empty.as_bytes()).unwrap();
    assert_eq!(m.hdr.meta, None);
    let wb = Codec::Wbxml.encode(&m).unwrap();
    assert_eq!(Codec::Wbxml.decode(&wb).unwrap(), m);
}

#[test]
fn an_opaque_wbxml_next_nonce_becomes_base64_text() {
    let mut tree = Codec::Xml.decode_tree(PKG2.as_bytes()).unwrap();
    // Replace the NextNonce text with the raw nonce as WBXML opaque data.
    fn patch(e: &mut Element) {
        if e.name == "NextNonce" {
            e.children = vec![Node::Data { bytes: b"Nonce".to_vec(), opaque: true }];
        }
        for c in &mut e.children {
            if let Node::Elem(child) = c {
                patch(child);
            }
        }
    }
    patch(&mut tree);
    let wb = Codec::Wbxml.encode_tree(&tree).unwrap();
    let m = Codec::Wbxml.decode(&wb).unwrap();
    let Command::Status(s) = &m.body.commands[0] else { panic!() };
    assert_eq!(s.chal.as_ref().unwrap().meta.next_nonce.as_deref(), Some("Tm9uY2U="));
}

/// PKG2 with the Add's data replaced by `data` as it stands in the XML.
fn with_add_data(data: &str) -> Vec<u8> {
    PKG2.replace("<Data>x &amp; y</Data>", &format!("<Data>{data}</Data>")).into_bytes()
}

fn add_data(xml: &[u8]) -> Vec<u8> {
    let m = Codec::Xml.decode(xml).unwrap();
    let Command::Atomic(a) = &m.body.commands[2] else { panic!() };
    let Command::Add(add) = &a.commands[0] else { panic!() };
    add.items[0].data.clone().unwrap()
}

#[test]
fn a_bare_ampersand_is_text_and_only_predefined_and_numeric_references_are_read() {
    assert_eq!(add_data(&with_add_data("MAXDT=15&DR=1")), b"MAXDT=15&DR=1");
    assert_eq!(add_data(&with_add_data("a & b&")), b"a & b&");
    assert_eq!(add_data(&with_add_data("&lt;&gt;&amp;&apos;&quot;&#38;&#x41;")), b"<>&'\"&A");
    // Not an entity we know: text, never expanded.
    assert_eq!(add_data(&with_add_data("&co; &lt &#xZZ; &#0;")), b"&co; &lt &#xZZ; &#0;");
}

#[test]
fn a_dtd_is_never_read_and_its_entities_stay_text() {
    let doctype = "<?xml version=\"1.0\"?><!DOCTYPE SyncML [<!ENTITY boom \"BOOM\"> <!ENTITY ext SYSTEM \"file:///etc/passwd\">]>";
    let xml = String::from_utf8(with_add_data("&boom;&ext;")).unwrap().replacen(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
        doctype,
        1,
    );
    assert_eq!(add_data(xml.as_bytes()), b"&boom;&ext;");
}
