//! The daemon: arguments, settings, one tokio runtime, the service, and the
//! systemd protocol (READY=1 once settings are loaded and the name is owned,
//! STATUS= on every state change, WATCHDOG=1 at half WATCHDOG_USEC from the
//! main loop, STOPPING=1 on SIGTERM/SIGINT; a running install stops at its next
//! checkpoint before the process exits).

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use sd_notify::NotifyState;
use tokio::signal::unix::{signal, SignalKind};

use super::access::AccessPolicy;
use super::core::ServiceParts;
use super::ports::{NoDm, NoSim};
use super::service::Service;
use super::settings::{BusChoice, ServiceFragment};
use crate::i18n;

const DEFAULT_CONFIG: &str = "/etc/fotad/fotad.toml";

/// Command-line options of `fotad`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Args {
    pub config: Option<PathBuf>,
    pub bus: Option<BusChoice>,
}

pub const USAGE: &str = "usage: fotad [--config FILE] [--session | --address ADDRESS]\n\
  --config FILE     settings (default /etc/fotad/fotad.toml when present)\n\
  --session         serve on the session bus (development)\n\
  --address ADDR    serve on the bus at ADDR (tests), e.g. unix:path=/tmp/bus";

pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> anyhow::Result<Args> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_args(args);
    let mut out = Args::default();
    while let Some(arg) = p.next()? {
        match arg {
            Long("config") => out.config = Some(p.value()?.into()),
            Long("session") => out.bus = Some(BusChoice::Session),
            Long("address") => out.bus = Some(BusChoice::Address(p.value()?.string()?)),
            Long("help") => bail!("{USAGE}"),
            other => bail!("{}\n{USAGE}", other.unexpected()),
        }
    }
    Ok(out)
}

fn load(args: &Args) -> anyhow::Result<(BusChoice, ServiceParts)> {
    let path = args.config.clone().or_else(|| {
        let p = PathBuf::from(DEFAULT_CONFIG);
        p.exists().then_some(p)
    });
    let text = match &path {
        Some(p) => std::fs::read_to_string(p).with_context(|| format!("reading the settings {}", p.display()))?,
        None => String::new(),
    };
    let (dbus, ui) = ServiceFragment::parse(&text)
        .and_then(|f| f.validate())
        .with_context(|| format!("settings in {}", path.as_deref().unwrap_or(DEFAULT_CONFIG.as_ref()).display()))?;
    let language = ui.language.clone().unwrap_or_else(|| i18n::from_locale(|k| std::env::var(k).ok()));
    let parts = ServiceParts {
        access: AccessPolicy::new(&dbus.ui_group),
        ui,
        install: Box::new(|| Err("no install targets: slot resolution is not configured on this build".to_string())),
        sim: Arc::new(NoSim),
        dm: Arc::new(NoDm),
        language,
    };
    Ok((args.bus.clone().unwrap_or(dbus.bus), parts))
}

fn notify(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        eprintln!("fotad: telling systemd {:?} failed: {e}", states.first());
    }
}

/// The whole daemon: returns when asked to stop.
pub fn main(args: impl IntoIterator<Item = OsString>) -> anyhow::Result<()> {
    let args = parse_args(args)?;
    let (bus, parts) = load(&args)?;
    let rt =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")?;
    rt.block_on(serve(bus, parts))
}

/// Serves until SIGTERM or SIGINT, speaking the systemd notify protocol.
pub async fn serve(bus: BusChoice, parts: ServiceParts) -> anyhow::Result<()> {
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let status = Box::new(|s: &str| notify(&[NotifyState::Status(s)]));
    let service = Service::start(&bus, parts, status)
        .await
        .with_context(|| format!("serving {} on the {bus:?} bus", super::BUS_NAME))?;
    notify(&[NotifyState::Status("idle: Ready"), NotifyState::Ready]);
    let period = sd_notify::watchdog_enabled().map(|d| d / 2).unwrap_or(Duration::from_secs(3600));
    let watchdog = sd_notify::watchdog_enabled().is_some();
    let mut tick = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = tick.tick() => if watchdog { notify(&[NotifyState::Watchdog]) },
        }
    }
    notify(&[NotifyState::Stopping, NotifyState::Status("stopping: waiting for the next checkpoint")]);
    service.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn parses_bus_overrides() {
        let a = parse_args(["--address", "unix:path=/tmp/b", "--config", "/x.toml"].map(OsString::from)).unwrap();
        assert_eq!(a.bus, Some(BusChoice::Address("unix:path=/tmp/b".into())));
        assert_eq!(a.config, Some(PathBuf::from("/x.toml")));
        assert_eq!(parse_args(["--session"].map(OsString::from)).unwrap().bus, Some(BusChoice::Session));
        assert!(parse_args(["--bogus"].map(OsString::from)).is_err());
    }
}
