//! The agent's configuration sections `[dm]` and `[[accounts]]`: fragments
//! with every field optional and unknown keys refused, validated into
//! [`Settings`]. The updater's loader merges the layers and hands these
//! sections over as TOML values.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::dm::auth::Scheme;
use crate::dm::session::DefaultAnswers;
use crate::dm::syncml::Codec;

/// Config errors, naming the section and key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("[{section}]: {message}")]
    Parse { section: &'static str, message: String },
    #[error("[{section}] {key}: {message}")]
    Invalid { section: &'static str, key: &'static str, message: String },
    #[error("[{section}] {key} is required")]
    Missing { section: &'static str, key: &'static str },
}

/// `[dm]` as written in a fragment.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DmFragment {
    pub device_id: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub language: Option<String>,
    pub device_type: Option<String>,
    pub oem: Option<String>,
    pub hardware_version: Option<String>,
    pub state_dir: Option<PathBuf>,
    pub encoding: Option<String>,
    pub max_msg_size: Option<u64>,
    pub max_obj_size: Option<u64>,
    pub notification_udp_port: Option<u16>,
    pub max_session_messages: Option<u32>,
    pub max_session_secs: Option<u64>,
    pub ui_default_answers: Option<Vec<String>>,
    pub devinfo_compat: Option<bool>,
}

/// One `[[accounts]]` entry as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountFragment {
    pub server_id: Option<String>,
    pub name: Option<String>,
    pub address: Option<String>,
    pub auth: Option<String>,
    pub client_name: Option<String>,
    pub client_secret: Option<String>,
    pub server_secret: Option<String>,
    pub client_nonce: Option<String>,
    pub server_nonce: Option<String>,
    pub ca_bundle: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

/// Validated DM settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub device_id: String,
    pub manufacturer: String,
    pub model: String,
    pub language: String,
    pub device_type: String,
    pub oem: String,
    pub hardware_version: String,
    pub state_dir: PathBuf,
    pub codec: Codec,
    pub max_msg_size: u64,
    pub max_obj_size: u64,
    /// WAP-push-over-UDP listener; `None` = off (the default).
    pub notification_udp_port: Option<u16>,
    /// Messages after which a session is aborted (large-object chunks not counted).
    pub max_session_messages: u32,
    /// Wall time after which a session is aborted, however slow the server.
    pub max_session_time: Duration,
    /// Alert types whose default response (DR) answers when no person did;
    /// none by default (408).
    pub ui_default_answers: DefaultAnswers,
    /// Also serve DevDetail's FwV, SwV and HwV at `./DevInfo/…` (DM 1.1 places).
    pub devinfo_compat: bool,
    pub accounts: Vec<AccountSettings>,
}

/// A validated DM server account (provisioned into `./DMAcc`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSettings {
    pub server_id: String,
    pub name: String,
    pub address: String,
    pub auth: Scheme,
    pub client_name: String,
    pub client_secret: String,
    pub server_secret: String,
    /// Initial nonce for our credentials (base64), until the server sends one.
    pub client_nonce: Vec<u8>,
    /// Initial nonce the server uses for its credentials and notifications.
    pub server_nonce: Vec<u8>,
    pub ca_bundle: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

impl Settings {
    /// Validates the `dm` and `accounts` sections (either may be absent).
    pub fn from_sections(dm: Option<&toml::Value>, accounts: Option<&toml::Value>) -> Result<Settings, ConfigError> {
        let dm: DmFragment = match dm {
            Some(v) => parse("dm", v)?,
            None => DmFragment::default(),
        };
        let frags: Vec<AccountFragment> = match accounts {
            Some(v) => parse("accounts", v)?,
            None => Vec::new(),
        };
        let accounts = frags.into_iter().map(account).collect::<Result<Vec<_>, _>>()?;
        settings(dm, accounts)
    }

    /// Parses a TOML document holding `[dm]` and `[[accounts]]` (for tests and
    /// tools); other top-level keys are refused.
    pub fn from_toml_str(text: &str) -> Result<Settings, ConfigError> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Parse { section: "document", message: e.to_string() })?;
        if let Some(k) = table.keys().find(|k| *k != "dm" && *k != "accounts") {
            return Err(ConfigError::Parse { section: "document", message: format!("unknown section {k:?}") });
        }
        Settings::from_sections(table.get("dm"), table.get("accounts"))
    }

    pub fn account(&self, server_id: &str) -> Option<&AccountSettings> {
        self.accounts.iter().find(|a| a.server_id == server_id)
    }
}

fn parse<T: for<'de> Deserialize<'de>>(section: &'static str, v: &toml::Value) -> Result<T, ConfigError> {
    v.clone().try_into().map_err(|e: toml::de::Error| ConfigError::Parse { section, message: e.to_string() })
}

fn settings(dm: DmFragment, accounts: Vec<AccountSettings>) -> Result<Settings, ConfigError> {
    let codec = match dm.encoding.as_deref().unwrap_or("wbxml") {
        "wbxml" => Codec::Wbxml,
        "xml" => Codec::Xml,
        other => return Err(invalid("dm", "encoding", format!("{other:?} is not \"xml\" or \"wbxml\""))),
    };
    let max_msg_size = dm.max_msg_size.unwrap_or(16 * 1024);
    if max_msg_size < 1024 {
        return Err(invalid("dm", "max_msg_size", "must be at least 1024".into()));
    }
    let max_session_messages = dm.max_session_messages.unwrap_or(100);
    if max_session_messages < 2 {
        return Err(invalid("dm", "max_session_messages", "must be at least 2".into()));
    }
    let max_session_secs = dm.max_session_secs.unwrap_or(600);
    if max_session_secs == 0 {
        return Err(invalid("dm", "max_session_secs", "must be at least 1".into()));
    }
    let ui_default_answers = DefaultAnswers::from_names(dm.ui_default_answers.as_deref().unwrap_or_default())
        .map_err(|e| invalid("dm", "ui_default_answers", e))?;
    Ok(Settings {
        device_id: dm
            .device_id
            .filter(|s| !s.is_empty())
            .ok_or(ConfigError::Missing { section: "dm", key: "device_id" })?,
        manufacturer: dm.manufacturer.unwrap_or_else(|| "fotad".into()),
        model: dm.model.unwrap_or_else(|| "generic".into()),
        language: dm.language.unwrap_or_else(|| "en-US".into()),
        device_type: dm.device_type.unwrap_or_else(|| "gateway".into()),
        oem: dm.oem.unwrap_or_default(),
        hardware_version: dm.hardware_version.unwrap_or_default(),
        state_dir: dm.state_dir.unwrap_or_else(|| PathBuf::from("/var/lib/fotad")),
        codec,
        max_msg_size,
        max_obj_size: dm.max_obj_size.unwrap_or(100 * 1024 * 1024),
        notification_udp_port: dm.notification_udp_port.filter(|p| *p != 0),
        max_session_messages,
        max_session_time: Duration::from_secs(max_session_secs),
        ui_default_answers,
        devinfo_compat: dm.devinfo_compat.unwrap_or(false),
        accounts,
    })
}

fn account(f: AccountFragment) -> Result<AccountSettings, ConfigError> {
    let req = |v: Option<String>, key: &'static str| {
        v.filter(|s| !s.is_empty()).ok_or(ConfigError::Missing { section: "accounts", key })
    };
    let server_id = req(f.server_id, "server_id")?;
    let address = req(f.address, "address")?;
    if !(address.starts_with("https://") || address.starts_with("http://")) {
        return Err(invalid("accounts", "address", format!("{address:?} is not an http:// or https:// URL")));
    }
    let auth_name = f.auth.unwrap_or_else(|| "digest".into());
    let auth = Scheme::from_dmacc(&auth_name)
        .ok_or_else(|| invalid("accounts", "auth", format!("{auth_name:?} is not basic, digest or hmac")))?;
    Ok(AccountSettings {
        name: f.name.unwrap_or_else(|| server_id.clone()),
        server_id,
        address,
        auth,
        client_name: req(f.client_name, "client_name")?,
        client_secret: req(f.client_secret, "client_secret")?,
        server_secret: f.server_secret.unwrap_or_default(),
        client_nonce: nonce(f.client_nonce.as_deref(), "client_nonce")?,
        server_nonce: nonce(f.server_nonce.as_deref(), "server_nonce")?,
        ca_bundle: f.ca_bundle,
        client_cert: f.client_cert,
        client_key: f.client_key,
    })
}

fn nonce(b64: Option<&str>, key: &'static str) -> Result<Vec<u8>, ConfigError> {
    use base64::Engine;
    let Some(text) = b64 else {
        return Ok(Vec::new());
    };
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| invalid("accounts", key, format!("not base64: {e}")))
}

fn invalid(section: &'static str, key: &'static str, message: String) -> ConfigError {
    ConfigError::Invalid { section, key, message }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const FULL: &str = r#"
[dm]
device_id = "IMEI:493005100592800"
manufacturer = "Acme"
model = "GW-1"
encoding = "xml"
state_dir = "/tmp/fotad"
notification_udp_port = 2948

[[accounts]]
server_id = "srv1"
address = "https://dm.example.com/dm"
auth = "hmac"
client_name = "dev1"
client_secret = "pw"
server_secret = "srvpw"
ca_bundle = "/etc/fotad/ca.pem"
"#;

    #[test]
    fn parses_a_full_configuration() {
        let s = Settings::from_toml_str(FULL).unwrap();
        assert_eq!(s.device_id, "IMEI:493005100592800");
        assert_eq!(s.codec, Codec::Xml);
        assert_eq!(s.notification_udp_port, Some(2948));
        let a = s.account("srv1").unwrap();
        assert_eq!(a.auth, Scheme::Hmac);
        assert_eq!(a.name, "srv1");
        assert_eq!(a.ca_bundle.as_deref(), Some(std::path::Path::new("/etc/fotad/ca.pem")));
    }

    #[test]
    fn defaults_apply_and_udp_is_off() {
        let s = Settings::from_toml_str("[dm]\ndevice_id = \"d\"\n").unwrap();
        assert_eq!(s.codec, Codec::Wbxml);
        assert_eq!(s.notification_udp_port, None);
        assert_eq!(s.state_dir, PathBuf::from("/var/lib/fotad"));
        assert!(s.accounts.is_empty());
        assert_eq!((s.max_session_messages, s.max_session_time), (100, Duration::from_secs(600)));
        assert_eq!(s.ui_default_answers, DefaultAnswers::default(), "no default response stands for a person");
        assert!(!s.devinfo_compat);
    }

    #[test]
    fn unknown_keys_missing_keys_and_bad_values_are_errors() {
        let e = Settings::from_toml_str("[dm]\ndevice_id = \"d\"\ncolour = 1\n").unwrap_err();
        assert!(e.to_string().contains("colour"), "{e}");
        assert!(matches!(
            Settings::from_toml_str("[dm]\n").unwrap_err(),
            ConfigError::Missing { key: "device_id", .. }
        ));
        let bad = FULL.replace("https://dm.example.com/dm", "ftp://x");
        assert!(matches!(Settings::from_toml_str(&bad).unwrap_err(), ConfigError::Invalid { key: "address", .. }));
        let bad = FULL.replace("\"hmac\"", "\"x509\"");
        assert!(matches!(Settings::from_toml_str(&bad).unwrap_err(), ConfigError::Invalid { key: "auth", .. }));
        assert!(Settings::from_toml_str("[slots]\n").is_err());
        let zero = Settings::from_toml_str("[dm]\ndevice_id = \"d\"\nmax_session_secs = 0\n").unwrap_err();
        assert!(matches!(zero, ConfigError::Invalid { key: "max_session_secs", .. }), "{zero}");
    }
}
