//! The main path, end to end: a DM server (`fotad-testserver`) sets PkgURL
//! and Execs DownloadAndUpdate; the agent answers 202; the FUMO runner
//! streams the package from the real nginx into the inactive file slot,
//! activates it; the device reboots (the boot scripts' rule, simulated) and
//! confirms or falls back; the result reaches the server as one 1226.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use common::{cmd, item, setup, DEVICE};
use fotad::auth::Scheme;
use fotad::download::{DownloadSettings, Downloader};
use fotad::fumo::{install_fumo, FumoExec, FumoStore, Runner, Step};
use fotad::session::{NoUi, Trigger};
use fotad::syncml::{Codec, Command, ItemCmd};
use fotad_tests::images::{evolve, write_image};
use fotad_tests::nginx::Nginx;
use fotad_updater::boot::sim::{boot_once, Selection};
use fotad_updater::delta::{pack, ImageInput, PackSpec, PlanSettings};
use fotad_updater::lifecycle::{open_backend, Lifecycle};
use fotad_updater::package::{load_secret_key, write_keypair};

const FUMO: &str = "./FUMO/fotad";
const MIB: u64 = 1 << 20;

struct Rig {
    dir: tempfile::TempDir,
    s: common::Setup,
    store: Arc<Mutex<FumoStore>>,
    runner: Runner,
    nginx: Nginx,
    images: Vec<Vec<u8>>,
}

fn path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// A device on file slots (slot A: v1, booted, confirmed) and packages v2
/// (delta over v1) and v3 (delta over v2) on nginx, plus a badly signed v2.
fn rig() -> Rig {
    rig_with(Codec::Xml)
}

fn rig_with(codec: Codec) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| path(dir.path(), n);
    for sub in ["keys", "www", "state", "root/etc/fotad"] {
        std::fs::create_dir_all(d(sub)).unwrap();
    }
    write_image(&mut std::fs::File::create(d("rootfs-a.img")).unwrap(), 2 * MIB, 1).unwrap();
    let v1 = std::fs::read(d("rootfs-a.img")).unwrap();
    let (v2, v3) = (evolve(&v1, 2), evolve(&evolve(&v1, 2), 3));
    std::fs::write(d("v2.img"), &v2).unwrap();
    std::fs::write(d("v3.img"), &v3).unwrap();
    std::fs::write(d("rootfs-b.img"), []).unwrap();
    std::fs::write(d("cmdline"), "fotad.slot=A\n").unwrap();
    write_keypair(&d("release")).unwrap();
    std::fs::copy(d("release.pub"), d("keys/release.pub")).unwrap();
    write_keypair(&d("rogue")).unwrap();
    let key = load_secret_key(&d("release.key")).unwrap();
    let rogue = load_secret_key(&d("rogue.key")).unwrap();
    package(&d("www/v2.fota"), "acme,gw-1", "2.0", &d("v2.img"), &d("rootfs-a.img"), &key);
    package(&d("www/v3.fota"), "acme,gw-1", "3.0", &d("v3.img"), &d("v2.img"), &key);
    package(&d("www/rogue.fota"), "acme,gw-1", "2.0", &d("v2.img"), &d("rootfs-a.img"), &rogue);
    package(&d("www/other-model.fota"), "other,model", "2.0", &d("v2.img"), &d("rootfs-a.img"), &key);
    fotad_tests::device::write_file_slot_config(&d("root"), dir.path(), "acme,gw-1").unwrap();
    let updater = fotad_updater::update::settings_under(&d("root")).unwrap();
    let mut s = setup(Scheme::Md5, codec);
    let store = Arc::new(Mutex::new(FumoStore::open(&d("state")).unwrap()));
    let version: fotad::tree::DynamicFn = Arc::new(|| "1.0".to_string());
    install_fumo(s.client.tree(), FUMO, Arc::clone(&store), version, "Get=*&Replace=*&Exec=*").unwrap();
    fotad::fumo::vendor::install_slot_nodes(s.client.tree(), updater.clone()).unwrap();
    let runner = Runner {
        store: Arc::clone(&store),
        alerts: s.client.alerts(),
        updater,
        downloader: Downloader::new(DownloadSettings::default()).unwrap(),
        state_dir: d("state"),
        language: "en".into(),
        policy: None,
        cancel: None,
    };
    let nginx = Nginx::start(&d("www"), None).unwrap();
    Rig { dir, s, store, runner, nginx, images: vec![v1, v2, v3] }
}

fn package(out: &Path, compatible: &str, version: &str, new: &Path, old: &Path, key: &ed25519_dalek::SigningKey) {
    let spec = PackSpec {
        compatible: compatible.into(),
        version: version.into(),
        security_version: 1,
        operator_tag: None,
        description: Default::default(),
        images: vec![("rootfs".into(), ImageInput::Delta { target: new.into(), source: old.into() })],
        op_size: 512 << 10,
        threads: 2,
        settings: PlanSettings::default(),
    };
    pack(&spec, std::slice::from_ref(key), out).unwrap();
}

impl Rig {
    fn d(&self, name: &str) -> PathBuf {
        path(self.dir.path(), name)
    }

    /// The server sets PkgURL and Execs DownloadAndUpdate, once per package.
    fn server_orders(&mut self, packages: &[(&str, &str)]) {
        for (file, correlator) in packages {
            let url = self.nginx.url(&format!("/{file}"));
            let replace = cmd(vec![item(&format!("{FUMO}/DownloadAndUpdate/PkgURL"), Some("chr"), Some(&url))]);
            self.s.server.queue(DEVICE, Command::Replace(replace));
            let target = item(&format!("{FUMO}/DownloadAndUpdate"), None, None);
            let exec = ItemCmd { correlator: Some(correlator.to_string()), ..cmd(vec![target]) };
            self.s.server.queue(DEVICE, Command::Exec(exec));
        }
        self.session();
    }

    fn session(&mut self) {
        let mut fumo = FumoExec::new("./FUMO", Arc::clone(&self.store));
        self.s.client.session(None, &Trigger::Client, &NoUi, &mut fumo).unwrap();
    }

    fn run(&self) -> Step {
        self.runner.run_next(&mut |_| {}).unwrap()
    }

    fn reboot(&self) {
        let settings = &self.runner.updater;
        let slot = match boot_once(open_backend(&settings.bootloader).unwrap().as_ref()).unwrap() {
            Selection::Boot(s) | Selection::Rescue(s) => s,
        };
        std::fs::write(&settings.cmdline, format!("fotad.slot={slot}\n")).unwrap();
    }

    fn mark_good(&self) {
        Lifecycle::open(&self.runner.updater).unwrap().mark_good().unwrap();
    }

    /// The 1226 alerts the server received: (correlator, data, mark).
    fn reports(&self) -> Vec<(String, String, Option<String>)> {
        let alerts = common::sent_alerts(&self.s, 1226);
        alerts
            .iter()
            .map(|a| {
                let item = &a.items[0];
                let meta = item.meta.clone().unwrap_or_default();
                let data = String::from_utf8(item.data.clone().unwrap_or_default()).unwrap();
                (a.correlator.clone().unwrap_or_default(), data, meta.mark)
            })
            .collect()
    }

    fn state(&self) -> u16 {
        self.store.lock().unwrap().state(FUMO).code()
    }
}

#[test]
fn download_and_update_then_reboot_and_confirm_reports_200() {
    let mut r = rig();
    r.server_orders(&[("v2.fota", "c-1")]);
    assert_eq!(r.run(), Step::Reboot);
    assert_eq!(r.state(), 60);
    assert_eq!(std::fs::read(r.d("rootfs-b.img")).unwrap(), r.images[1]);
    r.reboot();
    assert_eq!(r.run(), Step::AwaitMarkGood, "reported before the new slot was confirmed");
    r.mark_good();
    assert_eq!(r.run(), Step::Continue);
    assert_eq!(r.state(), 100);
    assert_eq!(r.run(), Step::Idle);
    r.session();
    let get = |uri: &str| Command::Get(cmd(vec![item(uri, None, None)]));
    r.s.server.queue(DEVICE, get("./DevDetail/Ext/fotad/Booted"));
    r.s.server.queue(DEVICE, get("./DevDetail/Ext/fotad/Slots/B/Version"));
    r.s.server.queue(DEVICE, get("./DevDetail/Ext/fotad/Slots/B/State"));
    r.session();
    assert_eq!(r.reports(), [("c-1".to_string(), "200".to_string(), None)]);
    let results = common::results_data(&r.s);
    for (uri, value) in [("Booted", "B"), ("Slots/B/Version", "2.0"), ("Slots/B/State", "good")] {
        let uri = format!("./DevDetail/Ext/fotad/{uri}");
        assert!(results.contains(&(uri.clone(), value.as_bytes().to_vec())), "{uri} != {value}: {results:?}");
    }
}

#[test]
fn a_new_slot_that_never_confirms_falls_back_and_reports_410() {
    let mut r = rig();
    r.server_orders(&[("v2.fota", "c-1")]);
    assert_eq!(r.run(), Step::Reboot);
    for _ in 0..3 {
        r.reboot();
    }
    assert!(std::fs::read_to_string(r.d("cmdline")).unwrap().contains("fotad.slot=A"));
    assert_eq!(r.run(), Step::Continue);
    assert_eq!(r.state(), 80);
    r.session();
    assert_eq!(r.reports(), [("c-1".to_string(), "410".to_string(), Some("critical".to_string()))]);
}

#[test]
fn two_packages_from_one_session_are_installed_one_after_another() {
    let mut r = rig();
    r.server_orders(&[("v2.fota", "c-1"), ("v3.fota", "c-2")]);
    assert_eq!(r.run(), Step::Reboot);
    r.reboot();
    r.mark_good();
    assert_eq!(r.run(), Step::Continue);
    assert_eq!(r.run(), Step::Reboot, "the second job did not start");
    assert_eq!(std::fs::read(r.d("rootfs-a.img")).unwrap(), r.images[2], "v3 not in slot A");
    r.reboot();
    r.mark_good();
    assert_eq!(r.run(), Step::Continue);
    assert_eq!(r.run(), Step::Idle);
    r.session();
    let got: Vec<_> = r.reports().into_iter().map(|(c, d, _)| (c, d)).collect();
    assert_eq!(got, [("c-1".to_string(), "200".to_string()), ("c-2".to_string(), "200".to_string())]);
}

#[test]
fn refused_packages_are_reported_and_activate_nothing() {
    let mut r = rig();
    r.server_orders(&[("rogue.fota", "bad-sig"), ("other-model.fota", "bad-model")]);
    assert_eq!(r.run(), Step::Continue);
    assert_eq!(r.state(), 20);
    assert_eq!(r.run(), Step::Continue);
    assert_eq!(r.run(), Step::Idle);
    r.reboot();
    assert!(
        std::fs::read_to_string(r.d("cmdline")).unwrap().contains("fotad.slot=A"),
        "a refused package was activated"
    );
    r.session();
    let got: Vec<_> = r.reports().into_iter().map(|(c, d, _)| (c, d)).collect();
    assert_eq!(got, [("bad-sig".to_string(), "404".to_string()), ("bad-model".to_string(), "403".to_string())]);
}

#[test]
fn a_package_delivered_in_pkgdata_is_installed_by_update() {
    let mut r = rig_with(Codec::Wbxml);
    let bytes = std::fs::read(r.d("www/v2.fota")).unwrap();
    let uri = format!("{FUMO}/Update/PkgData");
    r.s.server.queue_large(DEVICE, true, &uri, "bin", fotad_tests::testserver::Payload::Bytes(bytes));
    let exec = ItemCmd { correlator: Some("c-u".into()), ..cmd(vec![item(&format!("{FUMO}/Update"), None, None)]) };
    r.s.server.queue(DEVICE, Command::Exec(exec));
    r.session();
    assert_eq!(common::status_for(&r.s, "Exec"), [202]);
    let job = r.store.lock().unwrap().current().cloned().unwrap();
    assert!(job.pkg_file.is_some(), "PkgData not captured: {job:?}; statuses {:?}", common::statuses(&r.s));
    assert_eq!(r.run(), Step::Reboot);
    assert_eq!(std::fs::read(r.d("rootfs-b.img")).unwrap(), r.images[1]);
    r.reboot();
    r.mark_good();
    assert_eq!(r.run(), Step::Continue);
    r.session();
    assert_eq!(r.reports(), [("c-u".to_string(), "200".to_string(), None)]);
    let types: Vec<_> = common::sent_alerts(&r.s, 1226)
        .into_iter()
        .filter_map(|a| a.items[0].meta.clone().and_then(|m| m.type_))
        .collect();
    assert_eq!(types, ["org.openmobilealliance.dm.firmwareupdate.update"]);
}
