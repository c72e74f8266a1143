//! All of the agent's settings from the layered configuration: the updater's
//! sections (validated by `fotad_updater::config`) and the agent's own
//! (`[dm]`, `[[accounts]]`, `[fumo]`, `[agent]`, `[download]`, `[sim]`,
//! `[dbus]`, `[ui]`), each validated by the module that owns it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fotad_updater::config::{self as updater_config, Fragment, Layers};
use serde::Deserialize;

use super::service_settings::{DbusFragment, DbusSettings, UiFragment, UiSettings};
use crate::dm::config::Settings as DmSettings;
use crate::download::DownloadSettings;
use crate::sim::settings::{SimFragment, SimSettings};

/// A setting that cannot be used, naming the section.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(String);

fn err(section: &str, e: impl std::fmt::Display) -> SettingsError {
    SettingsError(format!("[{section}]: {e}"))
}

/// `[fumo]`: the management object and what happens when a slot was activated.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FumoFragment {
    root: Option<String>,
    instance: Option<String>,
    acl: Option<String>,
    reboot_command: Option<Vec<String>>,
    factory_version: Option<String>,
    legacy_root: Option<String>,
}

/// `[agent]`: when the agent talks to the server on its own.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentFragment {
    check_interval_secs: Option<u64>,
    retry_min_secs: Option<u64>,
    retry_max_secs: Option<u64>,
}

/// The validated `[fumo]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FumoSettings {
    /// Where FUMO instances live (default `./FUMO`).
    pub root: String,
    /// The A/B system's instance name (default `fotad`): `./FUMO/fotad`.
    pub instance: String,
    /// The instance's ACL (default `Get=*&Replace=*&Exec=*`: every configured server).
    pub acl: String,
    /// Run when an activated slot needs a reboot (default `systemctl reboot`);
    /// empty = never reboot (someone else does).
    pub reboot_command: Vec<String>,
    /// The version reported for a slot fotad never wrote (the factory image).
    pub factory_version: String,
    /// Where the package nodes of the legacy firmware-update commands
    /// (`GetFirmwareUpdate`, ...) live (default `./FwUpdate`); `None` = those
    /// commands are not supported (406).
    pub legacy_root: Option<String>,
}

impl FumoSettings {
    /// The instance URI, e.g. `./FUMO/fotad`.
    pub fn instance_uri(&self) -> String {
        format!("{}/{}", self.root.trim_end_matches('/'), self.instance)
    }
}

/// The validated `[agent]` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentSettings {
    /// Client-initiated checks (`devicerequest`) this often; `None` = never.
    pub check_interval: Option<Duration>,
    /// Backoff between attempts to deliver pending reports.
    pub retry_min: Duration,
    pub retry_max: Duration,
}

/// Everything the daemon is built from.
#[derive(Debug, Clone)]
pub struct Settings {
    pub updater: updater_config::Settings,
    pub dm: DmSettings,
    pub fumo: FumoSettings,
    pub agent: AgentSettings,
    pub download: DownloadSettings,
    pub sim: SimSettings,
    pub dbus: DbusSettings,
    pub ui: UiSettings,
}

impl Settings {
    /// Reads and validates the standard layers below `root` (`/` on a device).
    pub fn load_under(root: &Path) -> Result<Settings, SettingsError> {
        Settings::load(&Layers::under(root))
    }

    /// Reads and validates one file only (`fotad --config FILE`).
    pub fn load_file(path: &Path) -> Result<Settings, SettingsError> {
        let fragment = updater_config::parse_file(path).map_err(|e| SettingsError(e.to_string()))?;
        Settings::from_fragment(fragment)
    }

    pub fn load(layers: &Layers) -> Result<Settings, SettingsError> {
        let mut merged = Fragment::default();
        for file in layers.files().map_err(|e| SettingsError(e.to_string()))? {
            merged.merge(updater_config::parse_file(&file).map_err(|e| SettingsError(e.to_string()))?);
        }
        Settings::from_fragment(merged)
    }

    /// Validates merged fragments. The DM state directory defaults to the
    /// updater's, so that one `[updater] state_dir` moves all state.
    pub fn from_fragment(mut f: Fragment) -> Result<Settings, SettingsError> {
        let mut dm = f.dm.take().unwrap_or_default();
        let accounts = f.accounts.take().map(|a| toml::Value::Array(a.into_iter().map(toml::Value::Table).collect()));
        let fumo: FumoFragment = section("fumo", f.fumo.take())?;
        let agent: AgentFragment = section("agent", f.agent.take())?;
        let download = DownloadSettings::from_table(&f.download.take().unwrap_or_default())
            .map_err(|e| SettingsError(e.to_string()))?;
        let sim = SimFragment::from_table(&f.sim.take().unwrap_or_default())
            .and_then(SimFragment::validate)
            .map_err(|e| err("sim", e))?;
        let dbus: DbusFragment = section("dbus", f.dbus.take())?;
        let ui: UiFragment = section("ui", f.ui.take())?;
        let updater = updater_config::Settings::from_fragment(f).map_err(|e| SettingsError(e.to_string()))?;
        if !dm.contains_key("state_dir") {
            let dir = updater.state_dir.to_string_lossy().into_owned();
            dm.insert("state_dir".into(), toml::Value::String(dir));
        }
        let dm = DmSettings::from_sections(Some(&toml::Value::Table(dm)), accounts.as_ref())
            .map_err(|e| SettingsError(e.to_string()))?;
        Ok(Settings {
            updater,
            dm,
            fumo: fumo_settings(fumo)?,
            agent: agent_settings(&agent)?,
            download,
            sim,
            dbus: dbus.validate().map_err(|e| SettingsError(e.to_string()))?,
            ui: ui.validate().map_err(|e| SettingsError(e.to_string()))?,
        })
    }

    /// The agent's state directory (DM tree, FUMO jobs, alerts, download record).
    pub fn state_dir(&self) -> &PathBuf {
        &self.dm.state_dir
    }
}

fn section<T: for<'de> Deserialize<'de> + Default>(name: &str, t: Option<toml::Table>) -> Result<T, SettingsError> {
    match t {
        Some(t) => toml::Value::Table(t).try_into().map_err(|e: toml::de::Error| err(name, e.message())),
        None => Ok(T::default()),
    }
}

fn fumo_settings(f: FumoFragment) -> Result<FumoSettings, SettingsError> {
    let root = f.root.unwrap_or_else(|| "./FUMO".into());
    if !root.starts_with("./") || root.ends_with('/') {
        return Err(err("fumo", format!("root = {root:?} must be an absolute DM URI such as \"./FUMO\"")));
    }
    let instance = f.instance.unwrap_or_else(|| "fotad".into());
    if instance.is_empty() || instance.contains('/') {
        return Err(err("fumo", format!("instance = {instance:?} must be one node name")));
    }
    let acl = f.acl.unwrap_or_else(|| "Get=*&Replace=*&Exec=*".into());
    if crate::dm::tree::Acl::parse(&acl).is_none() {
        return Err(err("fumo", format!("acl = {acl:?} is not an OMA DM ACL such as \"Get=*&Exec=srv1+srv2\"")));
    }
    let reboot_command = f.reboot_command.unwrap_or_else(|| vec!["systemctl".into(), "reboot".into()]);
    let factory_version = f.factory_version.unwrap_or_else(|| "unknown".into());
    let legacy_root = match f.legacy_root.as_deref() {
        None => Some("./FwUpdate".to_string()),
        Some("") => None,
        Some(r) if r.starts_with("./") && !r.ends_with('/') && r != root => Some(r.to_string()),
        Some(r) => {
            return Err(err(
                "fumo",
                format!("legacy_root = {r:?} must be an absolute DM URI such as \"./FwUpdate\" (not the FUMO root), or \"\" for none"),
            ))
        }
    };
    Ok(FumoSettings { root, instance, acl, reboot_command, factory_version, legacy_root })
}

fn agent_settings(a: &AgentFragment) -> Result<AgentSettings, SettingsError> {
    let retry_min = Duration::from_secs(a.retry_min_secs.unwrap_or(30));
    let retry_max = Duration::from_secs(a.retry_max_secs.unwrap_or(3600));
    if retry_min.is_zero() || retry_min > retry_max {
        return Err(err("agent", "retry_min_secs must be at least 1 and not exceed retry_max_secs"));
    }
    let check_interval = a.check_interval_secs.filter(|s| *s > 0).map(Duration::from_secs);
    Ok(AgentSettings { check_interval, retry_min, retry_max })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const BASE: &str = "[updater]\ncompatible = \"acme,gw-1\"\nstate_dir = \"/tmp/fotad-state\"\n\
        [bootloader]\nbackend = \"file\"\n[slots.A]\nrootfs = \"/tmp/a\"\n[slots.B]\nrootfs = \"/tmp/b\"\n\
        [dm]\ndevice_id = \"IMEI:1\"\n";

    fn parse(extra: &str) -> Result<Settings, SettingsError> {
        let f: Fragment = toml::from_str(&format!("{BASE}{extra}")).unwrap();
        Settings::from_fragment(f)
    }

    #[test]
    fn defaults_and_shared_state_dir() {
        let s = parse("").unwrap();
        assert_eq!(s.state_dir(), &PathBuf::from("/tmp/fotad-state"));
        assert_eq!(s.fumo.instance_uri(), "./FUMO/fotad");
        assert_eq!(s.fumo.reboot_command, ["systemctl", "reboot"]);
        assert_eq!(s.agent.check_interval, None);
        assert!(s.dm.accounts.is_empty());
    }

    #[test]
    fn every_section_is_read() {
        let s = parse(
            "[[accounts]]\nserver_id = \"srv\"\naddress = \"http://127.0.0.1:1/dm\"\nclient_name = \"dev\"\n\
             client_secret = \"s\"\n[fumo]\nroot = \"./Vendor/FW\"\ninstance = \"sys\"\nreboot_command = []\n\
             [agent]\ncheck_interval_secs = 86400\n[download]\ndeadline_secs = 60\n[ui]\nconsent = \"automatic\"\n\
             [dbus]\nbus = \"session\"\n",
        )
        .unwrap();
        assert_eq!(s.dm.accounts[0].server_id, "srv");
        assert_eq!(s.fumo.instance_uri(), "./Vendor/FW/sys");
        assert!(s.fumo.reboot_command.is_empty());
        assert_eq!(s.agent.check_interval, Some(Duration::from_secs(86400)));
        assert_eq!(s.download.deadline, Duration::from_secs(60));
    }

    #[test]
    fn refuses_unknown_keys_and_bad_values_naming_the_section() {
        let e = parse("[fumo]\nreboot = true\n").unwrap_err().to_string();
        assert!(e.contains("[fumo]") && e.contains("reboot"), "{e}");
        let e = parse("[fumo]\nroot = \"FUMO\"\n").unwrap_err().to_string();
        assert!(e.contains("absolute DM URI"), "{e}");
        let e = parse("[agent]\nretry_min_secs = 0\n").unwrap_err().to_string();
        assert!(e.contains("[agent]"), "{e}");
        assert!(parse("bogus = 1\n").is_err(), "an unknown key in [dm]");
    }

    #[test]
    fn a_later_layer_replaces_an_account_by_server_id() {
        let dir = tempfile::tempdir().unwrap();
        let layers = Layers::under(dir.path());
        std::fs::create_dir_all(&layers.admin_dir).unwrap();
        let account = |secret: &str, id: &str| {
            format!(
                "[[accounts]]\nserver_id = \"{id}\"\naddress = \"http://h/dm\"\nclient_name = \"d\"\n\
                 client_secret = \"{secret}\"\n"
            )
        };
        std::fs::write(&layers.main_file, format!("{BASE}{}", account("old", "srv"))).unwrap();
        std::fs::write(layers.admin_dir.join("10-site.toml"), account("new", "srv") + &account("x", "other")).unwrap();
        let s = Settings::load(&layers).unwrap();
        let secrets: Vec<_> = s.dm.accounts.iter().map(|a| (a.server_id.as_str(), a.client_secret.as_str())).collect();
        assert_eq!(secrets, [("srv", "new"), ("other", "x")]);
    }
}
