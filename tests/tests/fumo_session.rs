//! FUMO over real DM sessions with `fotad-testserver`: Exec on the FUMO nodes
//! is answered 202 and queued with the PkgURL and Correlator of that moment
//! (so a server can chain packages in one session), the State node is
//! served live, and the result reaches the server as a Generic Alert 1226
//! exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use common::{cmd, item, setup, status_for, DEVICE};
use fotad::dm::auth::Scheme;
use fotad::dm::session::{NoUi, Trigger};
use fotad::dm::syncml::{Codec, Command, ItemCmd};
use fotad::fumo::{install_fumo, Ended, FumoExec, FumoResult, FumoStore, Operation};

const FUMO: &str = "./FUMO/fotad";

fn with_fumo(s: &mut common::Setup) -> Arc<Mutex<FumoStore>> {
    let store = Arc::new(Mutex::new(FumoStore::in_memory()));
    let version: fotad::dm::tree::DynamicFn = Arc::new(|| "1.0.0".to_string());
    install_fumo(s.client.tree(), FUMO, Arc::clone(&store), version, "Get=*&Replace=*&Exec=*").unwrap();
    store
}

fn replace_url(s: &common::Setup, url: &str) {
    let replace = cmd(vec![item(&format!("{FUMO}/DownloadAndUpdate/PkgURL"), Some("chr"), Some(url))]);
    s.server.queue(DEVICE, Command::Replace(replace));
}

fn exec(s: &common::Setup, node: &str, correlator: &str) {
    let exec =
        ItemCmd { correlator: Some(correlator.into()), ..cmd(vec![item(&format!("{FUMO}/{node}"), None, None)]) };
    s.server.queue(DEVICE, Command::Exec(exec));
}

#[test]
fn exec_is_accepted_and_queued_with_the_url_and_correlator_of_its_moment() {
    let mut s = setup(Scheme::Md5, Codec::Xml);
    let store = with_fumo(&mut s);
    replace_url(&s, "https://updates.example/v2.fota");
    exec(&s, "DownloadAndUpdate", "c-2");
    replace_url(&s, "https://updates.example/v3.fota");
    exec(&s, "DownloadAndUpdate", "c-3");
    exec(&s, "Update", "c-u");
    s.server.queue(DEVICE, Command::Get(cmd(vec![item(&format!("{FUMO}/State"), None, None)])));
    let mut fumo = FumoExec::new("./FUMO", Arc::clone(&store));
    s.client.session(None, &Trigger::Client, &NoUi, &mut fumo).unwrap();

    assert_eq!(status_for(&s, "Exec"), [202, 202, 202]);
    let jobs: Vec<_> = store.lock().unwrap().jobs().cloned().collect();
    let got: Vec<_> =
        jobs.iter().map(|j| (j.operation, j.url().map(String::from), j.correlator.clone().unwrap())).collect();
    assert_eq!(
        got,
        [
            (Operation::DownloadAndUpdate, Some("https://updates.example/v2.fota".into()), "c-2".into()),
            (Operation::DownloadAndUpdate, Some("https://updates.example/v3.fota".into()), "c-3".into()),
            (Operation::Update, None, "c-u".into()),
        ]
    );
    let default_server = fotad_tests::testserver::ServerConfig::default().server_id;
    assert!(jobs.iter().all(|j| j.server_id == default_server), "{jobs:?}");
    let state = common::results_data(&s);
    assert!(state.contains(&(format!("{FUMO}/State"), b"10".to_vec())), "{state:?}");
}

#[test]
fn exec_outside_fumo_is_not_supported() {
    let mut s = setup(Scheme::Basic, Codec::Xml);
    let store = with_fumo(&mut s);
    s.client.tree().put_leaf("./Vendor/Reboot", b"", "null").unwrap();
    s.client.tree().with_node("./Vendor", |n| n.acl = fotad::dm::tree::Acl::parse("Exec=*&Get=*").unwrap()).unwrap();
    s.server.queue(DEVICE, Command::Exec(cmd(vec![item("./Vendor/Reboot", None, None)])));
    let mut fumo = FumoExec::new("./FUMO", Arc::clone(&store));
    s.client.session(None, &Trigger::Client, &NoUi, &mut fumo).unwrap();
    assert_eq!(status_for(&s, "Exec"), [406]);
    assert_eq!(store.lock().unwrap().jobs().count(), 0);
}

#[test]
fn the_result_reaches_the_server_as_one_generic_alert() {
    let mut s = setup(Scheme::Hmac, Codec::Wbxml);
    let store = with_fumo(&mut s);
    replace_url(&s, "https://updates.example/v2.fota");
    exec(&s, "DownloadAndUpdate", "c-9");
    let mut fumo = FumoExec::new("./FUMO", Arc::clone(&store));
    s.client.session(None, &Trigger::Client, &NoUi, &mut fumo).unwrap();
    let id = store.lock().unwrap().current().unwrap().id;
    store.lock().unwrap().finish(id, Some(Ended::UpdateFailed), FumoResult::UpdateFailed, &s.client.alerts()).unwrap();

    s.client.session(None, &Trigger::Client, &NoUi, &mut fumo).unwrap();
    s.client.session(None, &Trigger::Client, &NoUi, &mut fumo).unwrap();
    let alerts = common::sent_alerts(&s, 1226);
    assert_eq!(alerts.len(), 1, "the 1226 was sent {} times", alerts.len());
    let a = &alerts[0];
    assert_eq!(a.correlator.as_deref(), Some("c-9"));
    let item = &a.items[0];
    let meta = item.meta.as_ref().unwrap();
    assert_eq!(meta.type_.as_deref(), Some("org.openmobilealliance.dm.firmwareupdate.downloadandupdate"));
    assert_eq!((meta.format.as_deref(), meta.mark.as_deref()), (Some("int"), Some("critical")));
    assert_eq!(item.source.as_ref().unwrap().uri, FUMO);
    assert_eq!(item.data.as_deref(), Some(&b"410"[..]));
    assert!(s.client.alerts().is_empty());
}
