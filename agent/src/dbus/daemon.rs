//! The daemon: arguments, settings, one tokio runtime, the service, and the
//! systemd protocol (READY=1 once settings are loaded and the name is owned,
//! STATUS= on every state change, WATCHDOG=1 at half WATCHDOG_USEC from the
//! main loop, STOPPING=1 on SIGTERM/SIGINT; a running install stops at its next
//! checkpoint before the process exits).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use sd_notify::NotifyState;
use tokio::signal::unix::{signal, SignalKind};

use super::access::AccessPolicy;
use super::bridge::DbusUi;
use super::core::{Core, ServiceParts};
use super::device::{slot_installs, DeviceDm, DeviceSim};
use super::ports::{NoSim, SimPort};
use super::service::Service;
use super::settings::BusChoice;
use super::state::AgentState;
use crate::device::{self, CheckKind, Device, Log, Observer, RunEnd};
use crate::i18n;
use crate::dm::session::NoUi;
use crate::sim::SessionRequest;

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
  --notify FILE     with --once: then act on the DM notification (package #0) in FILE";

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

fn settings(args: &Args) -> anyhow::Result<device::Settings> {
    let loaded = match (&args.config, &args.config_root) {
        (Some(file), None) => device::Settings::load_file(file),
        (None, root) => device::Settings::load_under(root.as_deref().unwrap_or(Path::new("/"))),
        (Some(_), Some(_)) => bail!("give --config or --config-root, not both"),
    };
    loaded.context("loading the settings")
}

fn notify(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        eprintln!("fotad: telling systemd {:?} failed: {e}", states.first());
    }
}

/// Exit status of `--once` when reports wait for a server (EX_TEMPFAIL).
pub const EXIT_REPORTS_PENDING: u8 = 75;

/// The whole daemon: returns the exit status when asked to stop.
pub fn main(args: impl IntoIterator<Item = OsString>) -> anyhow::Result<u8> {
    let args = parse_args(args)?;
    let settings = settings(&args)?;
    if args.once {
        return once(settings, &args);
    }
    let bus = args.bus.unwrap_or_else(|| settings.dbus.bus.clone());
    let (parts, device, sim_requests) = assemble(settings)?;
    let rt =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")?;
    rt.block_on(serve_device(bus, parts, device, sim_requests))?;
    Ok(0)
}

/// `fotad --once`: the same work as the daemon's, narrated on stderr.
fn once(settings: device::Settings, args: &Args) -> anyhow::Result<u8> {
    let package0 = match &args.notify {
        Some(f) => Some(std::fs::read(f).with_context(|| format!("reading the notification {}", f.display()))?),
        None => None,
    };
    let mut device = Device::open(settings)?;
    let log = Log::default();
    let (tx, _rx) = mpsc::channel::<SessionRequest>();
    device.start_sim(Box::new(move |r| drop(tx.send(r))), &log);
    let mut outcome = device.run(&NoUi, &log)?;
    if matches!(outcome.end, RunEnd::Idle | RunEnd::ReportsPending) {
        if let Some(p) = &package0 {
            outcome = device.notify(p, &NoUi, &log)?;
        } else if args.check {
            outcome = device.check(CheckKind::Device, &NoUi, &log)?;
        }
    }
    for (node, code) in &outcome.results {
        log.say(&format!("result: {node} {code}"));
    }
    log.say(&format!("done: {:?}", outcome.end));
    Ok(if outcome.end == RunEnd::ReportsPending { EXIT_REPORTS_PENDING } else { 0 })
}

/// The device and the service parts over it; SIM session requests arrive on
/// the returned channel.
fn assemble(settings: device::Settings) -> anyhow::Result<(ServiceParts, Arc<Device>, mpsc::Receiver<SessionRequest>)> {
    let language = settings.ui.language.clone().unwrap_or_else(|| i18n::from_locale(|k| std::env::var(k).ok()));
    let (ui, access) = (settings.ui.clone(), AccessPolicy::new(&settings.dbus.ui_group));
    let mut device = Device::open(settings)?;
    let (tx, rx) = mpsc::channel::<SessionRequest>();
    let sim = device.start_sim(Box::new(move |r| drop(tx.send(r))), &Log::default());
    let device = Arc::new(device);
    let sim: Arc<dyn SimPort> = match sim {
        Some(handle) => Arc::new(DeviceSim(handle)),
        None => Arc::new(NoSim),
    };
    let parts = ServiceParts {
        access,
        ui,
        install: slot_installs(&device),
        sim,
        dm: Arc::new(DeviceDm(Arc::clone(&device))),
        language,
    };
    Ok((parts, device, rx))
}

/// Serves the device until SIGTERM or SIGINT; in the background finishes
/// accepted jobs, retries undelivered reports with backoff, runs scheduled
/// checks and sessions the SIM asks for.
async fn serve_device(
    bus: BusChoice,
    parts: ServiceParts,
    device: Arc<Device>,
    sim_requests: mpsc::Receiver<SessionRequest>,
) -> anyhow::Result<()> {
    serve_with(bus, parts, move |core| {
        let (d, c) = (Arc::clone(&device), Arc::clone(&core));
        std::thread::Builder::new()
            .name("fotad-sim-sessions".into())
            .spawn(move || sim_sessions(&d, &c, &sim_requests))
            .map(drop)
            .unwrap_or_else(|e| eprintln!("fotad: cannot start the SIM session thread: {e}"));
        listen_udp(&device, &core);
        tokio::spawn(background(core, device));
    })
    .await
}

/// WAP push over UDP (`[dm] notification_udp_port`): each package #0 starts
/// a server-initiated session, one after another.
fn listen_udp(device: &Arc<Device>, core: &Arc<Core>) {
    let Some(port) = device.settings().dm.notification_udp_port else { return };
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let addr = std::net::SocketAddr::from(([0, 0, 0, 0], port));
    let listener = match crate::dm::wap_push::UdpListener::start(addr, move |p| drop(tx.send(p))) {
        Ok(l) => l,
        Err(e) => return core.say(&format!("cannot listen for notifications on UDP port {port}: {e}")),
    };
    let (d, c) = (Arc::clone(device), Arc::clone(core));
    let spawned = std::thread::Builder::new().name("fotad-wap-push".into()).spawn(move || {
        let _listener = listener;
        for package0 in rx {
            let ui = DbusUi::new(Arc::clone(&c));
            if let Err(e) = d.notify(&package0, &ui, c.as_ref()) {
                c.say(&format!("notification over UDP: {e:#}"));
            }
            publish_system(&c, &d);
        }
    });
    if let Err(e) = spawned {
        core.say(&format!("cannot start the notification thread: {e}"));
    }
}

fn publish_system(core: &Core, device: &Device) {
    let (version, booted, slots) = device.system();
    core.set_system(&version, &booted, slots);
    core.fumo_state(device.fumo_state());
}

fn sim_sessions(device: &Device, core: &Arc<Core>, requests: &mpsc::Receiver<SessionRequest>) {
    for r in requests {
        let ui = DbusUi::new(Arc::clone(core));
        let status = match device.sim_session(&r.request.server_uri, &ui, core.as_ref()) {
            Ok(o) => o.code,
            Err(e) => {
                core.say(&format!("SIM-requested session failed: {e:#}"));
                500
            }
        };
        r.reply.send(status);
        publish_system(core, device);
    }
}

/// The background schedule: on start, then whenever work is pending.
async fn background(core: Arc<Core>, device: Arc<Device>) {
    let agent = device.settings().agent;
    let mut retry = agent.retry_min;
    let mut next_check = agent.check_interval.map(|i| Instant::now() + i);
    let mut wake = Instant::now();
    loop {
        tokio::time::sleep_until(wake.into()).await;
        let due_check = next_check.is_some_and(|t| Instant::now() >= t);
        if core.model().state != AgentState::Idle {
            wake = Instant::now() + Duration::from_secs(5);
            continue;
        }
        let (d, c) = (Arc::clone(&device), Arc::clone(&core));
        let run = tokio::task::spawn_blocking(move || {
            let ui = DbusUi::new(Arc::clone(&c));
            let r = if due_check { d.check(CheckKind::Device, &ui, c.as_ref()) } else { d.run(&ui, c.as_ref()) };
            publish_system(&c, &d);
            r
        });
        let end = match run.await {
            Ok(Ok(o)) => o.end,
            Ok(Err(e)) => {
                core.say(&format!("background run failed: {e:#}"));
                RunEnd::ReportsPending
            }
            Err(e) => {
                core.say(&format!("background run panicked: {e}"));
                RunEnd::ReportsPending
            }
        };
        if due_check {
            next_check = agent.check_interval.map(|i| Instant::now() + i);
        }
        let pause = match end {
            RunEnd::ReportsPending => {
                let p = retry;
                retry = (retry * 2).min(agent.retry_max);
                p
            }
            RunEnd::AwaitingMarkGood => Duration::from_secs(10),
            RunEnd::Interrupted | RunEnd::Rebooting => Duration::from_secs(60),
            RunEnd::Idle => {
                retry = agent.retry_min;
                next_check.map_or(Duration::from_secs(3600), |t| t.saturating_duration_since(Instant::now()))
            }
        };
        wake = Instant::now() + pause;
    }
}

/// Serves until SIGTERM or SIGINT, speaking the systemd notify protocol.
pub async fn serve(bus: BusChoice, parts: ServiceParts) -> anyhow::Result<()> {
    serve_with(bus, parts, |_| {}).await
}

async fn serve_with(bus: BusChoice, parts: ServiceParts, started: impl FnOnce(Arc<Core>)) -> anyhow::Result<()> {
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let status = Box::new(|s: &str| notify(&[NotifyState::Status(s)]));
    let service = Service::start(&bus, parts, status)
        .await
        .with_context(|| format!("serving {} on the {bus:?} bus", super::BUS_NAME))?;
    started(service.core());
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
