//! A whole device driven through the real binaries, for the demo and the
//! agent-process tests: `fotad-testserver` (in-process) as the DM server,
//! the real `nginx` serving signed delta packages, and `fotad --once` with
//! `fotad-update` on file slots whose "reboot" is the boot scripts' selection
//! rule (`fotad-update simulate-boot`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{ensure, Context, Result};
use fotad::dm::syncml::{Codec, Command as DmCommand, Item, ItemCmd, Loc, Meta};
use fotad_updater::delta::{pack, ImageInput, PackSpec, PlanSettings};
use fotad_updater::package::{load_secret_key, write_keypair};

use crate::images::{evolve, write_image};
use crate::nginx::Nginx;
use crate::testserver::harness::device_toml;
use crate::testserver::{ServerConfig, TestServer};

/// The device's model string.
pub const COMPATIBLE: &str = "acme,gw-1";
/// The device id the server knows.
pub const DEVICE_ID: &str = "IMEI:490154203237518";
/// The A/B system's FUMO instance.
pub const FUMO: &str = "./FUMO/fotad";

/// The directory holding the workspace's binaries (`fotad`, `fotad-update`)
/// next to the running one (`target/<profile>/` or its `deps/`).
pub fn bin_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating this program")?;
    let mut dir = exe.parent().context("no parent directory")?.to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    for bin in ["fotad", "fotad-update"] {
        ensure!(
            dir.join(bin).is_file(),
            "{} is missing: build the workspace first (cargo build --workspace; scripts/test does)",
            dir.join(bin).display()
        );
    }
    Ok(dir)
}

/// A device (slot A: v1, booted), a DM server, and packages on nginx:
/// `v2.fota` (delta v1→v2), `v2-full.fota` (v2 whole), `v3.fota` (delta
/// v2→v3), `rogue.fota` (v2 signed with an untrusted key).
pub struct AgentRig {
    pub dir: PathBuf,
    pub server: TestServer,
    pub nginx: Nginx,
    bins: PathBuf,
    /// v1, v2, v3.
    pub images: Vec<Vec<u8>>,
}

impl std::fmt::Debug for AgentRig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentRig").field("dir", &self.dir).field("bins", &self.bins).finish_non_exhaustive()
    }
}

impl AgentRig {
    /// Builds everything below `dir` with images of `image_size` bytes.
    pub fn new(dir: &Path, image_size: u64) -> Result<AgentRig> {
        AgentRig::with_tables(dir, image_size, &[])
    }

    /// [`AgentRig::new`] with configuration tables added or replaced, e.g.
    /// `("agent", "check_interval_secs = 1")` or `("sim", "enabled = true")`.
    pub fn with_tables(dir: &Path, image_size: u64, tables: &[(&str, &str)]) -> Result<AgentRig> {
        let bins = bin_dir()?;
        let d = |n: &str| dir.join(n);
        for sub in ["host", "www", "dev/keys", "dev/state", "root/etc/fotad"] {
            std::fs::create_dir_all(d(sub))?;
        }
        write_image(&mut std::fs::File::create(d("dev/rootfs-a.img"))?, image_size, 1)?;
        let v1 = std::fs::read(d("dev/rootfs-a.img"))?;
        let v2 = evolve(&v1, 2);
        let v3 = evolve(&v2, 3);
        std::fs::write(d("host/v1.img"), &v1)?;
        std::fs::write(d("host/v2.img"), &v2)?;
        std::fs::write(d("host/v3.img"), &v3)?;
        std::fs::write(d("dev/rootfs-b.img"), [])?;
        std::fs::write(d("dev/cmdline"), "fotad.slot=A\n")?;
        write_keypair(&d("host/release"))?;
        std::fs::copy(d("host/release.pub"), d("dev/keys/release.pub"))?;
        write_keypair(&d("host/rogue"))?;
        let key = load_secret_key(&d("host/release.key"))?;
        let rogue = load_secret_key(&d("host/rogue.key"))?;
        let package = |out: &str, version: &str, new: &str, old: &str, key: &ed25519_dalek::SigningKey| {
            // The full package has small operations: many checkpoints to kill at.
            let (image, op_size) = match old {
                "" => (ImageInput::Full { target: d(new) }, 64 << 10),
                old => (ImageInput::Delta { target: d(new), source: d(old) }, 256 << 10),
            };
            let spec = PackSpec {
                compatible: COMPATIBLE.into(),
                version: version.into(),
                security_version: 1,
                operator_tag: None,
                description: Default::default(),
                images: vec![("rootfs".into(), image)],
                op_size,
                full_op_size: None,
                threads: 2,
                settings: PlanSettings::default(),
            };
            pack(&spec, std::slice::from_ref(key), &d(out)).with_context(|| format!("packing {out}"))
        };
        package("www/v2.fota", "2.0", "host/v2.img", "host/v1.img", &key)?;
        package("www/v3.fota", "3.0", "host/v3.img", "host/v2.img", &key)?;
        package("www/v2-full.fota", "2.0", "host/v2.img", "", &key)?;
        package("www/rogue.fota", "2.0", "host/v2.img", "host/v1.img", &rogue)?;

        let server_config = ServerConfig { server_auth: Some(fotad::dm::auth::Scheme::Md5), ..ServerConfig::default() };
        let server = TestServer::start(server_config.clone(), 0, None).context("starting the DM test server")?;
        crate::device::write_file_slot_config(&d("root"), &d("dev"), COMPATIBLE)?;
        let agent = device_toml(&d("dev/state"), &server.url(), &server_config, Codec::Xml, 16 * 1024, None);
        let update = bins.join("fotad-update");
        let reboot = format!(
            "factory_version = \"1.0\"\nreboot_command = [{:?}, \"--config-root\", {:?}, \"simulate-boot\"]",
            update.display().to_string(),
            d("root").display().to_string()
        );
        let mut own = vec![
            ("fumo", reboot.as_str()),
            ("download", "backoff_min_ms = 100\nbackoff_max_secs = 1\ndeadline_secs = 120"),
            ("sim", "enabled = false"),
        ];
        for (name, body) in tables {
            match own.iter_mut().find(|(n, _)| n == name) {
                Some(t) => t.1 = body,
                None => own.push((name, body)),
            }
        }
        let extra: String = own.iter().map(|(name, body)| format!("\n[{name}]\n{body}\n")).collect();
        let config = d("root/etc/fotad/fotad.toml");
        let updater_part = std::fs::read_to_string(&config)?;
        std::fs::write(&config, format!("{updater_part}\n{agent}{extra}"))?;
        let nginx = Nginx::start(&d("www"), None).map_err(anyhow::Error::msg)?;
        Ok(AgentRig { dir: dir.to_path_buf(), server, nginx, bins, images: vec![v1, v2, v3] })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The server will set PkgURL to `file` on nginx and Exec DownloadAndUpdate.
    pub fn order(&self, file: &str, correlator: &str) {
        self.order_url(&self.nginx.url(&format!("/{file}")), correlator);
    }

    /// The server will set PkgURL to `url` and Exec DownloadAndUpdate.
    pub fn order_url(&self, url: &str, correlator: &str) {
        order_download_and_update(&self.server, url, correlator);
    }

    /// `fotad --once` for this device (add `--check` or `--notify FILE`).
    pub fn fotad(&self) -> Command {
        let mut c = Command::new(self.bins.join("fotad"));
        c.arg("--once").arg("--config-root").arg(self.path("root"));
        c
    }

    /// `fotad` as the daemon of this device, serving on the bus at `address`.
    pub fn daemon(&self, address: &str) -> Command {
        let mut c = Command::new(self.bins.join("fotad"));
        c.arg("--config-root").arg(self.path("root")).arg("--address").arg(address);
        c
    }

    /// `fotad-update ARGS` for this device.
    pub fn fotad_update(&self, args: &[&str]) -> Command {
        let mut c = Command::new(self.bins.join("fotad-update"));
        c.arg("--config-root").arg(self.path("root")).args(args);
        c
    }

    /// What `fotad-mark-good.service` does after a good boot.
    pub fn mark_good(&self) -> Result<()> {
        let out = self.fotad_update(&["mark-good"]).output()?;
        ensure!(out.status.success(), "mark-good: {}", String::from_utf8_lossy(&out.stderr));
        Ok(())
    }

    /// A reboot of the device by other means (the boot scripts' rule once).
    pub fn power_cycle(&self) -> Result<()> {
        let out = self.fotad_update(&["simulate-boot"]).output()?;
        ensure!(out.status.success(), "simulate-boot: {}", String::from_utf8_lossy(&out.stderr));
        Ok(())
    }

    /// The slot the device runs now.
    pub fn booted(&self) -> Result<String> {
        let cmdline = std::fs::read_to_string(self.path("dev/cmdline"))?;
        let slot = cmdline.split_whitespace().find_map(|w| w.strip_prefix("fotad.slot="));
        Ok(slot.context("no fotad.slot= on the command line")?.to_string())
    }

    pub fn slot_image(&self, slot: &str) -> Result<Vec<u8>> {
        Ok(std::fs::read(self.path(&format!("dev/rootfs-{}.img", slot.to_lowercase())))?)
    }

    /// The FUMO jobs the agent has accepted and not ended yet, from its
    /// store: (state, correlator), e.g. `("awaiting-boot", "c-1")`.
    pub fn jobs(&self) -> Vec<(String, String)> {
        let bytes = std::fs::read(self.path("dev/state/fumo.json")).unwrap_or_default();
        let store: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
        store["jobs"]
            .as_array()
            .map_or(Vec::new(), |jobs| jobs.iter().map(|j| (text(&j["state"]), text(&j["correlator"]))).collect())
    }

    /// Alerts (reports) the agent has queued and the server not yet acknowledged.
    pub fn queued_alerts(&self) -> usize {
        let bytes = std::fs::read(self.path("dev/state/pending-alerts.json")).unwrap_or_default();
        let queue: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        queue["alerts"].as_array().map_or(0, Vec::len)
    }

    /// Nothing left for the agent to do: no job, no report waiting.
    pub fn idle(&self) -> bool {
        self.jobs().is_empty() && self.queued_alerts() == 0
    }

    /// The Alert codes of the first message of each session the server saw
    /// (1201 client-initiated, 1200 server-initiated).
    pub fn session_alerts(&self) -> Vec<u32> {
        let mut out = Vec::new();
        for exchange in self.server.log() {
            if exchange.request.hdr.msg_id != 1 {
                continue;
            }
            out.extend(exchange.request.body.commands.iter().filter_map(|c| match c {
                DmCommand::Alert(a) if a.data == 1200 || a.data == 1201 => Some(a.data),
                _ => None,
            }));
        }
        out
    }

    /// The types of the update requests (Generic Alerts `devicerequest`,
    /// `userrequest`) the server received.
    pub fn update_requests(&self) -> Vec<String> {
        let mut out = Vec::new();
        for c in self.server.log().into_iter().flat_map(|exchange| exchange.request.body.commands) {
            let DmCommand::Alert(a) = c else { continue };
            let type_ = a.items.first().and_then(|i| i.meta.as_ref()).and_then(|m| m.type_.clone()).unwrap_or_default();
            if a.data == 1226 && (type_.ends_with("devicerequest") || type_.ends_with("userrequest")) {
                out.push(type_);
            }
        }
        out
    }

    /// The FUMO result alerts (1226) the server received: (correlator, result, alert type).
    pub fn reports(&self) -> Vec<(String, String, String)> {
        fumo_reports(&self.server)
    }
}

/// Queues for [`DEVICE_ID`]: Replace `PkgURL` with `url`, then Exec
/// DownloadAndUpdate of the A/B system's FUMO instance with `correlator`.
pub fn order_download_and_update(server: &TestServer, url: &str, correlator: &str) {
    let item = |uri: &str, data: Option<String>| Item {
        target: Some(Loc::uri(uri)),
        meta: data.as_ref().map(|_| Meta { format: Some("chr".into()), ..Meta::default() }),
        data: data.map(String::into_bytes),
        ..Item::default()
    };
    let replace = ItemCmd {
        items: vec![item(&format!("{FUMO}/DownloadAndUpdate/PkgURL"), Some(url.to_string()))],
        ..Default::default()
    };
    server.queue(DEVICE_ID, DmCommand::Replace(replace));
    let exec = ItemCmd {
        correlator: Some(correlator.into()),
        items: vec![item(&format!("{FUMO}/DownloadAndUpdate"), None)],
        ..Default::default()
    };
    server.queue(DEVICE_ID, DmCommand::Exec(exec));
}

/// The FUMO result alerts (1226) `server` received: (correlator, result, alert type).
pub fn fumo_reports(server: &TestServer) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for c in server.log().into_iter().flat_map(|exchange| exchange.request.body.commands) {
        let DmCommand::Alert(a) = c else { continue };
        let Some(item) = a.items.first() else { continue };
        let type_ = item.meta.as_ref().and_then(|m| m.type_.clone()).unwrap_or_default();
        if a.data != 1226 || !type_.starts_with("org.openmobilealliance.dm.firmwareupdate.") {
            continue;
        }
        if type_.ends_with("devicerequest") || type_.ends_with("userrequest") {
            continue;
        }
        let data = String::from_utf8_lossy(item.data.as_deref().unwrap_or_default()).into_owned();
        out.push((a.correlator.clone().unwrap_or_default(), data, type_));
    }
    out
}
