//! The `[download]` table of the agent configuration: every key optional,
//! unknown keys refused, validated into real types.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::dm::config::ConfigError;

const SECTION: &str = "download";

/// `[download]` as written in a configuration fragment.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DownloadFragment {
    ca_bundle: Option<PathBuf>,
    connect_timeout_secs: Option<u64>,
    read_timeout_secs: Option<u64>,
    backoff_min_ms: Option<u64>,
    backoff_max_secs: Option<u64>,
    deadline_secs: Option<u64>,
}

/// Validated download settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadSettings {
    /// PEM bundle of trusted CAs for https:// packages; `None` = the built-in web roots.
    pub ca_bundle: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// A read that gets no byte for this long counts as a stall: the connection
    /// is dropped and the download resumes on a new one.
    pub read_timeout: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Overall time budget of one download, across reconnections.
    pub deadline: Duration,
}

impl Default for DownloadSettings {
    fn default() -> Self {
        DownloadSettings {
            ca_bundle: None,
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(300),
            deadline: Duration::from_secs(24 * 3600),
        }
    }
}

impl DownloadSettings {
    /// Parses and validates the `[download]` table; absent keys take the defaults.
    pub fn from_table(table: &toml::Table) -> Result<Self, ConfigError> {
        let fragment: DownloadFragment = toml::Value::Table(table.clone())
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse { section: SECTION, message: e.to_string() })?;
        Self::validate(fragment)
    }

    fn validate(f: DownloadFragment) -> Result<Self, ConfigError> {
        let d = DownloadSettings::default();
        let settings = DownloadSettings {
            ca_bundle: f.ca_bundle,
            connect_timeout: positive("connect_timeout_secs", f.connect_timeout_secs, Duration::from_secs)?
                .unwrap_or(d.connect_timeout),
            read_timeout: positive("read_timeout_secs", f.read_timeout_secs, Duration::from_secs)?
                .unwrap_or(d.read_timeout),
            backoff_min: positive("backoff_min_ms", f.backoff_min_ms, Duration::from_millis)?.unwrap_or(d.backoff_min),
            backoff_max: positive("backoff_max_secs", f.backoff_max_secs, Duration::from_secs)?
                .unwrap_or(d.backoff_max),
            deadline: positive("deadline_secs", f.deadline_secs, Duration::from_secs)?.unwrap_or(d.deadline),
        };
        if settings.backoff_min > settings.backoff_max {
            return Err(invalid("backoff_min_ms", "must not exceed backoff_max_secs".into()));
        }
        Ok(settings)
    }
}

fn positive(key: &'static str, value: Option<u64>, unit: fn(u64) -> Duration) -> Result<Option<Duration>, ConfigError> {
    match value {
        Some(0) => Err(invalid(key, "must be greater than 0".into())),
        v => Ok(v.map(unit)),
    }
}

fn invalid(key: &'static str, message: String) -> ConfigError {
    ConfigError::Invalid { section: SECTION, key, message }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn parse(text: &str) -> Result<DownloadSettings, ConfigError> {
        DownloadSettings::from_table(&text.parse::<toml::Table>().unwrap())
    }

    #[test]
    fn empty_table_gives_defaults_and_keys_become_durations() {
        assert_eq!(parse("").unwrap(), DownloadSettings::default());
        let s = parse(
            "ca_bundle = \"/etc/fotad/ca.pem\"\nconnect_timeout_secs = 5\nread_timeout_secs = 7\n\
             backoff_min_ms = 100\nbackoff_max_secs = 2\ndeadline_secs = 60\n",
        )
        .unwrap();
        assert_eq!(s.ca_bundle, Some(PathBuf::from("/etc/fotad/ca.pem")));
        assert_eq!(s.connect_timeout, Duration::from_secs(5));
        assert_eq!(s.read_timeout, Duration::from_secs(7));
        assert_eq!(s.backoff_min, Duration::from_millis(100));
        assert_eq!(s.backoff_max, Duration::from_secs(2));
        assert_eq!(s.deadline, Duration::from_secs(60));
    }

    #[test]
    fn unknown_keys_zero_values_and_inverted_backoff_are_refused() {
        assert!(matches!(parse("colour = 1").unwrap_err(), ConfigError::Parse { section: "download", .. }));
        assert!(matches!(parse("deadline_secs = 0").unwrap_err(), ConfigError::Invalid { key: "deadline_secs", .. }));
        let e = parse("backoff_min_ms = 5000\nbackoff_max_secs = 1").unwrap_err();
        assert!(matches!(e, ConfigError::Invalid { key: "backoff_min_ms", .. }), "{e}");
    }
}
