//! fotad's layered TOML configuration, as far as the updater is concerned:
//! `/usr/lib/fotad/conf.d/*.toml` < `/etc/fotad/fotad.toml` < `/etc/fotad/conf.d/*.toml`
//! (files of a directory in name order, later ones win key by key). Every fragment
//! field is optional and unknown keys are errors; the merged fragments are
//! validated into [`Settings`]. The agent's own sections are accepted here as
//! opaque tables and parsed by the agent. Keys: `docs/config.md`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::boot::MAX_TRIES;
use crate::slot::{Partition, SlotSet, Slots, SlotsError};

/// The config could not be read or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config {path}: {source}")]
    Parse { path: PathBuf, source: Box<toml::de::Error> },
    #[error("config key {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
    #[error("config [slots]: {0}")]
    Slots(#[from] SlotsError),
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key, reason: reason.into() }
}

/// One config file. The agent's sections are opaque here.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fragment {
    pub updater: Option<UpdaterFragment>,
    pub bootloader: Option<BootloaderFragment>,
    pub slots: Option<SlotsFragment>,
    pub dm: Option<toml::Table>,
    /// `[[accounts]]`: one table per DM server.
    pub accounts: Option<Vec<toml::Table>>,
    pub fumo: Option<toml::Table>,
    pub download: Option<toml::Table>,
    pub dbus: Option<toml::Table>,
    pub sim: Option<toml::Table>,
    pub agent: Option<toml::Table>,
    pub ui: Option<toml::Table>,
}

/// `[updater]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdaterFragment {
    pub compatible: Option<String>,
    pub keys_dir: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub tries: Option<i64>,
    pub cmdline: Option<PathBuf>,
    pub mountinfo: Option<PathBuf>,
    pub read_timeout_secs: Option<i64>,
}

/// `[bootloader]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootloaderFragment {
    pub backend: Option<String>,
    pub grubenv: Option<PathBuf>,
    pub fw_env_config: Option<PathBuf>,
    pub disk: Option<PathBuf>,
    pub file: Option<PathBuf>,
}

/// `[slots]`: `gpt_disk`, or `[slots.A]` / `[slots.B]` tables of image class → device.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotsFragment {
    pub gpt_disk: Option<PathBuf>,
    #[serde(rename = "A")]
    pub a: Option<BTreeMap<String, PathBuf>>,
    #[serde(rename = "B")]
    pub b: Option<BTreeMap<String, PathBuf>>,
}

/// Where the bootloader keeps its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootloaderConfig {
    Grub { grubenv: PathBuf },
    UBoot { fw_env_config: PathBuf },
    Gpt { disk: PathBuf },
    File { path: PathBuf },
}

/// Where the slots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotSource {
    Config(Slots),
    Gpt { disk: PathBuf },
}

/// The validated updater settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub compatible: Option<String>,
    pub keys_dir: PathBuf,
    pub state_dir: PathBuf,
    /// Boot tries a newly activated slot gets (1–9).
    pub tries: u8,
    pub cmdline: PathBuf,
    pub mountinfo: PathBuf,
    /// `fotad-update install -` gives up (resumably) when standard input
    /// brings no data for this long.
    pub read_timeout: Duration,
    pub bootloader: BootloaderConfig,
    pub slots: SlotSource,
}

/// Default of [`Settings::read_timeout`].
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest [`Settings::read_timeout`] (a day).
pub const MAX_READ_TIMEOUT_SECS: u64 = 86_400;

/// The three layers, as paths (tests point them at a temporary directory).
#[derive(Debug, Clone)]
pub struct Layers {
    pub vendor_dir: PathBuf,
    pub main_file: PathBuf,
    pub admin_dir: PathBuf,
}

impl Layers {
    /// The standard layers below `root` (`/` on a device).
    pub fn under(root: &Path) -> Layers {
        Layers {
            vendor_dir: root.join("usr/lib/fotad/conf.d"),
            main_file: root.join("etc/fotad/fotad.toml"),
            admin_dir: root.join("etc/fotad/conf.d"),
        }
    }

    /// The files to read, lowest priority first; missing files and directories
    /// are skipped.
    pub fn files(&self) -> Result<Vec<PathBuf>, ConfigError> {
        let mut files = toml_files(&self.vendor_dir)?;
        if self.main_file.exists() {
            files.push(self.main_file.clone());
        }
        files.extend(toml_files(&self.admin_dir)?);
        Ok(files)
    }
}

fn toml_files(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(ConfigError::Read { path: dir.to_path_buf(), source }),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|source| ConfigError::Read { path: dir.to_path_buf(), source })?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Parses one config file.
pub fn parse_file(path: &Path) -> Result<Fragment, ConfigError> {
    let text = fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.to_path_buf(), source: Box::new(e) })
}

/// Reads, merges and validates the layers.
pub fn load(layers: &Layers) -> Result<Settings, ConfigError> {
    let mut merged = Fragment::default();
    for file in layers.files()? {
        merged.merge(parse_file(&file)?);
    }
    Settings::from_fragment(merged)
}

fn take<T>(into: &mut Option<T>, from: Option<T>) {
    if from.is_some() {
        *into = from;
    }
}

fn merge_map(into: &mut Option<BTreeMap<String, PathBuf>>, from: Option<BTreeMap<String, PathBuf>>) {
    if let Some(from) = from {
        into.get_or_insert_with(BTreeMap::new).extend(from);
    }
}

fn merge_table(into: &mut Option<toml::Table>, from: Option<toml::Table>) {
    if let Some(from) = from {
        into.get_or_insert_with(toml::Table::new).extend(from);
    }
}

/// A later layer's account replaces the one with the same `server_id`;
/// other accounts are added.
fn merge_accounts(into: &mut Vec<toml::Table>, from: Vec<toml::Table>) {
    for account in from {
        let id = account.get("server_id").cloned();
        match into.iter_mut().find(|a| id.is_some() && a.get("server_id") == id.as_ref()) {
            Some(existing) => *existing = account,
            None => into.push(account),
        }
    }
}

impl Fragment {
    /// Overlays `other` (a later layer) on `self`, key by key.
    pub fn merge(&mut self, other: Fragment) {
        if let Some(u) = other.updater {
            let me = self.updater.get_or_insert_with(Default::default);
            take(&mut me.compatible, u.compatible);
            take(&mut me.keys_dir, u.keys_dir);
            take(&mut me.state_dir, u.state_dir);
            take(&mut me.tries, u.tries);
            take(&mut me.cmdline, u.cmdline);
            take(&mut me.mountinfo, u.mountinfo);
            take(&mut me.read_timeout_secs, u.read_timeout_secs);
        }
        if let Some(b) = other.bootloader {
            let me = self.bootloader.get_or_insert_with(Default::default);
            take(&mut me.backend, b.backend);
            take(&mut me.grubenv, b.grubenv);
            take(&mut me.fw_env_config, b.fw_env_config);
            take(&mut me.disk, b.disk);
            take(&mut me.file, b.file);
        }
        if let Some(s) = other.slots {
            let me = self.slots.get_or_insert_with(Default::default);
            take(&mut me.gpt_disk, s.gpt_disk);
            merge_map(&mut me.a, s.a);
            merge_map(&mut me.b, s.b);
        }
        if let Some(accounts) = other.accounts {
            merge_accounts(self.accounts.get_or_insert_with(Vec::new), accounts);
        }
        for (mine, theirs) in [
            (&mut self.dm, other.dm),
            (&mut self.fumo, other.fumo),
            (&mut self.download, other.download),
            (&mut self.dbus, other.dbus),
            (&mut self.sim, other.sim),
            (&mut self.agent, other.agent),
            (&mut self.ui, other.ui),
        ] {
            merge_table(mine, theirs);
        }
    }
}

impl Settings {
    /// Validates merged fragments, filling in defaults.
    pub fn from_fragment(f: Fragment) -> Result<Settings, ConfigError> {
        let u = f.updater.unwrap_or_default();
        let state_dir = u.state_dir.unwrap_or_else(|| PathBuf::from("/var/lib/fotad"));
        let tries = match u.tries.unwrap_or(3) {
            n @ 1..=9 => n as u8,
            n => return Err(invalid("updater.tries", format!("{n} is out of range; give 1 to {MAX_TRIES}"))),
        };
        let read_timeout = match u.read_timeout_secs {
            None => DEFAULT_READ_TIMEOUT,
            Some(n) if n >= 1 && n as u64 <= MAX_READ_TIMEOUT_SECS => Duration::from_secs(n as u64),
            Some(n) => {
                let reason = format!("{n} is out of range; give 1 to {MAX_READ_TIMEOUT_SECS} seconds");
                return Err(invalid("updater.read_timeout_secs", reason));
            }
        };
        if u.compatible.as_deref().is_some_and(|c| c.trim().is_empty()) {
            return Err(invalid("updater.compatible", "is empty; give the device model string"));
        }
        let slots = slot_source(f.slots.unwrap_or_default())?;
        let bootloader = bootloader(f.bootloader.unwrap_or_default(), &slots, &state_dir)?;
        Ok(Settings {
            compatible: u.compatible,
            keys_dir: u.keys_dir.unwrap_or_else(|| PathBuf::from("/etc/fotad/keys")),
            state_dir,
            tries,
            cmdline: u.cmdline.unwrap_or_else(|| PathBuf::from("/proc/cmdline")),
            mountinfo: u.mountinfo.unwrap_or_else(|| PathBuf::from("/proc/self/mountinfo")),
            read_timeout,
            bootloader,
            slots,
        })
    }
}

fn slot_source(s: SlotsFragment) -> Result<SlotSource, ConfigError> {
    let to_set = |m: BTreeMap<String, PathBuf>| -> SlotSet {
        m.into_iter().map(|(class, dev)| (class, Partition::from_device(dev))).collect()
    };
    match (s.gpt_disk, s.a, s.b) {
        (Some(disk), None, None) => Ok(SlotSource::Gpt { disk }),
        (Some(_), _, _) => Err(invalid("slots", "give either gpt_disk or [slots.A]/[slots.B], not both")),
        (None, Some(a), Some(b)) => Ok(SlotSource::Config(Slots::new(to_set(a), to_set(b))?)),
        (None, _, _) => Err(invalid(
            "slots",
            "no slots configured: set slots.gpt_disk, or [slots.A] and [slots.B] with rootfs = \"/dev/...\"",
        )),
    }
}

fn bootloader(b: BootloaderFragment, slots: &SlotSource, state_dir: &Path) -> Result<BootloaderConfig, ConfigError> {
    match b.backend.as_deref() {
        Some("grub") => {
            Ok(BootloaderConfig::Grub { grubenv: b.grubenv.unwrap_or_else(|| PathBuf::from("/boot/grub/grubenv")) })
        }
        Some("uboot") => Ok(BootloaderConfig::UBoot {
            fw_env_config: b.fw_env_config.unwrap_or_else(|| PathBuf::from("/etc/fw_env.config")),
        }),
        Some("gpt") => match (b.disk, slots) {
            (Some(disk), _) => Ok(BootloaderConfig::Gpt { disk }),
            (None, SlotSource::Gpt { disk }) => Ok(BootloaderConfig::Gpt { disk: disk.clone() }),
            (None, SlotSource::Config(_)) => {
                Err(invalid("bootloader.disk", "backend gpt needs the disk (or slots.gpt_disk)"))
            }
        },
        Some("file") => Ok(BootloaderConfig::File { path: b.file.unwrap_or_else(|| state_dir.join("bootstate.json")) }),
        Some(other) => Err(invalid("bootloader.backend", format!("{other:?} is not one of grub, uboot, gpt, file"))),
        None => Err(invalid("bootloader.backend", "not set; give grub, uboot, gpt or file")),
    }
}
