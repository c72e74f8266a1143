//! ACLs between servers (issue 15, item 5): a device with two configured DM
//! servers, opened the way the daemon opens it (`Agent::open` with the
//! default `[fumo]` rights), each server in its own real DM session with
//! `fotad-testserver`. Neither server can change the FUMO object's ACL,
//! touch the other's account or add an account; each still manages what is
//! its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;

use fotad::app::{Agent, Options, Settings, Unattended, Wait, Work};
use fotad::dm::mo::{accounts, DmAccount};
use fotad::dm::syncml::{Codec, Command, Item, ItemCmd, Loc, Meta, Status};
use fotad::dm::tree::{Tree, UriLimits, Who};
use fotad_tests::testserver::harness::device_toml;
use fotad_tests::testserver::{ServerConfig, TestServer};

const DEVICE: &str = "IMEI:490154203237518";
const FUMO: &str = "./FUMO/fotad";
const ONE: &str = "one-srv";
const TWO: &str = "two-srv";

struct Rig {
    one: TestServer,
    two: TestServer,
    agent: Arc<Agent>,
    state: PathBuf,
    _dir: tempfile::TempDir,
}

fn server(id: &str, secret: &str) -> ServerConfig {
    ServerConfig { server_id: id.into(), client_secret: secret.into(), ..ServerConfig::default() }
}

/// A device on file slots with accounts for server one and server two and
/// every other setting at its default.
fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n);
    std::fs::create_dir_all(d("root/etc/fotad")).unwrap();
    std::fs::write(d("rootfs-a.img"), vec![0u8; 4096]).unwrap();
    std::fs::write(d("rootfs-b.img"), []).unwrap();
    std::fs::write(d("cmdline"), "fotad.slot=A\n").unwrap();
    fotad_tests::device::write_file_slot_config(&d("root"), dir.path(), "acme,gw-1").unwrap();
    let (c1, c2) = (server(ONE, "secret-one"), server(TWO, "secret-two"));
    let one = TestServer::start(c1.clone(), 0, None).unwrap();
    let two = TestServer::start(c2.clone(), 0, None).unwrap();
    let state = d("state");
    let first = device_toml(&state, &one.url(), &c1, Codec::Xml, 16 * 1024, None);
    let second = device_toml(&state, &two.url(), &c2, Codec::Xml, 16 * 1024, None);
    let second = &second[second.find("[[accounts]]").unwrap()..];
    let config = d("root/etc/fotad/fotad.toml");
    let updater = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{updater}\n{first}\n{second}\n[sim]\nenabled = false\n")).unwrap();
    let settings = Settings::load_under(&d("root")).unwrap();
    let agent = Agent::open(settings, Options::default()).unwrap();
    Rig { one, two, agent, state, _dir: dir }
}

impl Rig {
    /// A session with `which` (one or two) running the commands queued on it.
    fn session(&self, which: &TestServer) {
        let work = Work::SimSession { server_uri: which.url() };
        let run = self.agent.submit(work, Wait::No).unwrap();
        run.execute(&Unattended { language: "en".into() }).unwrap();
    }

    /// The tree as the device saved it.
    fn tree(&self) -> Tree {
        Tree::open(&self.state, UriLimits::default()).unwrap()
    }

    fn account(&self, server_id: &str) -> DmAccount {
        accounts(&self.tree()).into_iter().find(|a| a.server_id == server_id).unwrap()
    }

    fn acl(&self, uri: &str) -> String {
        let items = self.tree().get(Who::Local, &format!("{uri}?prop=ACL")).unwrap();
        match &items[0].data {
            Some(fotad::dm::tree::Value::Inline(b)) => String::from_utf8(b.clone()).unwrap(),
            other => panic!("{other:?}"),
        }
    }
}

fn item(uri: &str, format: Option<&str>, data: Option<&str>) -> Item {
    Item {
        target: Some(Loc::uri(uri)),
        meta: format.map(|f| Meta { format: Some(f.into()), ..Meta::default() }),
        data: data.map(|d| d.as_bytes().to_vec()),
        ..Item::default()
    }
}

fn replace(uri: &str, data: &str) -> Command {
    Command::Replace(ItemCmd { items: vec![item(uri, Some("chr"), Some(data))], ..ItemCmd::default() })
}

fn add(uri: &str, format: &str, data: Option<&str>) -> Command {
    Command::Add(ItemCmd { items: vec![item(uri, Some(format), data)], ..ItemCmd::default() })
}

fn get(uri: &str) -> Command {
    Command::Get(ItemCmd { items: vec![item(uri, None, None)], ..ItemCmd::default() })
}

fn delete(uri: &str) -> Command {
    Command::Delete(ItemCmd { items: vec![item(uri, None, None)], ..ItemCmd::default() })
}

/// (target, code) of every Status `s` received for `cmd`.
fn codes(s: &TestServer, cmd: &str) -> Vec<(String, u16)> {
    s.received()
        .into_iter()
        .filter_map(|c| if let Command::Status(st) = c { Some(st) } else { None })
        .filter(|st: &Status| st.cmd == cmd)
        .map(|st| (st.target_ref.first().cloned().unwrap_or_default(), st.code))
        .collect()
}

fn pairs(list: &[(&str, u16)]) -> Vec<(String, u16)> {
    list.iter().map(|(u, c)| (u.to_string(), *c)).collect()
}

#[test]
fn no_server_can_change_the_fumo_acls_and_lock_the_other_out() {
    let r = rig();
    let watched = [
        FUMO.to_string(),
        "./FUMO".into(),
        format!("{FUMO}/DownloadAndUpdate"),
        format!("{FUMO}/DownloadAndUpdate/PkgURL"),
        "./FwUpdate".into(),
    ];
    let acls = |r: &Rig| -> Vec<String> { watched.iter().map(|u| r.acl(u)).collect() };
    let before = acls(&r);
    let grab = format!("Get=*&Replace={TWO}&Exec={TWO}");
    for uri in [
        FUMO.to_string(),
        "./FUMO".into(),
        format!("{FUMO}/DownloadAndUpdate"),
        format!("{FUMO}/DownloadAndUpdate/PkgURL"),
        format!("{FUMO}/Update/PkgData"),
        "./FwUpdate".into(),
    ] {
        r.two.queue(DEVICE, replace(&format!("{uri}?prop=ACL"), &grab));
    }
    // Nor rename or delete the nodes the other server uses.
    let url = format!("{FUMO}/DownloadAndUpdate/PkgURL");
    r.two.queue(DEVICE, replace(&format!("{url}?prop=Name"), "Gone"));
    r.two.queue(DEVICE, delete(&url));
    r.session(&r.two);
    let got = codes(&r.two, "Replace");
    assert_eq!(got.len(), 7, "{got:?}");
    assert!(got[..6].iter().all(|(_, c)| *c == 425), "server two changed an ACL: {got:?}");
    assert_eq!(got[6], (format!("{url}?prop=Name"), 405));
    assert_eq!(codes(&r.two, "Delete"), pairs(&[(&url, 405)]));
    assert_eq!(acls(&r), before);

    // Both servers still do what the default rights give them.
    for s in [&r.one, &r.two] {
        s.queue(DEVICE, replace(&format!("{FUMO}/DownloadAndUpdate/PkgURL"), "https://dl.example/u.fota"));
        s.queue(DEVICE, replace(&format!("{FUMO}/PkgName"), "u"));
        s.queue(DEVICE, get(&format!("{FUMO}/State")));
        r.session(s);
        let url = format!("{FUMO}/DownloadAndUpdate/PkgURL");
        assert!(codes(s, "Replace").ends_with(&pairs(&[(&url, 200), (&format!("{FUMO}/PkgName"), 200)])));
        assert_eq!(codes(s, "Get"), pairs(&[(&format!("{FUMO}/State"), 200)]));
    }
}

#[test]
fn a_server_can_neither_touch_another_servers_account_nor_add_one() {
    let r = rig();
    let one_before = r.account(ONE);
    let node = one_before.node.clone();
    let cmds = [
        replace(&format!("{node}?prop=ACL"), &format!("Get=*&Replace={TWO}")),
        replace(&format!("{node}/AppAddr/1/Addr"), "https://evil.example/dm"),
        replace(&format!("{node}/AppAddr/1/Addr?prop=ACL"), &format!("Replace={TWO}")),
        replace("./DMAcc?prop=ACL", "Add=*&Get=*&Replace=*"),
        get(&format!("{node}/Name")),
        delete(&node),
        add("./DMAcc/evil", "node", None),
        add("./DMAcc/evil/ServerID", "chr", Some(ONE)),
        add("./DMAcc/evil/AppAddr/1/Addr", "chr", Some("https://evil.example/dm")),
    ];
    for c in cmds {
        r.two.queue(DEVICE, c);
    }
    r.session(&r.two);
    let url = format!("{node}/AppAddr/1/Addr");
    assert_eq!(
        codes(&r.two, "Replace"),
        pairs(&[
            (&format!("{node}?prop=ACL"), 425),
            (&url, 425),
            (&format!("{url}?prop=ACL"), 425),
            ("./DMAcc?prop=ACL", 425)
        ])
    );
    assert_eq!(codes(&r.two, "Get"), pairs(&[(&format!("{node}/Name"), 425)]));
    assert_eq!(codes(&r.two, "Delete"), pairs(&[(&node, 425)]));
    let adds = codes(&r.two, "Add");
    assert_eq!(adds.len(), 3, "{adds:?}");
    assert!(adds.iter().all(|(_, c)| *c == 425), "server two added an account: {adds:?}");
    let tree = r.tree();
    assert!(!tree.exists("./DMAcc/evil"));
    assert_eq!(accounts(&tree).len(), 2);
    assert_eq!(r.account(ONE), one_before);

    // Server one still has its account and its sessions.
    r.one.queue(DEVICE, get(&format!("{node}/Name")));
    r.session(&r.one);
    assert_eq!(codes(&r.one, "Get"), pairs(&[(&format!("{node}/Name"), 200)]));
}

#[test]
fn a_server_manages_its_own_account_but_cannot_take_another_identity() {
    let r = rig();
    let node = r.account(TWO).node;
    let sid = format!("{node}/ServerID");
    let cmds = [
        replace(&format!("{node}/Name"), "Second operator"),
        // Its own account is an interior node it has Replace rights on: it
        // may pass rights on (DM-TND: changing the ACL of an interior node).
        replace(&format!("{node}?prop=ACL"), &format!("Add={TWO}&Delete={TWO}&Get={TWO}&Replace={TWO}")),
        // The ServerID names it in every ACL: never changed by a server.
        replace(&sid, ONE),
        replace(&format!("{sid}?prop=ACL"), &format!("Get={TWO}&Replace={TWO}&Delete={TWO}")),
        replace(&format!("{sid}?prop=Name"), "Other"),
        delete(&sid),
    ];
    for c in cmds {
        r.two.queue(DEVICE, c);
    }
    r.session(&r.two);
    assert_eq!(
        codes(&r.two, "Replace"),
        pairs(&[
            (&format!("{node}/Name"), 200),
            (&format!("{node}?prop=ACL"), 200),
            (&sid, 405),
            (&format!("{sid}?prop=ACL"), 405),
            (&format!("{sid}?prop=Name"), 405),
        ])
    );
    assert_eq!(codes(&r.two, "Delete"), pairs(&[(&sid, 405)]));
    let two = r.account(TWO);
    assert_eq!(two.name, "Second operator");
    assert_eq!(two.node, node);
    assert_eq!(r.account(ONE).address, r.one.url());
    assert_eq!(accounts(&r.tree()).iter().filter(|a| a.server_id == ONE).count(), 1);
}

#[test]
fn a_server_owns_the_interior_nodes_it_adds_and_the_other_server_does_not() {
    let r = rig();
    r.two.queue(DEVICE, add("./Acme", "node", None));
    r.two.queue(DEVICE, add("./Acme/Mode", "chr", Some("eco")));
    r.two.queue(DEVICE, replace("./Acme/Mode", "turbo"));
    r.two.queue(DEVICE, add("./Vendor2/Deep/Leaf", "chr", Some("x")));
    r.two.queue(DEVICE, replace("./Vendor2/Deep/Leaf", "y"));
    r.session(&r.two);
    assert_eq!(codes(&r.two, "Add"), pairs(&[("./Acme", 200), ("./Acme/Mode", 200), ("./Vendor2/Deep/Leaf", 200)]));
    assert_eq!(codes(&r.two, "Replace"), pairs(&[("./Acme/Mode", 200), ("./Vendor2/Deep/Leaf", 200)]));
    assert_eq!(r.acl("./Acme"), format!("Add={TWO}&Delete={TWO}&Get={TWO}&Replace={TWO}"));
    assert_eq!(r.acl("./Vendor2"), format!("Add={TWO}&Delete={TWO}&Get={TWO}&Replace={TWO}"));

    r.one.queue(DEVICE, get("./Acme/Mode"));
    r.one.queue(DEVICE, replace("./Acme/Mode", "off"));
    r.one.queue(DEVICE, replace("./Acme?prop=ACL", "Get=*&Replace=*"));
    r.one.queue(DEVICE, delete("./Vendor2"));
    r.session(&r.one);
    assert_eq!(codes(&r.one, "Get"), pairs(&[("./Acme/Mode", 425)]));
    assert_eq!(codes(&r.one, "Replace"), pairs(&[("./Acme/Mode", 425), ("./Acme?prop=ACL", 425)]));
    assert_eq!(codes(&r.one, "Delete"), pairs(&[("./Vendor2", 425)]));
    assert_eq!(r.tree().leaf_text("./Acme/Mode").as_deref(), Some("turbo"));
}
