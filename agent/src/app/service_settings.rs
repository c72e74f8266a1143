//! Settings of the D-Bus service and the user interface: the `[dbus]` and `[ui]`
//! TOML tables (every field optional, unknown keys refused) and their validated
//! form with real types.

use std::time::Duration;

use serde::Deserialize;

/// The `[dbus]` table as written in a config fragment.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DbusFragment {
    /// `system` (default), `session`, or `address` (then `address` is required).
    pub bus: Option<String>,
    /// A D-Bus address such as `unix:path=/run/fotad/test-bus`.
    pub address: Option<String>,
    /// Members of this group may call the UI methods (default `fotad-ui`).
    pub ui_group: Option<String>,
}

/// The `[ui]` table as written in a config fragment.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UiFragment {
    /// The device's language (BCP 47 such as `de` or `zh-CN`); default from the locale.
    pub language: Option<String>,
    /// `automatic`, `ask` (default) or `maintenance-window`.
    pub consent: Option<String>,
    /// `HH:MM-HH:MM` local time, required by `consent = "maintenance-window"`.
    pub maintenance_window: Option<String>,
    /// Seconds a prompt without MAXDT waits for an answer (default 300).
    pub prompt_timeout_secs: Option<u64>,
    /// Seconds a `Defer` postpones the update when no time is given (default 3600).
    pub defer_secs: Option<u64>,
}

/// Which bus the daemon serves on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusChoice {
    System,
    Session,
    Address(String),
}

/// When an update may be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentPolicy {
    /// Apply at once without asking.
    Automatic,
    /// Ask the user through a `Prompt` (kind `consent`); `Accept`/`Defer` answer.
    Ask,
    /// Apply only inside the daily window.
    MaintenanceWindow(Window),
}

/// A daily time window in minutes after local midnight; may wrap past midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: u16,
    pub end: u16,
}

impl Window {
    /// Whether `minute` (after midnight) lies inside the window.
    pub fn contains(&self, minute: u16) -> bool {
        if self.start <= self.end {
            (self.start..self.end).contains(&minute)
        } else {
            minute >= self.start || minute < self.end
        }
    }

    /// Minutes from `minute` until the window opens (0 when inside).
    pub fn minutes_until_open(&self, minute: u16) -> u16 {
        if self.contains(minute) {
            0
        } else {
            (self.start + 24 * 60 - minute) % (24 * 60)
        }
    }
}

/// Validated D-Bus settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbusSettings {
    pub bus: BusChoice,
    pub ui_group: String,
}

/// Validated UI settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiSettings {
    /// The configured language, if any (the locale is the fallback).
    pub language: Option<String>,
    pub consent: ConsentPolicy,
    pub prompt_timeout: Duration,
    pub defer: Duration,
}

/// A setting that does not validate.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("[dbus] bus = {0:?} is not one of system, session, address")]
    UnknownBus(String),
    #[error("[dbus] bus = \"address\" needs `address = \"unix:path=...\"`")]
    MissingAddress,
    #[error("[dbus] address is set but bus is not \"address\"; set bus = \"address\" or remove address")]
    StrayAddress,
    #[error("[ui] consent = {0:?} is not one of automatic, ask, maintenance-window")]
    UnknownConsent(String),
    #[error("[ui] consent = \"maintenance-window\" needs maintenance_window = \"HH:MM-HH:MM\"")]
    MissingWindow,
    #[error("[ui] maintenance_window = {0:?} is not HH:MM-HH:MM (24-hour clock, start differs from end)")]
    BadWindow(String),
    #[error("[ui] language = {0:?} is not a language tag such as en, de-AT or zh-CN")]
    BadLanguage(String),
    #[error("[ui] {0} must be greater than zero")]
    Zero(&'static str),
    #[error("parsing the [dbus]/[ui] tables: {0}")]
    Toml(String),
}

impl DbusFragment {
    pub fn validate(&self) -> Result<DbusSettings, SettingsError> {
        let bus = match (self.bus.as_deref(), &self.address) {
            (None | Some("system"), None) => BusChoice::System,
            (Some("session"), None) => BusChoice::Session,
            (Some("address"), Some(a)) => BusChoice::Address(a.clone()),
            (Some("address"), None) => return Err(SettingsError::MissingAddress),
            (None | Some("system" | "session"), Some(_)) => return Err(SettingsError::StrayAddress),
            (Some(other), _) => return Err(SettingsError::UnknownBus(other.to_string())),
        };
        let ui_group = self.ui_group.clone().unwrap_or_else(|| "fotad-ui".to_string());
        Ok(DbusSettings { bus, ui_group })
    }
}

impl UiFragment {
    pub fn validate(&self) -> Result<UiSettings, SettingsError> {
        let consent = match self.consent.as_deref() {
            None | Some("ask") => ConsentPolicy::Ask,
            Some("automatic") => ConsentPolicy::Automatic,
            Some("maintenance-window") => {
                let w = self.maintenance_window.as_deref().ok_or(SettingsError::MissingWindow)?;
                ConsentPolicy::MaintenanceWindow(parse_window(w)?)
            }
            Some(other) => return Err(SettingsError::UnknownConsent(other.to_string())),
        };
        let language = match &self.language {
            Some(l) => Some(crate::i18n::normalize_tag(l).ok_or_else(|| SettingsError::BadLanguage(l.clone()))?),
            None => None,
        };
        Ok(UiSettings {
            language,
            consent,
            prompt_timeout: secs(self.prompt_timeout_secs, 300, "prompt_timeout_secs")?,
            defer: secs(self.defer_secs, 3600, "defer_secs")?,
        })
    }
}

fn secs(v: Option<u64>, default: u64, name: &'static str) -> Result<Duration, SettingsError> {
    match v.unwrap_or(default) {
        0 => Err(SettingsError::Zero(name)),
        n => Ok(Duration::from_secs(n)),
    }
}

fn parse_window(s: &str) -> Result<Window, SettingsError> {
    let bad = || SettingsError::BadWindow(s.to_string());
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let start = parse_hhmm(a.trim()).ok_or_else(bad)?;
    let end = parse_hhmm(b.trim()).ok_or_else(bad)?;
    if start == end {
        return Err(bad());
    }
    Ok(Window { start, end })
}

fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && s.len() == 5).then_some(h * 60 + m)
}

/// Both tables of one config file, for the daemon's `--config` and for tests.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct ServiceFragment {
    #[serde(default)]
    pub dbus: DbusFragment,
    #[serde(default)]
    pub ui: UiFragment,
}

impl ServiceFragment {
    /// Parses a TOML document; tables other than `[dbus]` and `[ui]` are ignored
    /// here (they belong to other parts of the agent).
    pub fn parse(text: &str) -> Result<ServiceFragment, SettingsError> {
        toml::from_str(text).map_err(|e| SettingsError::Toml(e.to_string()))
    }

    pub fn validate(&self) -> Result<(DbusSettings, UiSettings), SettingsError> {
        Ok((self.dbus.validate()?, self.ui.validate()?))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn defaults_are_system_bus_and_ask() {
        let (d, u) = ServiceFragment::parse("").unwrap().validate().unwrap();
        assert_eq!(d.bus, BusChoice::System);
        assert_eq!(d.ui_group, "fotad-ui");
        assert_eq!(u.consent, ConsentPolicy::Ask);
        assert_eq!(u.prompt_timeout, Duration::from_secs(300));
        assert_eq!(u.language, None);
    }

    #[test]
    fn parses_every_key() {
        let text = "[dbus]\nbus = \"address\"\naddress = \"unix:path=/tmp/b\"\nui_group = \"ui\"\n\
                    [ui]\nlanguage = \"zh_CN\"\nconsent = \"maintenance-window\"\n\
                    maintenance_window = \"23:30-04:00\"\nprompt_timeout_secs = 20\ndefer_secs = 60\n";
        let (d, u) = ServiceFragment::parse(text).unwrap().validate().unwrap();
        assert_eq!(d.bus, BusChoice::Address("unix:path=/tmp/b".into()));
        assert_eq!(u.language.as_deref(), Some("zh-CN"));
        let ConsentPolicy::MaintenanceWindow(w) = u.consent else { panic!("{:?}", u.consent) };
        assert_eq!((w.start, w.end), (23 * 60 + 30, 240));
        assert!(w.contains(0) && w.contains(23 * 60 + 30) && !w.contains(240) && !w.contains(12 * 60));
        assert_eq!(w.minutes_until_open(23 * 60), 30);
        assert_eq!(u.defer, Duration::from_secs(60));
    }

    #[test]
    fn refuses_unknown_keys_and_bad_values() {
        assert!(ServiceFragment::parse("[ui]\nlanguag = \"de\"\n").is_err());
        let v = |t: &str| ServiceFragment::parse(t).unwrap().validate().unwrap_err();
        assert_eq!(v("[dbus]\nbus = \"address\"\n"), SettingsError::MissingAddress);
        assert_eq!(v("[dbus]\naddress = \"unix:path=/x\"\n"), SettingsError::StrayAddress);
        assert_eq!(v("[dbus]\nbus = \"tcp\"\n"), SettingsError::UnknownBus("tcp".into()));
        assert_eq!(v("[ui]\nconsent = \"maintenance-window\"\n"), SettingsError::MissingWindow);
        let bad = "[ui]\nconsent = \"maintenance-window\"\nmaintenance_window = \"25:00-01:00\"\n";
        assert_eq!(v(bad), SettingsError::BadWindow("25:00-01:00".into()));
        assert_eq!(v("[ui]\nprompt_timeout_secs = 0\n"), SettingsError::Zero("prompt_timeout_secs"));
        assert_eq!(v("[ui]\nlanguage = \"??\"\n"), SettingsError::BadLanguage("??".into()));
    }
}
