//! The API contract `dbus/org.fotad.Agent1.xml` is what the daemon serves:
//! compared member by member (names, argument names, types, directions,
//! property access) with `busctl introspect` of the running service.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::{parts, repo_root, require, Bus, Daemon};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

fn attr(e: &BytesStart<'_>, name: &str) -> String {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name.as_bytes())
        .map(|a| String::from_utf8_lossy(&a.value).into_owned())
        .unwrap_or_default()
}

/// One line per member of interface org.fotad.Agent1, sorted.
fn members(xml: &str) -> Vec<String> {
    let mut reader = Reader::from_str(xml);
    let (mut inside, mut out, mut current): (bool, Vec<String>, Option<String>) = (false, vec![], None);
    loop {
        let event = reader.read_event().unwrap();
        match &event {
            Event::Start(e) | Event::Empty(e) => {
                let tag = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                match tag.as_str() {
                    "interface" => inside = attr(e, "name") == "org.fotad.Agent1",
                    "method" | "signal" if inside => current = Some(format!("{tag} {}(", attr(e, "name"))),
                    "property" if inside => {
                        out.push(format!("property {} {} {}", attr(e, "name"), attr(e, "type"), attr(e, "access")))
                    }
                    "arg" if inside => {
                        let c = current.as_mut().unwrap();
                        c.push_str(&format!("{} {} {},", attr(e, "direction"), attr(e, "type"), attr(e, "name")));
                    }
                    _ => {}
                }
                if matches!(event, Event::Empty(_)) && (tag == "method" || tag == "signal") && inside {
                    out.extend(current.take().map(|c| c + ")"));
                }
            }
            Event::End(e) => match e.name().as_ref() {
                b"method" | b"signal" => out.extend(current.take().map(|c| c + ")")),
                b"interface" => inside = false,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    out.sort();
    out
}

#[test]
fn introspection_matches_the_contract_file() {
    require("busctl", "systemd");
    let bus = Bus::start(true);
    let _daemon = Daemon::start(&bus, parts());
    let out = Command::new("busctl")
        .args([&format!("--address={}", bus.address), "--xml-interface", "introspect"])
        .args(["org.fotad.Agent1", "/org/fotad/Agent1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "busctl: {}", String::from_utf8_lossy(&out.stderr));
    let served = members(&String::from_utf8(out.stdout).unwrap());
    let contract = members(&std::fs::read_to_string(repo_root().join("dbus/org.fotad.Agent1.xml")).unwrap());
    assert_eq!(served.len(), 11 + 9 + 3, "{served:#?}");
    assert_eq!(served, contract);
    assert!(contract.contains(&"method EnterPin(in s pin,out u tries_left,)".to_string()), "{contract:#?}");
    assert!(contract.contains(&"method RegisterUi()".to_string()), "{contract:#?}");
}
