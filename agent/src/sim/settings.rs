//! The `[sim]` configuration table: a fragment where every field is optional
//! and unknown keys are errors, merged over defaults and validated into
//! `SimSettings` with real types. Documented in docs/config-sim.md.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::cat::CommandLayout;
use super::gate::NoSimPolicy;

/// One `[sim]` fragment as written in a file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimFragment {
    pub enabled: Option<bool>,
    pub reader: Option<String>,
    pub pin_file: Option<PathBuf>,
    pub ef_fota_path: Option<String>,
    pub ef_fota_fid: Option<String>,
    pub no_sim_policy: Option<String>,
    pub poll_interval_ms: Option<u64>,
    pub proactive: Option<ProactiveFragment>,
}

/// `[sim.proactive]`: which proactive commands request a DM session.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProactiveFragment {
    pub command_type: Option<u8>,
    pub url_tag: Option<u8>,
    pub want_result: Option<bool>,
    pub private_command_type: Option<u8>,
    pub private_protocol_tag: Option<u8>,
    pub private_uri_tag: Option<u8>,
    pub private_result_tag: Option<u8>,
}

/// Validated SIM settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimSettings {
    pub enabled: bool,
    /// `None` = the first reader with a card.
    pub reader: Option<String>,
    pub pin_file: Option<PathBuf>,
    /// FIDs below the MF, EF_FOTA's FID last.
    pub ef_fota: Vec<u16>,
    pub no_sim_policy: NoSimPolicy,
    pub poll_interval: Duration,
    pub layout: CommandLayout,
}

impl Default for SimSettings {
    fn default() -> Self {
        SimSettings {
            enabled: true,
            reader: None,
            pin_file: None,
            ef_fota: vec![0x7F50, 0x6F50],
            no_sim_policy: NoSimPolicy::NotSecured,
            poll_interval: Duration::from_secs(5),
            layout: CommandLayout::default(),
        }
    }
}

/// A `[sim]` value that is not valid.
#[derive(Debug, thiserror::Error)]
#[error("[sim] {key}: {message}")]
pub struct SimSettingsError {
    pub key: &'static str,
    pub message: String,
}

fn bad(key: &'static str, message: impl Into<String>) -> SimSettingsError {
    SimSettingsError { key, message: message.into() }
}

impl SimFragment {
    /// Parses the `[sim]` table.
    pub fn from_table(table: &toml::Table) -> Result<SimFragment, SimSettingsError> {
        toml::Value::Table(table.clone()).try_into().map_err(|e: toml::de::Error| bad("table", e.message().to_string()))
    }

    /// Layers `over` on top of `self` (later files win, key by key).
    pub fn merge(self, over: SimFragment) -> SimFragment {
        let p = match (self.proactive, over.proactive) {
            (Some(a), Some(b)) => Some(ProactiveFragment {
                command_type: b.command_type.or(a.command_type),
                url_tag: b.url_tag.or(a.url_tag),
                want_result: b.want_result.or(a.want_result),
                private_command_type: b.private_command_type.or(a.private_command_type),
                private_protocol_tag: b.private_protocol_tag.or(a.private_protocol_tag),
                private_uri_tag: b.private_uri_tag.or(a.private_uri_tag),
                private_result_tag: b.private_result_tag.or(a.private_result_tag),
            }),
            (a, b) => b.or(a),
        };
        SimFragment {
            enabled: over.enabled.or(self.enabled),
            reader: over.reader.or(self.reader),
            pin_file: over.pin_file.or(self.pin_file),
            ef_fota_path: over.ef_fota_path.or(self.ef_fota_path),
            ef_fota_fid: over.ef_fota_fid.or(self.ef_fota_fid),
            no_sim_policy: over.no_sim_policy.or(self.no_sim_policy),
            poll_interval_ms: over.poll_interval_ms.or(self.poll_interval_ms),
            proactive: p,
        }
    }

    /// Validates over the defaults.
    pub fn validate(self) -> Result<SimSettings, SimSettingsError> {
        let d = SimSettings::default();
        let mut ef_fota = match &self.ef_fota_path {
            Some(p) => parse_path(p)?,
            None => d.ef_fota[..d.ef_fota.len() - 1].to_vec(),
        };
        ef_fota.push(match &self.ef_fota_fid {
            Some(f) => parse_fid("ef_fota_fid", f)?,
            None => d.ef_fota[d.ef_fota.len() - 1],
        });
        let no_sim_policy = match self.no_sim_policy.as_deref() {
            None | Some("not-secured") => NoSimPolicy::NotSecured,
            Some("refuse") => NoSimPolicy::Refuse,
            Some(o) => return Err(bad("no_sim_policy", format!("{o:?}: use \"not-secured\" or \"refuse\""))),
        };
        let poll_interval = match self.poll_interval_ms {
            Some(0) => return Err(bad("poll_interval_ms", "must be at least 1")),
            Some(ms) => Duration::from_millis(ms),
            None => d.poll_interval,
        };
        if self.reader.as_deref() == Some("") {
            return Err(bad("reader", "empty; leave it out to use the first reader with a card"));
        }
        Ok(SimSettings {
            enabled: self.enabled.unwrap_or(d.enabled),
            reader: self.reader,
            pin_file: self.pin_file,
            ef_fota,
            no_sim_policy,
            poll_interval,
            layout: layout(&self.proactive.unwrap_or_default()),
        })
    }
}

fn layout(p: &ProactiveFragment) -> CommandLayout {
    let d = CommandLayout::default();
    CommandLayout {
        command_type: p.command_type.unwrap_or(d.command_type),
        url_tag: p.url_tag.unwrap_or(d.url_tag),
        want_result: p.want_result.unwrap_or(d.want_result),
        private_command_type: p.private_command_type.unwrap_or(d.private_command_type),
        private_protocol_tag: p.private_protocol_tag.unwrap_or(d.private_protocol_tag),
        private_uri_tag: p.private_uri_tag.unwrap_or(d.private_uri_tag),
        private_result_tag: p.private_result_tag.unwrap_or(d.private_result_tag),
    }
}

fn parse_fid(key: &'static str, s: &str) -> Result<u16, SimSettingsError> {
    u16::from_str_radix(s.trim(), 16)
        .ok()
        .filter(|_| s.trim().len() == 4)
        .ok_or_else(|| bad(key, format!("{s:?} is not a 4-digit hex file id")))
}

/// "3F00/7F50" → [0x7F50] (the MF is implied and must come first).
fn parse_path(s: &str) -> Result<Vec<u16>, SimSettingsError> {
    let fids = s.split('/').map(|f| parse_fid("ef_fota_path", f)).collect::<Result<Vec<_>, _>>()?;
    match fids.split_first() {
        Some((0x3F00, rest)) => Ok(rest.to_vec()),
        _ => Err(bad("ef_fota_path", format!("{s:?} must start at the MF, 3F00"))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn parse(text: &str) -> Result<SimSettings, SimSettingsError> {
        SimFragment::from_table(&text.parse::<toml::Table>().unwrap())?.validate()
    }

    #[test]
    fn empty_table_gives_the_defaults() {
        assert_eq!(parse("").unwrap(), SimSettings::default());
    }

    #[test]
    fn every_key_is_parsed_into_real_types() {
        let s = parse(
            "reader = \"Virtual PCD 00 01\"\npin_file = \"/etc/fotad/sim-pin\"\nef_fota_path = \"3F00/7F66\"\n\
             ef_fota_fid = \"6F01\"\nno_sim_policy = \"refuse\"\npoll_interval_ms = 250\n\
             [proactive]\ncommand_type = 0xE1\nprivate_uri_tag = 0x72\nwant_result = true\n",
        )
        .unwrap();
        assert_eq!(s.reader.as_deref(), Some("Virtual PCD 00 01"));
        assert_eq!(s.ef_fota, vec![0x7F66, 0x6F01]);
        assert_eq!(s.no_sim_policy, NoSimPolicy::Refuse);
        assert_eq!(s.poll_interval, Duration::from_millis(250));
        assert_eq!(s.layout.command_type, 0xE1);
        assert_eq!(s.layout.private_uri_tag, 0x72);
        assert!(s.layout.want_result);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors_naming_the_key() {
        assert!(parse("readr = \"x\"").unwrap_err().to_string().contains("readr"));
        assert!(parse("ef_fota_path = \"7F50\"").unwrap_err().to_string().contains("ef_fota_path"));
        assert!(parse("no_sim_policy = \"maybe\"").unwrap_err().to_string().contains("no_sim_policy"));
        assert!(parse("poll_interval_ms = 0").unwrap_err().to_string().contains("poll_interval_ms"));
    }

    #[test]
    fn later_fragment_wins_key_by_key() {
        let a = SimFragment::from_table(&"reader = \"r1\"\npoll_interval_ms = 10".parse().unwrap()).unwrap();
        let b = SimFragment::from_table(&"reader = \"r2\"".parse().unwrap()).unwrap();
        let s = a.merge(b).validate().unwrap();
        assert_eq!(s.reader.as_deref(), Some("r2"));
        assert_eq!(s.poll_interval, Duration::from_millis(10));
    }
}
