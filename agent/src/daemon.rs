//! The `fotad` process: arguments, settings, logging, and either
//! `fotad --once` (runs with nobody to ask, then exit) or the daemon: one
//! tokio runtime, the agent with its background runs, the D-Bus service over
//! it, and the systemd protocol (READY=1 once settings are loaded and the
//! name is owned, STATUS= on every change of the agent's activity, WATCHDOG=1
//! at half WATCHDOG_USEC from the main loop, STOPPING=1 on SIGTERM/SIGINT,
//! after which the running run, whatever started it, stops at its next
//! checkpoint before the process exits).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use sd_notify::NotifyState;
use tokio::signal::unix::{signal, SignalKind};

use crate::app::service_settings::{BusChoice, ConsentPolicy};
use crate::app::{self, Agent, CheckKind, Frontend, Options, RunEnd, Settings, Unattended, Wait, Work};
use crate::dbus::{self, AccessPolicy, DbusUi, Service, ServiceParts};
use crate::i18n;

/// Command-line options of `fotad`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Args {
    /// One settings file instead of the standard layers.
    pub config: Option<PathBuf>,
    /// The standard layers below this directory (default `/`).
    pub config_root: Option<PathBuf>,
    pub bus: Option<BusChoice>,
    /// No D-Bus: finish pending work (and `check`), then exit.
    pub once: bool,
    pub check: bool,
    /// With `once`: a package #0 (DM notification) to act on.
    pub notify: Option<PathBuf>,
}

pub const USAGE: &str = "usage: fotad [--config FILE | --config-root DIR] [--session | --address ADDRESS]\n\
       fotad --once [--check | --notify FILE] [--config FILE | --config-root DIR]\n\
  --config FILE     one settings file instead of the layers /usr/lib/fotad/conf.d,\n\
                    /etc/fotad/fotad.toml, /etc/fotad/conf.d (below --config-root, default /)\n\
  --session         serve on the session bus (development)\n\
  --address ADDR    serve on the bus at ADDR (tests), e.g. unix:path=/tmp/bus\n\
  --once            no D-Bus: finish accepted jobs, deliver pending reports, exit\n\
                    (exit status 75 when reports could not be delivered yet)\n\
  --check           with --once: then ask the server for updates (devicerequest)\n\
  --notify FILE     with --once: then act on the DM notification (package #0) in FILE\n\
FOTAD_LOG=error|warn|info|debug|trace sets what is logged on stderr (default info).";

pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> anyhow::Result<Args> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_args(args);
    let mut out = Args::default();
    while let Some(arg) = p.next()? {
        match arg {
            Long("config") => out.config = Some(p.value()?.into()),
            Long("config-root") => out.config_root = Some(p.value()?.into()),
            Long("session") => out.bus = Some(BusChoice::Session),
            Long("address") => out.bus = Some(BusChoice::Address(p.value()?.string()?)),
            Long("once") => out.once = true,
            Long("check") => out.check = true,
            Long("notify") => out.notify = Some(p.value()?.into()),
            Long("help") => bail!("{USAGE}"),
            other => bail!("{}\n{USAGE}", other.unexpected()),
        }
    }
    if (out.check || out.notify.is_some()) && !out.once {
        bail!("--check and --notify go with --once (on the bus, call CheckForUpdate or Notify)\n{USAGE}");
    }
    if out.check && out.notify.is_some() {
        bail!("give --check or --notify, not both\n{USAGE}");
    }
    Ok(out)
}

fn settings(args: &Args) -> anyhow::Result<Settings> {
    let loaded = match (&args.config, &args.config_root) {
        (Some(file), None) => Settings::load_file(file),
        (None, root) => Settings::load_under(root.as_deref().unwrap_or(Path::new("/"))),
        (Some(_), Some(_)) => bail!("give --config or --config-root, not both"),
    };
    loaded.context("loading the settings")
}

fn notify(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "telling systemd {:?} failed", states.first());
    }
}

/// Exit status of `--once` when reports wait for a server (EX_TEMPFAIL).
pub const EXIT_REPORTS_PENDING: u8 = 75;

/// The whole process: returns the exit status when asked to stop.
pub fn main(args: impl IntoIterator<Item = OsString>) -> anyhow::Result<u8> {
    crate::logging::install_stderr();
    let args = parse_args(args)?;
    let settings = settings(&args)?;
    if args.once {
        return once(settings, &args);
    }
    let bus = args.bus.unwrap_or_else(|| settings.dbus.bus.clone());
    let rt =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")?;
    rt.block_on(serve_agent(bus, settings))?;
    Ok(0)
}

fn language(settings: &Settings) -> String {
    settings.ui.language.clone().unwrap_or_else(|| i18n::from_locale(|k| std::env::var(k).ok()))
}

/// `fotad --once`: the same runs as the daemon's, with nobody to ask
/// (consent is automatic), told on stderr at level info.
fn once(settings: Settings, args: &Args) -> anyhow::Result<u8> {
    let package0 = match &args.notify {
        Some(f) => Some(std::fs::read(f).with_context(|| format!("reading the notification {}", f.display()))?),
        None => None,
    };
    let frontend = Unattended { language: language(&settings) };
    let agent = Agent::open(settings, Options { consent: Some(ConsentPolicy::Automatic), ..Options::default() })?;
    let run_one = |work: Work| -> anyhow::Result<app::Outcome> {
        agent.submit(work, Wait::No).map_err(anyhow::Error::from)?.execute(&frontend)
    };
    let mut outcome = run_one(Work::Resume)?;
    let mut results = std::mem::take(&mut outcome.results);
    if matches!(outcome.end, RunEnd::Idle | RunEnd::ReportsPending) {
        let next = match (package0, args.check) {
            (Some(p), _) => Some(Work::Notify(p)),
            (None, true) => Some(Work::Check(CheckKind::Device)),
            (None, false) => None,
        };
        if let Some(work) = next {
            outcome = run_one(work)?;
            results.append(&mut outcome.results);
        }
    }
    for r in &results {
        tracing::info!("result: {} {} {}", r.instance, r.operation.node(), r.result);
    }
    tracing::info!("done: {:?}", outcome.end);
    Ok(if outcome.end == RunEnd::ReportsPending { EXIT_REPORTS_PENDING } else { 0 })
}

/// Serves the agent until SIGTERM or SIGINT: the D-Bus service over it and
/// its background runs, with the systemd notify protocol.
async fn serve_agent(bus: BusChoice, settings: Settings) -> anyhow::Result<()> {
    let parts = ServiceParts {
        access: AccessPolicy::new(&settings.dbus.ui_group),
        ui: settings.ui.clone(),
        language: language(&settings),
        sim: Arc::new(dbus::NoSim),
        agent: Agent::open(settings, Options::default())?,
    };
    let parts = ServiceParts { sim: dbus::sim_of(&parts.agent), ..parts };
    serve_with(bus, parts, |service| {
        let core = service.core();
        let frontend: Arc<dyn Frontend> = Arc::new(DbusUi::new(Arc::clone(&core)));
        app::background::start(&core.agent, &frontend);
    })
    .await
}

/// Serves `parts` until SIGTERM or SIGINT, speaking the systemd notify protocol.
pub async fn serve(bus: BusChoice, parts: ServiceParts) -> anyhow::Result<()> {
    serve_with(bus, parts, |_| {}).await
}

async fn serve_with(bus: BusChoice, parts: ServiceParts, started: impl FnOnce(&Service)) -> anyhow::Result<()> {
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let status = Box::new(|s: &str| notify(&[NotifyState::Status(s)]));
    let service = Service::start(&bus, parts, status)
        .await
        .with_context(|| format!("serving {} on the {bus:?} bus", dbus::BUS_NAME))?;
    notify(&[NotifyState::Status("idle: Ready"), NotifyState::Ready]);
    started(&service);
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
        assert!(!a.once);
        assert_eq!(a.bus, Some(BusChoice::Address("unix:path=/tmp/b".into())));
        assert_eq!(a.config, Some(PathBuf::from("/x.toml")));
        assert_eq!(parse_args(["--session"].map(OsString::from)).unwrap().bus, Some(BusChoice::Session));
        assert!(parse_args(["--bogus"].map(OsString::from)).is_err());
        let once = parse_args(["--once", "--check", "--config-root", "/r"].map(OsString::from)).unwrap();
        assert!(once.once && once.check);
        assert_eq!(once.config_root, Some(PathBuf::from("/r")));
        assert!(parse_args(["--check"].map(OsString::from)).is_err(), "--check without --once");
    }
}
