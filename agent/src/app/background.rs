//! The daemon's runs that nobody calls for: on start and then on a schedule
//! (finish accepted jobs, retry undelivered reports with backoff, check
//! `[agent] check_interval_secs`), a WAP push over UDP (`[dm]
//! notification_udp_port`), and the sessions the SIM asks for. Each is a run
//! like any other ([`Agent::submit`], waiting for the busy slot): the D-Bus
//! `State` shows it and `Cancel` stops it. All stop when the agent closes.

use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use super::agent::Agent;
use super::frontend::Frontend;
use super::run::{Refused, Wait};
use super::work::{CheckKind, Outcome, RunEnd, Work};

/// Starts the schedule and the listeners, each on its own thread.
pub fn start(agent: &Arc<Agent>, frontend: &Arc<dyn Frontend>) {
    let (a, f) = (Arc::clone(agent), Arc::clone(frontend));
    spawn("fotad-schedule", move || schedule(&a, f.as_ref()));
    if let Some(port) = agent.settings().dm.notification_udp_port {
        listen_udp(agent, frontend, port);
    }
    if let Some(requests) = agent.take_sim_requests() {
        let (a, f) = (Arc::clone(agent), Arc::clone(frontend));
        spawn("fotad-sim-sessions", move || sim_sessions(&a, f.as_ref(), &requests));
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) {
    if let Err(e) = std::thread::Builder::new().name(name.into()).spawn(f) {
        tracing::error!(error = %e, "cannot start the {name} thread");
    }
}

/// One run, waiting for the busy slot; `None` when the agent closed. A run
/// that fails or panics is logged; the schedule goes on.
fn run(agent: &Arc<Agent>, frontend: &dyn Frontend, work: Work) -> Option<anyhow::Result<Outcome>> {
    let job = work.job();
    let run = match agent.submit(work, Wait::UntilFree) {
        Ok(run) => run,
        Err(Refused::Closed) => return None,
        Err(e @ Refused::Busy { .. }) => return Some(Err(e.into())),
    };
    let result = match catch_unwind(AssertUnwindSafe(|| run.execute(frontend))) {
        Ok(result) => result,
        Err(_) => Err(anyhow::anyhow!("the {job} run panicked")),
    };
    if let Err(e) = &result {
        tracing::warn!(error = %format!("{e:#}"), "background {job} run failed");
    }
    Some(result)
}

/// On start, then whenever work is due.
fn schedule(agent: &Arc<Agent>, frontend: &dyn Frontend) {
    let s = agent.settings().agent;
    let mut retry = s.retry_min;
    let mut next_check = s.check_interval.map(|i| Instant::now() + i);
    loop {
        let due = next_check.is_some_and(|t| Instant::now() >= t);
        let work = if due { Work::Check(CheckKind::Device) } else { Work::Resume };
        let Some(result) = run(agent, frontend, work) else { return };
        if due {
            next_check = s.check_interval.map(|i| Instant::now() + i);
        }
        let pause = match result.map_or(RunEnd::ReportsPending, |o| o.end) {
            RunEnd::ReportsPending => {
                let p = retry;
                retry = (retry * 2).min(s.retry_max);
                p
            }
            RunEnd::AwaitingMarkGood => Duration::from_secs(10),
            RunEnd::Interrupted | RunEnd::Rebooting => Duration::from_secs(60),
            RunEnd::Idle => {
                retry = s.retry_min;
                next_check.map_or(Duration::from_secs(3600), |t| t.saturating_duration_since(Instant::now()))
            }
        };
        if !agent.sleep_unless_closed(pause) {
            return;
        }
    }
}

/// Each package #0 that arrives over UDP starts a server-initiated session.
fn listen_udp(agent: &Arc<Agent>, frontend: &Arc<dyn Frontend>, port: u16) {
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let addr = SocketAddr::from(([0, 0, 0, 0], port));
    let listener = match crate::dm::wap_push::UdpListener::start(addr, move |p| drop(tx.send(p))) {
        Ok(l) => l,
        Err(e) => return tracing::error!(error = %e, "cannot listen for notifications on UDP port {port}"),
    };
    let (a, f) = (Arc::clone(agent), Arc::clone(frontend));
    spawn("fotad-wap-push", move || {
        let _listener = listener;
        for package0 in rx {
            if run(&a, f.as_ref(), Work::Notify(package0)).is_none() {
                return;
            }
        }
    });
}

/// Each session the SIM asks for, answered with its result code.
fn sim_sessions(agent: &Arc<Agent>, frontend: &dyn Frontend, requests: &mpsc::Receiver<crate::sim::SessionRequest>) {
    for r in requests {
        let work = Work::SimSession { server_uri: r.request.server_uri.clone() };
        let status = match run(agent, frontend, work) {
            None => return,
            Some(Ok(o)) => u16::try_from(o.code).unwrap_or(500),
            Some(Err(_)) => 500,
        };
        r.reply.send(status);
    }
}
