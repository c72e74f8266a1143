//! Helpers shared by the session integration tests.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use fotad::dm::auth::Scheme;
use fotad::dm::client::DmClient;
use fotad::dm::config::Settings;
use fotad::dm::mo::Versions;
use fotad::dm::session::{NoExec, NoUi, Trigger};
use fotad::dm::syncml::{Codec, Command, Item, ItemCmd, Loc, Meta, Status};
use fotad_tests::testserver::harness::device_toml;
use fotad_tests::testserver::{ServerConfig, TestServer};

pub const DEVICE: &str = "IMEI:490154203237518";

pub struct Setup {
    pub server: TestServer,
    pub client: DmClient,
    pub _dir: tempfile::TempDir,
}

pub fn setup_with(cfg: ServerConfig, codec: Codec, max_msg_size: u64, device_secret: Option<&str>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(cfg.clone(), 0, None).unwrap();
    let mut dev_cfg = cfg;
    if let Some(s) = device_secret {
        dev_cfg.client_secret = s.into();
    }
    let toml = device_toml(dir.path(), &server.url(), &dev_cfg, codec, max_msg_size, None);
    let settings = Settings::from_toml_str(&toml).unwrap();
    let client = DmClient::open(settings, Versions::fixed("fw-1.0", "sw-1.0")).unwrap();
    Setup { server, client, _dir: dir }
}

/// Like [`setup_with`], with more `[dm]` keys for the device (e.g.
/// `devinfo_compat = true`).
pub fn setup_with_dm(cfg: &ServerConfig, codec: Codec, max_msg_size: u64, dm_keys: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(cfg.clone(), 0, None).unwrap();
    let toml = device_toml(dir.path(), &server.url(), cfg, codec, max_msg_size, None);
    let toml = toml.replacen("[dm]\n", &format!("[dm]\n{dm_keys}\n"), 1);
    let settings = Settings::from_toml_str(&toml).unwrap();
    let client = DmClient::open(settings, Versions::fixed("fw-1.0", "sw-1.0")).unwrap();
    Setup { server, client, _dir: dir }
}

pub fn setup(auth: Scheme, codec: Codec) -> Setup {
    setup_with(ServerConfig { client_auth: auth, ..ServerConfig::default() }, codec, 16 * 1024, None)
}

pub fn item(uri: &str, format: Option<&str>, data: Option<&str>) -> Item {
    Item {
        target: Some(Loc::uri(uri)),
        meta: format.map(|f| Meta { format: Some(f.into()), ..Meta::default() }),
        data: data.map(|d| d.as_bytes().to_vec()),
        ..Item::default()
    }
}

pub fn cmd(items: Vec<Item>) -> ItemCmd {
    ItemCmd { items, ..ItemCmd::default() }
}

pub fn run(s: &mut Setup) -> Result<fotad::dm::session::SessionReport, fotad::dm::client::ClientError> {
    s.client.session(None, &Trigger::Client, &NoUi, &mut NoExec)
}

pub fn statuses(s: &Setup) -> Vec<Status> {
    s.server.received().into_iter().filter_map(|c| if let Command::Status(st) = c { Some(st) } else { None }).collect()
}

pub fn status_for(s: &Setup, cmd: &str) -> Vec<u16> {
    statuses(s).into_iter().filter(|st| st.cmd == cmd).map(|st| st.code).collect()
}

pub fn results_data(s: &Setup) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for c in s.server.received() {
        if let Command::Results(r) = c {
            for i in r.items {
                out.push((i.source.map(|l| l.uri).unwrap_or_default(), i.data.unwrap_or_default()));
            }
        }
    }
    out
}

pub fn leaf(s: &mut Setup, uri: &str) -> Option<String> {
    s.client.tree().leaf_text(uri)
}

/// The alerts with `code` (e.g. 1226) the server received, over every session.
pub fn sent_alerts(s: &Setup, code: u32) -> Vec<fotad::dm::syncml::Alert> {
    s.server
        .log()
        .into_iter()
        .flat_map(|exchange| exchange.request.body.commands)
        .filter_map(|c| match c {
            Command::Alert(a) if a.data == code => Some(a),
            _ => None,
        })
        .collect()
}
