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
use fotad::cancel::CancelToken;
use fotad::dm::auth::Scheme;
use fotad::dm::session::{NoUi, Prompt, PromptKind, Trigger, UiAnswer, UserInteraction};
use fotad::dm::syncml::{Codec, Command, FirmwareCmd, ItemCmd, Loc};
use fotad::download::{DownloadSettings, Downloader};
use fotad::fumo::{install_fumo, install_legacy, FumoExec, FumoStore, Legacy, Runner, Step};
use fotad_tests::images::{evolve, write_image};
use fotad_tests::nginx::Nginx;
use fotad_updater::boot::sim::{boot_once, Selection};
use fotad_updater::delta::{pack, ImageInput, PackSpec, PlanSettings};
use fotad_updater::lifecycle::{open_backend, Lifecycle};
use fotad_updater::package::{load_secret_key, write_keypair};

const FUMO: &str = "./FUMO/fotad";
/// A package node of the legacy firmware-update commands.
const LEGACY: &str = "./FwUpdate/v2";
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
    let version: fotad::dm::tree::DynamicFn = Arc::new(|| "1.0".to_string());
    install_fumo(s.client.tree(), FUMO, Arc::clone(&store), version, "Get=*&Replace=*&Exec=*").unwrap();
    fotad::fumo::vendor::install_slot_nodes(s.client.tree(), updater.clone()).unwrap();
    install_legacy(s.client.tree(), "./FwUpdate", &store, "Get=*&Replace=*&Exec=*").unwrap();
    let runner = Runner {
        store: Arc::clone(&store),
        alerts: s.client.alerts(),
        updater,
        downloader: Downloader::new(DownloadSettings::default()).unwrap(),
        state_dir: d("state"),
        language: "en".into(),
        policy: fotad_updater::update::DevicePolicy::None,
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
        full_op_size: None,
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
        self.session_with(&NoUi);
    }

    fn session_with(&mut self, ui: &dyn UserInteraction) {
        let legacy = Legacy { root: "./FwUpdate".into(), updater: self.runner.updater.clone(), language: "en".into() };
        let mut fumo = FumoExec::new("./FUMO", Arc::clone(&self.store)).with_legacy(Some(legacy));
        self.s.client.session(None, &Trigger::Client, ui, &mut fumo).unwrap();
    }

    /// Queues a legacy firmware-update command on the package node `LEGACY`.
    fn legacy(&mut self, f: FirmwareCmd, source: Option<&str>, data: Option<&str>, correlator: Option<&str>) {
        let mut it = item(LEGACY, None, data);
        it.source = source.map(Loc::uri);
        let c = ItemCmd { correlator: correlator.map(str::to_string), ..cmd(vec![it]) };
        self.s.server.queue(DEVICE, Command::Firmware(f, c));
    }

    /// The Status codes the device sent for commands named `name`, since `from`.
    fn statuses_since(&self, from: usize, name: &str) -> Vec<u16> {
        common::statuses(&self.s).iter().skip(from).filter(|s| s.cmd == name).map(|s| s.code).collect()
    }

    fn run(&self) -> Step {
        self.runner.run_next(&CancelToken::new(), &mut |_| {}).unwrap()
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
        self.state_of(FUMO)
    }

    fn state_of(&self, instance: &str) -> u16 {
        self.store.lock().unwrap().state(instance).code()
    }

    /// The value of `uri` as the server reads it with Get.
    fn server_gets(&mut self, uri: &str) -> Option<Vec<u8>> {
        self.s.server.queue(DEVICE, Command::Get(cmd(vec![item(uri, None, None)])));
        self.session();
        common::results_data(&self.s).into_iter().rev().find(|(u, _)| u == uri).map(|(_, v)| v)
    }
}

/// Answers every prompt with one answer and keeps the prompts.
struct Ui(UiAnswer, Mutex<Vec<Prompt>>);

impl UserInteraction for Ui {
    fn prompt(&self, prompt: &Prompt) -> Option<UiAnswer> {
        self.1.lock().unwrap().push(prompt.clone());
        Some(self.0.clone())
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
    assert!(matches!(r.run(), Step::Finished(_)));
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
    assert!(matches!(r.run(), Step::Finished(_)));
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
    assert!(matches!(r.run(), Step::Finished(_)));
    assert_eq!(r.run(), Step::Reboot, "the second job did not start");
    assert_eq!(std::fs::read(r.d("rootfs-a.img")).unwrap(), r.images[2], "v3 not in slot A");
    r.reboot();
    r.mark_good();
    assert!(matches!(r.run(), Step::Finished(_)));
    assert_eq!(r.run(), Step::Idle);
    r.session();
    let got: Vec<_> = r.reports().into_iter().map(|(c, d, _)| (c, d)).collect();
    assert_eq!(got, [("c-1".to_string(), "200".to_string()), ("c-2".to_string(), "200".to_string())]);
}

#[test]
fn refused_packages_are_reported_and_activate_nothing() {
    let mut r = rig();
    r.server_orders(&[("rogue.fota", "bad-sig"), ("other-model.fota", "bad-model")]);
    assert!(matches!(r.run(), Step::Finished(_)));
    assert_eq!(r.state(), 20);
    assert!(matches!(r.run(), Step::Finished(_)));
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
    assert!(job.file().is_some(), "PkgData not captured: {job:?}; statuses {:?}", common::statuses(&r.s));
    assert_eq!(r.run(), Step::Reboot);
    assert_eq!(std::fs::read(r.d("rootfs-b.img")).unwrap(), r.images[1]);
    r.reboot();
    r.mark_good();
    assert!(matches!(r.run(), Step::Finished(_)));
    r.session();
    assert_eq!(r.reports(), [("c-u".to_string(), "200".to_string(), None)]);
    let types: Vec<_> = common::sent_alerts(&r.s, 1226)
        .into_iter()
        .filter_map(|a| a.items[0].meta.clone().and_then(|m| m.type_))
        .collect();
    assert_eq!(types, ["org.openmobilealliance.dm.firmwareupdate.update"]);
}

#[test]
fn legacy_commands_download_verify_save_apply_and_confirm_on_the_fumo_jobs() {
    let mut r = rig();
    let url = r.nginx.url("/v2.fota");
    r.legacy(FirmwareCmd::GetFirmwareUpdate, Some(&url), None, Some("L-get"));
    r.session();
    assert_eq!(r.statuses_since(0, "GetFirmwareUpdate"), [202]);
    assert!(matches!(r.run(), Step::Finished(_)), "the download job did not finish");
    assert_eq!(r.state_of(LEGACY), 50);
    assert_eq!(std::fs::read(r.d("rootfs-b.img")).unwrap(), r.images[1]);
    assert!(std::fs::read_to_string(r.d("cmdline")).unwrap().contains("fotad.slot=A"));

    // The same package again, in the generic form with DL_URL: nothing is fetched.
    let seen = common::statuses(&r.s).len();
    r.legacy(FirmwareCmd::Download, None, Some(&format!("DL_URL={url}&DL_Prompt=0")), None);
    r.legacy(FirmwareCmd::VerifyFirmwareUpdate, None, None, None);
    r.legacy(FirmwareCmd::SaveFirmwareUpdate, None, None, None);
    r.legacy(FirmwareCmd::ApplyFirmwareUpdate, None, None, Some("L-apply"));
    r.session();
    assert_eq!(r.statuses_since(seen, "Download"), [200], "a repeated Get of the same package was not skipped");
    assert_eq!(r.statuses_since(seen, "VerifyFirmwareUpdate"), [200]);
    assert_eq!(r.statuses_since(seen, "SaveFirmwareUpdate"), [200]);
    assert_eq!(r.statuses_since(seen, "ApplyFirmwareUpdate"), [202]);
    assert_eq!(r.server_gets(LEGACY).as_deref(), Some(&b"200"[..]), "Verify's result is not in the Target node");

    assert_eq!(r.run(), Step::Reboot);
    let seen = common::statuses(&r.s).len();
    r.legacy(FirmwareCmd::ConfirmFirmwareUpdate, None, None, None);
    r.session();
    assert_eq!(r.statuses_since(seen, "ConfirmFirmwareUpdate"), [202], "confirmed before the reboot");
    r.reboot();
    r.mark_good();
    assert!(matches!(r.run(), Step::Finished(_)));
    assert_eq!(r.state_of(LEGACY), 100);
    let seen = common::statuses(&r.s).len();
    r.legacy(FirmwareCmd::ConfirmFirmwareUpdate, None, None, None);
    r.session();
    assert_eq!(r.statuses_since(seen, "ConfirmFirmwareUpdate"), [200]);
    let last = common::results_data(&r.s).pop();
    assert_eq!(last, Some((LEGACY.to_string(), b"200".to_vec())));
    assert_eq!(r.state_of(LEGACY), 10, "Confirm did not close the update");
    assert!(std::fs::read_to_string(r.d("cmdline")).unwrap().contains("fotad.slot=B"));

    let alerts = common::sent_alerts(&r.s, 1226);
    let got: Vec<_> = alerts
        .iter()
        .map(|a| {
            let it = &a.items[0];
            let type_ = it.meta.clone().and_then(|m| m.type_).unwrap_or_default();
            let data = String::from_utf8(it.data.clone().unwrap_or_default()).unwrap();
            (it.source_uri().unwrap_or_default().to_string(), type_, a.correlator.clone(), data)
        })
        .collect();
    let fw = "org.openmobilealliance.dm.firmwareupdate";
    assert_eq!(
        got,
        [
            (LEGACY.to_string(), format!("{fw}.download"), Some("L-get".to_string()), "200".to_string()),
            (LEGACY.to_string(), format!("{fw}.update"), Some("L-apply".to_string()), "200".to_string()),
        ]
    );
}

#[test]
fn legacy_verify_catches_a_damaged_slot_which_is_then_never_applied() {
    let mut r = rig();
    let url = r.nginx.url("/v2.fota");
    r.legacy(FirmwareCmd::GetFirmwareUpdate, Some(&url), None, None);
    r.session();
    assert!(matches!(r.run(), Step::Finished(_)));
    let mut slot = std::fs::read(r.d("rootfs-b.img")).unwrap();
    slot[4096] ^= 0xff;
    std::fs::write(r.d("rootfs-b.img"), &slot).unwrap();
    let seen = common::statuses(&r.s).len();
    r.legacy(FirmwareCmd::VerifyFirmwareUpdate, None, None, None);
    r.legacy(FirmwareCmd::ApplyFirmwareUpdate, None, None, None);
    r.session();
    assert_eq!(r.statuses_since(seen, "VerifyFirmwareUpdate"), [500]);
    assert_eq!(r.statuses_since(seen, "ApplyFirmwareUpdate"), [404], "a slot that failed Verify was applied");
    assert_eq!(r.server_gets(LEGACY).as_deref(), Some(&b"402"[..]));
    assert_eq!(r.run(), Step::Idle);
    r.reboot();
    assert!(std::fs::read_to_string(r.d("cmdline")).unwrap().contains("fotad.slot=A"));

    // Get fetches the package again now, and the slot is whole again.
    let seen = common::statuses(&r.s).len();
    r.legacy(FirmwareCmd::GetFirmwareUpdate, Some(&url), None, None);
    r.session();
    assert_eq!(r.statuses_since(seen, "GetFirmwareUpdate"), [202]);
    assert!(matches!(r.run(), Step::Finished(_)));
    assert_eq!(std::fs::read(r.d("rootfs-b.img")).unwrap(), r.images[1]);
}

#[test]
fn legacy_download_prompt_asks_the_user_and_a_no_fetches_nothing() {
    let mut r = rig();
    let data = format!("DL_URL={}&DL_Prompt=1", r.nginx.url("/v2.fota"));
    let no = Ui(UiAnswer::Rejected, Mutex::default());
    r.legacy(FirmwareCmd::GetFirmwareUpdate, None, Some(&data), None);
    r.session_with(&no);
    assert_eq!(r.statuses_since(0, "GetFirmwareUpdate"), [214]);
    let prompts = no.1.lock().unwrap().clone();
    assert_eq!(prompts.len(), 1);
    assert_eq!((prompts[0].kind, prompts[0].text.as_str()), (PromptKind::Confirm, "Download the firmware update v2?"));
    assert_eq!(r.run(), Step::Idle, "a declined download was queued");
    assert_eq!(r.server_gets(LEGACY).as_deref(), Some(&b"401"[..]));

    let yes = Ui(UiAnswer::Accepted, Mutex::default());
    let seen = common::statuses(&r.s).len();
    r.legacy(FirmwareCmd::GetFirmwareUpdate, None, Some(&data), None);
    // Without a package node below the legacy root: 404.
    let mut outside = item("./FUMO/fotad", None, None);
    outside.source = Some(Loc::uri(r.nginx.url("/v2.fota")));
    r.s.server.queue(DEVICE, Command::Firmware(FirmwareCmd::GetFirmwareUpdate, cmd(vec![outside])));
    r.session_with(&yes);
    assert_eq!(r.statuses_since(seen, "GetFirmwareUpdate"), [202, 404]);
    assert!(matches!(r.run(), Step::Finished(_)));
    assert_eq!(r.state_of(LEGACY), 50);
}

#[test]
fn legacy_commands_without_a_legacy_root_are_not_supported() {
    let mut r = rig();
    r.legacy(FirmwareCmd::GetFirmwareUpdate, Some("http://127.0.0.1:9/u.fota"), None, None);
    let mut plain = FumoExec::new("./FUMO", Arc::clone(&r.store));
    r.s.client.session(None, &Trigger::Client, &NoUi, &mut plain).unwrap();
    assert_eq!(r.statuses_since(0, "GetFirmwareUpdate"), [406]);
    assert_eq!(r.run(), Step::Idle);
}
