//! Real peers for the D-Bus tests: a private system-bus-like `dbus-daemon`
//! with our policy file, the service in-process on a tokio runtime thread,
//! `gdbus` calls (optionally as another user) and a `gdbus monitor` recorder.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use fotad::app::service_settings::{BusChoice, ConsentPolicy, UiSettings};
use fotad::app::{Agent, Options, Sessions, Settings};
use fotad::dbus::{AccessPolicy, NoSim, Service, ServiceParts, SimPort};
use fotad::dm::client::ClientError;
use fotad::dm::session::{ExecHandler, Prompt, SessionReport, Trigger, UserInteraction};
use fotad_updater::delta::{pack, ImageInput, PackSpec, PlanSettings};
use fotad_updater::package::{load_secret_key, write_keypair};

pub const UI_USER: &str = "fotadtestui";

/// Panics with an install hint when `tool` is not on PATH.
pub fn require(tool: &str, package: &str) {
    let found =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file())).unwrap_or(false);
    assert!(found, "{tool} is missing: apt-get install {package} (scripts/test does this)");
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Creates group fotad-ui and a test user in it (the tests run as root).
pub fn ensure_ui_user() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        require("useradd", "passwd");
        assert!(nix_uid_is_root(), "the D-Bus tests run as root (they create users and start dbus-daemon)");
        if !run_ok("getent", &["group", "fotad-ui"]) {
            assert!(run_ok("groupadd", &["--system", "fotad-ui"]), "groupadd fotad-ui failed");
        }
        if !run_ok("getent", &["passwd", UI_USER]) {
            let ok = run_ok("useradd", &["--system", "--no-create-home", "-G", "fotad-ui", UI_USER]);
            assert!(ok, "useradd {UI_USER} failed");
        }
    });
}

fn nix_uid_is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

fn run_ok(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// A private bus. `with_policy`: our policy file on a system-bus-like default
/// (deny method calls unless allowed); without it every call is allowed, so
/// only the daemon's own checks stand.
pub struct Bus {
    pub dir: tempfile::TempDir,
    pub address: String,
    child: Child,
}

impl Bus {
    pub fn start(with_policy: bool) -> Bus {
        require("dbus-daemon", "dbus");
        ensure_ui_user();
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let socket = dir.path().join("bus");
        let policy = repo_root().join("dbus/org.fotad.Agent1.conf");
        let (calls, include) = if with_policy {
            ("<deny send_type=\"method_call\"/>", format!("<include>{}</include>", policy.display()))
        } else {
            (
                "<allow send_type=\"method_call\"/>",
                "<policy user=\"root\"><allow own=\"org.fotad.Agent1\"/></policy>".to_string(),
            )
        };
        let conf = format!(
            "<busconfig><type>system</type><listen>unix:path={}</listen><auth>EXTERNAL</auth>\
             <policy context=\"default\"><allow user=\"*\"/><deny own=\"*\"/>{calls}\
             <allow send_type=\"signal\"/>\
             <allow send_requested_reply=\"true\" send_type=\"method_return\"/>\
             <allow send_requested_reply=\"true\" send_type=\"error\"/>\
             <allow receive_type=\"method_call\"/><allow receive_type=\"method_return\"/>\
             <allow receive_type=\"error\"/><allow receive_type=\"signal\"/>\
             <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus\"/>\
             <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus.Introspectable\"/>\
             </policy>{include}</busconfig>",
            socket.display()
        );
        let conf_path = dir.path().join("bus.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", conf_path.display()))
            .args(["--nofork", "--print-address"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting dbus-daemon");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(line.starts_with("unix:"), "dbus-daemon did not start: {line:?}");
        Bus { address: format!("unix:path={}", socket.display()), dir, child }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a test's service is built from: a device on file slots in `root`
/// (slot A booted, slot B `slot-b.img`, keys in `keys`), no DM account, no
/// SIM reader (unless `sim` says otherwise), automatic consent, English.
pub struct Parts {
    pub ui: UiSettings,
    /// A stand-in for the DM sessions (none: the real client, no account).
    pub sessions: Option<Box<dyn Sessions>>,
    pub sim: Arc<dyn SimPort>,
    pub language: String,
    root: PathBuf,
    keys: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

/// Parts on a device in a directory of their own.
pub fn parts() -> Parts {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = parts_in(tmp.path(), &tmp.path().join("keys"));
    p._tmp = Some(tmp);
    p
}

/// Parts on a device in `root` trusting the keys in `keys`.
pub fn parts_in(root: &Path, keys: &Path) -> Parts {
    Parts {
        ui: UiSettings {
            language: None,
            consent: ConsentPolicy::Automatic,
            prompt_timeout: Duration::from_secs(20),
            defer: Duration::from_secs(3600),
        },
        sessions: None,
        sim: Arc::new(NoSim),
        language: "en".into(),
        root: root.to_path_buf(),
        keys: keys.to_path_buf(),
        _tmp: None,
    }
}

impl Parts {
    /// The agent's settings: the device's files, and `ui`.
    fn settings(&self) -> Settings {
        let d = self.root.display();
        std::fs::create_dir_all(&self.keys).unwrap();
        std::fs::write(self.root.join("cmdline"), "fotad.slot=A\n").unwrap();
        std::fs::write(self.root.join("slot-a.img"), b"").unwrap();
        let toml = format!(
            "[updater]\ncompatible = \"test-board\"\nstate_dir = \"{d}/state\"\nkeys_dir = {:?}\n\
             cmdline = \"{d}/cmdline\"\n[bootloader]\nbackend = \"file\"\nfile = \"{d}/bootstate.json\"\n\
             [slots.A]\nrootfs = \"{d}/slot-a.img\"\n[slots.B]\nrootfs = \"{d}/slot-b.img\"\n\
             [dm]\ndevice_id = \"IMEI:490154203237518\"\n[sim]\nenabled = false\n",
            self.keys.display().to_string()
        );
        let file = self.root.join("fotad.toml");
        std::fs::write(&file, toml).unwrap();
        let mut settings = Settings::load_file(&file).unwrap();
        settings.ui = self.ui.clone();
        settings
    }

    /// The agent over these parts, and the service parts around it.
    pub fn build(self) -> (ServiceParts, Option<tempfile::TempDir>) {
        let settings = self.settings();
        let agent = Agent::open(settings, Options { sessions: self.sessions, consent: None }).unwrap();
        let parts = ServiceParts {
            agent,
            ui: self.ui,
            access: AccessPolicy::new("fotad-ui"),
            sim: self.sim,
            language: self.language,
        };
        (parts, self._tmp)
    }
}

/// The service running in this process on its own runtime thread.
pub struct Daemon {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub core: Arc<fotad::dbus::Core>,
    _dir: Option<tempfile::TempDir>,
}

impl Daemon {
    pub fn start(bus: &Bus, parts: Parts) -> Daemon {
        let (parts, dir) = parts.build();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let address = bus.address.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let service = Service::start(&BusChoice::Address(address), parts, Box::new(|_| {})).await.unwrap();
                ready_tx.send(service.core()).unwrap();
                let _ = stop_rx.await;
                service.shutdown().await;
            });
        });
        let core = ready_rx.recv_timeout(Duration::from_secs(20)).expect("the service did not start");
        Daemon { stop: Some(stop_tx), thread: Some(thread), core, _dir: dir }
    }

    /// Stops like SIGTERM does: the job stops at its next checkpoint first.
    pub fn stop(mut self) {
        self.stop.take().map(|s| s.send(()));
        self.thread.take().map(|t| t.join());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop.take().map(|s| s.send(()));
        self.thread.take().map(|t| t.join());
    }
}

/// DM sessions that ask the scripted prompts and record the answers
/// (`Debug` of each answer, one string per session), and the package #0
/// sizes of notifications.
pub struct ScriptedDm {
    prompts: Vec<Prompt>,
    log: Arc<Mutex<Vec<String>>>,
}

impl ScriptedDm {
    /// The stand-in, and the log of what each session got.
    pub fn start(prompts: Vec<Prompt>) -> (Box<dyn Sessions>, Arc<Mutex<Vec<String>>>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        (Box::new(ScriptedDm { prompts, log: Arc::clone(&log) }), log)
    }

    fn report() -> SessionReport {
        SessionReport { session_id: "1".into(), messages_sent: 1, alerts_acked: Vec::new(), aborted_by_server: false }
    }
}

impl Sessions for ScriptedDm {
    fn session(
        &mut self,
        _: Option<&str>,
        _: &Trigger,
        ui: &dyn UserInteraction,
        _: &mut dyn ExecHandler,
    ) -> Result<SessionReport, ClientError> {
        let answers: Vec<String> = self.prompts.iter().map(|p| format!("{:?}", ui.prompt(p))).collect();
        self.log.lock().unwrap().push(answers.join(";"));
        Ok(ScriptedDm::report())
    }

    fn notify(
        &mut self,
        package0: &[u8],
        _: &dyn UserInteraction,
        _: &mut dyn ExecHandler,
    ) -> Result<Option<SessionReport>, ClientError> {
        self.log.lock().unwrap().push(format!("package0 of {} bytes", package0.len()));
        Ok(Some(ScriptedDm::report()))
    }
}

/// A child process stopped when the test ends, passed or not: SIGTERM, which
/// runuser and setpriv pass on to the command (SIGKILL would orphan it).
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
            std::thread::sleep(Duration::from_millis(100));
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Who runs a client command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum As {
    Root,
    /// uid/gid 65534, no supplementary groups (setpriv).
    Nobody,
    /// The test user in group fotad-ui (runuser).
    UiUser,
}

pub fn command(who: As, program: &str) -> Command {
    match who {
        As::Root => Command::new(program),
        As::Nobody => {
            require("setpriv", "util-linux");
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", program]);
            c
        }
        As::UiUser => {
            require("runuser", "util-linux");
            let mut c = Command::new("runuser");
            c.args(["-u", UI_USER, "--", program]);
            c
        }
    }
}

/// `gdbus call` of `org.fotad.Agent1.<method>` with GVariant text arguments.
pub fn gdbus_call(bus: &Bus, who: As, method: &str, args: &[&str]) -> Output {
    require("gdbus", "libglib2.0-bin");
    let full = if method.contains('.') { method.to_string() } else { format!("org.fotad.Agent1.{method}") };
    command(who, "gdbus")
        .args(["call", "--address", &bus.address, "--dest", "org.fotad.Agent1", "--object-path", "/org/fotad/Agent1"])
        .args(["--method", &full])
        .args(args)
        .output()
        .expect("running gdbus")
}

/// Asserts success; returns stdout.
pub fn ok(out: &Output) -> String {
    assert!(out.status.success(), "gdbus failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts failure with an error name in stderr.
pub fn fails_with(out: &Output, error: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "expected {error}, got success: {}", String::from_utf8_lossy(&out.stdout));
    assert!(err.contains(error), "expected {error}, got: {err}");
    err
}

pub fn get_property(bus: &Bus, who: As, name: &str) -> String {
    ok(&gdbus_call(bus, who, "org.freedesktop.DBus.Properties.Get", &["org.fotad.Agent1", name])).trim().to_string()
}

/// Records `gdbus monitor` output for the service.
pub struct Monitor {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Monitor {
    pub fn start(bus: &Bus) -> Monitor {
        require("gdbus", "libglib2.0-bin");
        let mut child = Command::new("gdbus")
            .args(["monitor", "--address", &bus.address, "--dest", "org.fotad.Agent1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting gdbus monitor");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let m = Monitor { child, lines };
        m.wait_for("the monitor to subscribe", |l| l.contains("is owned by"));
        m
    }

    /// Waits up to 30 s for a line matching `pred`; returns it.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(l) = self.lines.lock().unwrap().iter().find(|l| pred(l)) {
                return l.clone();
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; saw:\n{}", self.all().join("\n"));
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn all(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A UI on the bus: `fotactl watch` (the real binary) as the fotad-ui test
/// user, registered with the daemon as long as it runs.
pub struct UiClient {
    pub child: KillOnDrop,
    pub lines: Arc<Mutex<Vec<String>>>,
}

impl UiClient {
    /// Starts `fotactl watch` and waits until the daemon has registered it.
    pub fn start(bus: &Bus) -> UiClient {
        let mut child = command(As::UiUser, env!("CARGO_BIN_EXE_fotactl"))
            .args(["--address", &bus.address, "watch"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting fotactl watch");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for out in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let sink = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    sink.lock().unwrap().push(line);
                }
            });
        }
        let ui = UiClient { child: KillOnDrop(child), lines };
        ui.wait_for("fotactl watch to register as a UI", |l| l.contains("registered as a UI"));
        ui
    }

    /// Waits up to 30 s for an output line matching `pred`.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(l) = self.lines.lock().unwrap().iter().find(|l| pred(l)) {
                return l.clone();
            }
            let seen = self.lines.lock().unwrap().join("\n");
            assert!(Instant::now() < deadline, "timed out waiting for {what}; fotactl printed:\n{seen}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The prompt id in a monitored `Prompt (uint32 N, ...` line.
pub fn prompt_id(line: &str) -> u32 {
    let rest = &line[line.find("(uint32 ").unwrap() + 8..];
    rest[..rest.find(',').unwrap()].parse().unwrap()
}

/// A signed package that writes `image` into class rootfs, with descriptions.
pub fn package(dir: &Path, image: &[u8]) -> (PathBuf, PathBuf) {
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    write_keypair(&keys.join("test")).unwrap();
    let new = dir.join("new.img");
    std::fs::write(&new, image).unwrap();
    let description = BTreeMap::from([
        ("en".to_string(), "Security fixes".to_string()),
        ("de".to_string(), "Sicherheitskorrekturen".to_string()),
    ]);
    let spec = PackSpec {
        compatible: "test-board".into(),
        version: "2.0".into(),
        security_version: 1,
        operator_tag: None,
        description,
        images: vec![("rootfs".into(), ImageInput::Full { target: new })],
        op_size: 64 << 10,
        full_op_size: None,
        threads: 1,
        settings: PlanSettings::default(),
    };
    let out = dir.join("update.fota");
    pack(&spec, &[load_secret_key(&keys.join("test.key")).unwrap()], &out).unwrap();
    (out, keys)
}

pub fn noise(n: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

/// A signed package of `image`, a private bus, and the service installing it
/// into file slots (fields drop in order: the service before its bus).
pub struct InstallRig {
    pub daemon: Daemon,
    pub bus: Bus,
    pub pkg: String,
    pub dir: tempfile::TempDir,
}

pub fn install_rig(image: &[u8], tweak: impl FnOnce(&mut Parts)) -> InstallRig {
    let dir = tempfile::tempdir().unwrap();
    let (pkg, keys) = package(dir.path(), image);
    let bus = Bus::start(true);
    let mut p = parts_in(dir.path(), &keys);
    tweak(&mut p);
    let daemon = Daemon::start(&bus, p);
    InstallRig { daemon, bus, pkg: pkg.to_str().unwrap().to_string(), dir }
}
