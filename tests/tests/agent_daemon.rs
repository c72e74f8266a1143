//! The daemon as a process: `fotad` on a private `dbus-daemon` with our bus
//! policy, `fotad-testserver` in this process as the DM server, packages from
//! the real nginx through a proxy that passes them on slowly, file slots, and
//! for the SIM the real pcscd with our virtual SIM. Every run — a scheduled
//! check, a D-Bus call, a SIM-initiated session, `InstallFile` — is one run of
//! the agent: the D-Bus `State` and `STATUS=` show it, `Cancel` and SIGTERM
//! stop it at a checkpoint, and the next run starts with a fresh cancel token.
//! The tests look at the bus, the state files and the server's records.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use fotad_tests::agent_rig::{AgentRig, COMPATIBLE};
use fotad_tests::bus::Bus;
use fotad_tests::faultproxy::{Fault, FaultProxy};
use fotad_tests::pcscd::Pcscd;
use fotad_tests::vsim::{CardProfile, OperatorFile, Vsim};

const MIB: u64 = 1 << 20;
const WAIT: Duration = Duration::from_secs(60);
/// Every test that starts pcscd runs alone (pcscd keeps a pid file in /run).
static PCSCD: Mutex<()> = Mutex::new(());

/// The daemon process, stopped (SIGTERM, then SIGKILL) when the test ends.
struct Daemon(Child);

impl Daemon {
    fn start(rig: &AgentRig, bus: &Bus, notify_socket: Option<&Path>) -> Daemon {
        let mut cmd = rig.daemon(&bus.address);
        cmd.env("FOTAD_LOG", "info").stdout(Stdio::null()).stderr(Stdio::null());
        match notify_socket {
            Some(s) => cmd.env("NOTIFY_SOCKET", s),
            None => cmd.env_remove("NOTIFY_SOCKET"),
        };
        let daemon = Daemon(cmd.spawn().unwrap());
        wait_until("the daemon on the bus", WAIT, || bus.property("State").is_some());
        daemon
    }

    fn sigterm(&self) {
        let sent = std::process::Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {}", self.0.id());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            self.sigterm();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && matches!(self.0.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The installer's checkpoint: (next operation, package offset), if any.
fn checkpoint(rig: &AgentRig) -> Option<(u64, u64)> {
    let bytes = std::fs::read(rig.path("dev/state/install/checkpoint.json")).ok()?;
    let cp: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    Some((cp["next_op"].as_u64()?, cp["next_offset"].as_u64()?))
}

/// The FUMO jobs the agent has accepted and not yet ended.
fn queued_jobs(rig: &AgentRig) -> usize {
    let bytes = std::fs::read(rig.path("dev/state/fumo.json")).unwrap_or_default();
    let store: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    store["jobs"].as_array().map_or(0, Vec::len)
}

/// The slot the bootloader will boot next (`fotad-update status`).
fn primary(rig: &AgentRig) -> String {
    let out = rig.fotad_update(&["status", "--json"]).output().unwrap();
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    status["primary"].as_str().unwrap_or_default().to_string()
}

/// A device whose server orders `v2-full.fota` (64 KiB operations) through a
/// proxy that passes the first connection on at a thirtieth of the package
/// per second (later connections at full speed), with `tables` in its config.
fn slow_rig(dir: &Path, tables: &[(&str, &str)]) -> (AgentRig, FaultProxy) {
    let rig = AgentRig::with_tables(dir, 4 * MIB, tables).unwrap();
    let size = std::fs::metadata(rig.path("www/v2-full.fota")).unwrap().len();
    let proxy = FaultProxy::start(rig.nginx.addr(), vec![Fault::Throttle(size / 30)]).unwrap();
    rig.order_url(&proxy.url("/v2-full.fota"), "c-slow");
    (rig, proxy)
}

/// Waits until the download wrote a few operations into slot B.
fn wait_for_download(rig: &AgentRig) -> (u64, u64) {
    wait_until("the download to write into slot B", WAIT, || checkpoint(rig).is_some_and(|(op, _)| op >= 3));
    checkpoint(rig).unwrap()
}

const SCHEDULED: (&str, &str) = ("agent", "check_interval_secs = 1");

#[test]
fn status_and_the_dbus_state_show_a_background_run() {
    let dir = tempfile::tempdir().unwrap();
    let (rig, _proxy) = slow_rig(dir.path(), &[SCHEDULED]);
    let bus = Bus::start().unwrap();
    let socket_path = dir.path().join("notify");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let _daemon = Daemon::start(&rig, &bus, Some(&socket_path));
    // Nobody called a method: the schedule's check finds the order and downloads.
    wait_for_download(&rig);
    assert_eq!(bus.property("State").as_deref(), Some("(<'installing'>,)"), "the D-Bus State during the download");
    let mut status = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !status.iter().any(|s: &String| s.starts_with("STATUS=installing")) {
        if let Ok(n) = socket.recv(&mut buf) {
            status.extend(
                String::from_utf8_lossy(&buf[..n]).lines().filter(|l| l.starts_with("STATUS=")).map(String::from),
            );
        }
    }
    assert!(status.iter().any(|s| s.starts_with("STATUS=checking")), "STATUS= during the session: {status:?}");
    assert!(status.iter().any(|s| s.starts_with("STATUS=installing")), "STATUS= during the download: {status:?}");
}

#[test]
fn cancel_stops_a_background_download_at_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (rig, _proxy) = slow_rig(dir.path(), &[SCHEDULED]);
    let bus = Bus::start().unwrap();
    let _daemon = Daemon::start(&rig, &bus, None);
    wait_for_download(&rig);
    let cancel = bus.call("Cancel", &[]).unwrap();
    assert!(cancel.status.success(), "Cancel of the background run: {}", String::from_utf8_lossy(&cancel.stderr));
    wait_until("the agent to be idle", WAIT, || bus.property("State").as_deref() == Some("(<'idle'>,)"));
    let (op, _) = checkpoint(&rig).expect("the download stopped at a checkpoint");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(checkpoint(&rig).map(|c| c.0), Some(op), "the download went on after Cancel");
    let ops = 4 * MIB / (64 << 10);
    assert!(op < ops, "stopped after {op} of {ops} operations");
    assert_eq!(primary(&rig), "A", "a cancelled download activated slot B");
    assert_eq!(queued_jobs(&rig), 1, "the job is kept, to resume");
    assert!(rig.reports().is_empty(), "{:?}", rig.reports());
}

#[test]
fn sigterm_stops_a_background_download_at_a_checkpoint_and_the_next_start_resumes_it() {
    let dir = tempfile::tempdir().unwrap();
    let (rig, proxy) = slow_rig(dir.path(), &[SCHEDULED]);
    let bus = Bus::start().unwrap();
    let mut daemon = Daemon::start(&rig, &bus, None);
    wait_for_download(&rig);
    let sent = Instant::now();
    daemon.sigterm();
    let deadline = sent + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = daemon.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "fotad still runs 15 s after SIGTERM (the download goes on)");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "fotad after SIGTERM: {status}");
    let (op, offset) = checkpoint(&rig).expect("the download stopped at a checkpoint");
    let ops = 4 * MIB / (64 << 10);
    assert!(op < ops, "stopped after {op} of {ops} operations");
    assert_eq!(primary(&rig), "A");
    assert_eq!(queued_jobs(&rig), 1, "the job is kept, to resume");
    // The next start resumes from the checkpoint (a range request) and updates.
    let before = proxy.bytes_forwarded();
    let out = rig.fotad().output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(rig.booted().unwrap(), "B");
    assert_eq!(rig.slot_image("B").unwrap(), rig.images[1]);
    let size = std::fs::metadata(rig.path("www/v2-full.fota")).unwrap().len();
    let fetched = proxy.bytes_forwarded() - before;
    assert!(fetched < size - offset + (64 << 10), "fetched {fetched} bytes of {size} again after byte {offset}");
}

/// A daemon with the SIM enabled (the virtual reader of `pcscd`).
const SIM: (&str, &str) = ("sim", "enabled = true\npoll_interval_ms = 100");

struct SimRig {
    pcscd: Pcscd,
    _serial: MutexGuard<'static, ()>,
}

/// pcscd (socket-activated: it starts, and its virtual reader listens, once
/// a client such as the daemon connects).
fn sim_rig() -> SimRig {
    let serial = PCSCD.lock().unwrap_or_else(|p| p.into_inner());
    SimRig { pcscd: Pcscd::start().unwrap(), _serial: serial }
}

impl SimRig {
    fn insert(&self, profile: &CardProfile) -> Vsim {
        Vsim::insert(self.pcscd.port, profile, WAIT).unwrap()
    }
}

fn wait_for_sim(bus: &Bus) {
    wait_until("the SIM to be read", WAIT, || bus.property("Sim").is_some_and(|s| s.contains("'ready'")));
}

#[test]
fn install_file_of_a_package_the_sim_gate_forbids_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bus = Bus::start().unwrap();
    // The operator secures updates (EF_FOTA 0x03) with its tag; the package is tagged for another.
    let mut profile = CardProfile::usim();
    let mut ef_fota = vec![0x03];
    ef_fota.extend(*b"operator-A-tag-1");
    profile.ef_fota = Some(OperatorFile { path: vec![0x7F50, 0x6F50], content: ef_fota });
    let sim = sim_rig();
    let rig = AgentRig::with_tables(dir.path(), MIB, &[SIM, ("ui", "consent = \"automatic\"")]).unwrap();
    let package = tagged_package(&rig, b"operator-B-tag-2");
    let _daemon = Daemon::start(&rig, &bus, None);
    let _card = sim.insert(&profile);
    wait_for_sim(&bus);
    let mut monitor = std::process::Command::new("gdbus")
        .args(["monitor", "--address", &bus.address, "--dest", "org.fotad.Agent1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = lines_of(monitor.stdout.take().unwrap());
    std::thread::sleep(Duration::from_millis(300));
    let out = bus.call("InstallFile", &[package.to_str().unwrap()]).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    wait_until("Completed", WAIT, || lines.lock().unwrap().iter().any(|l| l.contains("Agent1.Completed")));
    let _ = monitor.kill();
    let _ = monitor.wait();
    let done = lines.lock().unwrap().iter().find(|l| l.contains("Agent1.Completed")).cloned().unwrap();
    assert!(done.contains("'install', uint32 405"), "InstallFile of a package the gate forbids: {done}");
    assert_eq!(std::fs::metadata(rig.path("dev/rootfs-b.img")).unwrap().len(), 0, "slot B was written");
    assert_eq!(primary(&rig), "A");
}

/// `v2` of the rig as a full package tagged for the operator `tag`.
fn tagged_package(rig: &AgentRig, tag: &[u8; 16]) -> PathBuf {
    use fotad_updater::delta::{pack, ImageInput, PackSpec, PlanSettings};
    let out = rig.path("tagged.fota");
    let spec = PackSpec {
        compatible: COMPATIBLE.into(),
        version: "2.0".into(),
        security_version: 1,
        operator_tag: Some(*tag),
        description: Default::default(),
        images: vec![("rootfs".into(), ImageInput::Full { target: rig.path("host/v2.img") })],
        op_size: 256 << 10,
        full_op_size: None,
        threads: 1,
        settings: PlanSettings::default(),
    };
    let key = fotad_updater::package::load_secret_key(&rig.path("host/release.key")).unwrap();
    pack(&spec, &[key], &out).unwrap();
    out
}

fn lines_of(out: impl std::io::Read + Send + 'static) -> std::sync::Arc<Mutex<Vec<String>>> {
    use std::io::BufRead;
    let lines = std::sync::Arc::new(Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

#[test]
fn a_sim_session_after_a_cancelled_run_is_not_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let bus = Bus::start().unwrap();
    let sim = sim_rig();
    let (rig, _proxy) = slow_rig(dir.path(), &[SIM, ("ui", "consent = \"automatic\"")]);
    let _daemon = Daemon::start(&rig, &bus, None);
    let card = sim.insert(&CardProfile::usim());
    wait_for_sim(&bus);
    // A check from the UI starts the download; the user cancels it.
    let check = bus.call("CheckForUpdate", &[]).unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    let (op, _) = wait_for_download(&rig);
    assert!(bus.call("Cancel", &[]).unwrap().status.success());
    wait_until("the agent to be idle", WAIT, || bus.property("State").as_deref() == Some("(<'idle'>,)"));
    assert_eq!(primary(&rig), "A");
    assert!(checkpoint(&rig).is_some_and(|(o, _)| o >= op));
    // The SIM asks for a session with the server (CAT LAUNCH BROWSER): that run
    // finishes the job (the proxy is fast now) and reboots into slot B.
    let command = fotad::sim::cat::build(
        fotad::sim::cat::CommandDetails { number: 1, type_: 0x15, qualifier: 0 },
        &[(0x31, rig.server.url().as_bytes())],
    );
    card.inject_proactive(command);
    wait_until("the SIM session's run to update slot B", WAIT, || rig.booted().unwrap() == "B");
    assert_eq!(rig.slot_image("B").unwrap(), rig.images[1]);
    assert!(!card.cat_log().terminal_responses.is_empty(), "the SIM's command was answered");
}
