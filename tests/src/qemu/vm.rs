//! One QEMU virtual machine: `qemu-system-x86_64` (q35, OVMF, KVM when
//! `/dev/kvm` works, else TCG) booting a raw disk image, its serial console
//! appended to a log file, user-mode networking in which the guest reaches
//! servers on the host at 10.0.2.100 (`guestfwd` through `socat`), and a
//! control channel: a root shell on the virtio-serial port `org.fotad.test`
//! (`fotad-test-shell.service` in the test image), reached through a unix
//! socket. Killed (SIGKILL: a power cut) when dropped.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

/// The guest address under which the host's servers appear.
pub const HOST_IN_GUEST: &str = "10.0.2.100";
/// The guest's banner on the control channel after each boot.
const READY: &str = "FOTAD-TEST-READY ";
const OVMF: &str = "/usr/share/ovmf/OVMF.fd";

/// How the machine is emulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    /// `FOTAD_QEMU_ACCEL=kvm|tcg` if set, else KVM when a KVM machine starts
    /// here, else TCG. Probed once per process.
    pub fn detect() -> Accel {
        static ACCEL: OnceLock<Accel> = OnceLock::new();
        *ACCEL.get_or_init(|| match std::env::var("FOTAD_QEMU_ACCEL").as_deref() {
            Ok("tcg") => Accel::Tcg,
            Ok("kvm") => Accel::Kvm,
            _ if kvm_works() => Accel::Kvm,
            _ => Accel::Tcg,
        })
    }

    fn args(self) -> &'static [&'static str] {
        match self {
            Accel::Kvm => &["-accel", "kvm", "-cpu", "host"],
            Accel::Tcg => &["-accel", "tcg"],
        }
    }
}

/// Opens /dev/kvm and runs OVMF under KVM for a few seconds: some hosts
/// (nested virtualization) have the device and create machines, but fail to
/// run the firmware ("KVM internal error ... emulation failure").
fn kvm_works() -> bool {
    if OpenOptions::new().read(true).write(true).open("/dev/kvm").is_err() {
        return false;
    }
    let Ok(dir) = tempfile::tempdir() else { return false };
    let err_path = dir.path().join("stderr");
    let Ok(err) = File::create(&err_path) else { return false };
    let child = Command::new("qemu-system-x86_64")
        .args(["-accel", "kvm", "-cpu", "host", "-machine", "q35", "-m", "256", "-bios", OVMF])
        .args(["-nodefaults", "-display", "none", "-no-user-config"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn();
    let Ok(mut child) = child else { return false };
    std::thread::sleep(Duration::from_secs(3));
    let running = matches!(child.try_wait(), Ok(None));
    let _ = child.kill();
    let _ = child.wait();
    running && std::fs::read(&err_path).is_ok_and(|e| e.is_empty())
}

/// What to boot and how.
#[derive(Debug, Clone)]
pub struct VmConfig {
    /// The raw disk image (written by the guest).
    pub disk: PathBuf,
    /// The serial console is appended here (kept across restarts).
    pub console_log: PathBuf,
    /// The control channel's transcript is appended here.
    pub control_log: PathBuf,
    /// Working directory for the control socket.
    pub run_dir: PathBuf,
    /// Guest TCP port on 10.0.2.100 → host loopback port.
    pub forwards: Vec<(u16, u16)>,
    pub memory_mib: u32,
    /// The guest may reach any address through the host (QEMU's user-mode
    /// NAT); otherwise only the forwards (`restrict=on`).
    pub open_network: bool,
}

/// The `qemu-system-x86_64` command for `cfg`, its console appended to
/// `console_log` (None: on the terminal, with QEMU's monitor on Ctrl-A c) and
/// its control channel on `run_dir/control.sock`. Fails, naming the Debian
/// package, when QEMU, socat or OVMF is missing.
pub fn command(cfg: &VmConfig, console_log: Option<&Path>) -> Result<Command> {
    for (tool, package) in [("qemu-system-x86_64", "qemu-system-x86"), ("socat", "socat")] {
        ensure!(which(tool), "{tool} is missing: install the Debian package {package} (scripts/test does)");
    }
    ensure!(Path::new(OVMF).is_file(), "{OVMF} is missing: install the Debian package ovmf (scripts/test does)");
    std::fs::create_dir_all(&cfg.run_dir)?;
    let socket = cfg.run_dir.join("control.sock");
    let _ = std::fs::remove_file(&socket);
    let mut c = Command::new("qemu-system-x86_64");
    c.args(Accel::detect().args());
    // One vCPU: on 2 host cores a second one is not faster under TCG (a GRUB
    // reboot loop: 5 boots in 90 s with one, 3 with two).
    c.args(["-machine", "q35", "-smp", "1", "-m", &cfg.memory_mib.to_string(), "-bios", OVMF]);
    c.args(["-nodefaults", "-display", "none", "-no-user-config"]);
    match console_log {
        Some(log) => {
            c.arg("-chardev").arg(format!("file,id=con,append=on,path={}", log.display()));
            c.args(["-serial", "chardev:con"]);
        }
        None => {
            c.args(["-serial", "mon:stdio"]);
        }
    }
    c.arg("-drive").arg(format!("file={},format=raw,if=virtio,cache=writeback", cfg.disk.display()));
    let mut net = format!("user,id=net0,restrict={}", if cfg.open_network { "off" } else { "on" });
    for (guest, host) in &cfg.forwards {
        net.push_str(&format!(",guestfwd=tcp:{HOST_IN_GUEST}:{guest}-cmd:socat - TCP:127.0.0.1:{host}"));
    }
    c.args(["-netdev", &net, "-device", "virtio-net-pci,netdev=net0,romfile="]);
    c.args(["-device", "virtio-rng-pci", "-device", "virtio-serial-pci"]);
    c.arg("-chardev").arg(format!("socket,id=ctl,server=on,wait=off,path={}", socket.display()));
    c.args(["-device", "virtserialport,chardev=ctl,name=org.fotad.test"]);
    Ok(c)
}

/// A running virtual machine.
#[derive(Debug)]
pub struct Vm {
    child: Child,
    cfg: VmConfig,
    console_log: PathBuf,
    control: Control,
    /// Banners seen so far (one per boot since this VM started).
    boots_seen: usize,
    started: Instant,
}

impl Vm {
    /// Starts QEMU and connects the control channel (the guest is still booting).
    ///
    /// QEMU runs with `-no-reboot`: when the guest reboots (systemd's reboot, a
    /// kernel panic, GRUB's `reboot`), QEMU exits and [`Vm::wait_boot`] starts
    /// it again on the same disk, as a power cycle. QEMU's own reset under TCG
    /// here left OVMF or GRUB hung for good after about one reboot in four.
    pub fn start(cfg: &VmConfig) -> Result<Vm> {
        let child = Self::spawn(cfg)?;
        let mut vm = Vm {
            child,
            cfg: cfg.clone(),
            console_log: cfg.console_log.clone(),
            control: Control::dead(),
            boots_seen: 0,
            started: Instant::now(),
        };
        vm.control = vm.connect()?;
        Ok(vm)
    }

    fn spawn(cfg: &VmConfig) -> Result<Child> {
        let mut c = command(cfg, Some(&cfg.console_log))?;
        c.arg("-no-reboot");
        let stderr = File::create(cfg.run_dir.join("qemu.stderr"))?;
        c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr).spawn().context("starting qemu-system-x86_64")
    }

    fn connect(&mut self) -> Result<Control> {
        let socket = self.cfg.run_dir.join("control.sock");
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait()? {
                let err = std::fs::read_to_string(self.cfg.run_dir.join("qemu.stderr")).unwrap_or_default();
                bail!("qemu exited at start ({status}): {err}");
            }
            match UnixStream::connect(&socket) {
                Ok(s) => return Control::start(s, &self.cfg.control_log),
                Err(_) if Instant::now() < until => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => bail!("connecting to {}: {e}", socket.display()),
            }
        }
    }

    /// Waits for the next boot's control shell; returns the slot it booted
    /// (`fotad.slot=` of its kernel command line). A guest that rebooted
    /// (QEMU exited with success, see [`Vm::start`]) is started again.
    pub fn wait_boot(&mut self, timeout: Duration) -> Result<String> {
        let until = Instant::now() + timeout;
        loop {
            let n = self.boots_seen;
            let slice = until.saturating_duration_since(Instant::now()).min(Duration::from_secs(1));
            if let Ok(line) = self.control.wait_for(slice, |text| nth_ready(text, n)) {
                self.boots_seen += 1;
                return slot_of(&line).with_context(|| format!("no fotad.slot= in the booted command line {line:?}"));
            }
            if let Some(status) = self.child.try_wait()? {
                ensure!(status.success(), "qemu exited with {status}; console tail:\n{}", self.console_tail());
                self.child = Self::spawn(&self.cfg)?;
                self.control = self.connect()?;
                self.boots_seen = 0;
                continue;
            }
            if Instant::now() >= until {
                bail!(
                    "waiting {timeout:?} for the next boot of the VM ({}), console tail:\n{}",
                    self.elapsed(),
                    self.console_tail()
                );
            }
        }
    }

    /// Runs `script` in the guest's root shell; fails unless it exits 0 in time.
    pub fn sh(&self, script: &str, timeout: Duration) -> Result<String> {
        let (code, out) = self.sh_status(script, timeout)?;
        ensure!(code == 0, "in the guest, `{script}` exited with {code}:\n{out}");
        Ok(out)
    }

    /// Runs `script` in the guest's root shell: (exit code, stdout+stderr).
    pub fn sh_status(&self, script: &str, timeout: Duration) -> Result<(i32, String)> {
        self.control
            .run(script, timeout)
            .with_context(|| format!("running `{script}` in the guest ({})", self.elapsed()))
    }

    /// Polls `script` until it prints something `done` accepts; returns that output.
    pub fn sh_until(&self, script: &str, timeout: Duration, done: impl Fn(&str) -> bool) -> Result<String> {
        let until = Instant::now() + timeout;
        loop {
            let out = self.sh_status(script, Duration::from_secs(30))?.1;
            if done(&out) {
                return Ok(out);
            }
            if Instant::now() > until {
                bail!("`{script}` did not reach the expected output within {timeout:?}; last:\n{out}");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Sends `script` without waiting for it (e.g. a reboot).
    pub fn send(&self, script: &str) -> Result<()> {
        self.control.send(&format!("{script} </dev/null >/dev/null 2>&1 &\n"))
    }

    /// Powers the guest off cleanly and waits for QEMU to exit.
    pub fn poweroff(mut self, timeout: Duration) -> Result<()> {
        self.send("systemctl poweroff")?;
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait()? {
                ensure!(status.success(), "qemu exited with {status}");
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("the guest did not power off within {timeout:?}; console tail:\n{}", self.console_tail())
    }

    /// Waits for QEMU to exit on its own (the guest powered off).
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<()> {
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("qemu did not exit within {timeout:?}")
    }

    /// Cuts the power: SIGKILL of QEMU. What the guest had not written to the
    /// disk is lost (QEMU's raw writes are in the host's page cache already).
    pub fn kill(mut self) -> Result<()> {
        self.child.kill().context("killing qemu")?;
        self.child.wait()?;
        Ok(())
    }

    /// Everything the serial console printed (this VM and earlier ones on the same log).
    pub fn console(&self) -> String {
        read_lossy(&self.console_log)
    }

    fn console_tail(&self) -> String {
        let text = self.console();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    fn elapsed(&self) -> String {
        format!("{:.0} s since QEMU started", self.started.elapsed().as_secs_f64())
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The slots the kernels on this console log booted, in order (from the
/// `Command line:` line each kernel prints).
pub fn booted_slots(console: &str) -> Vec<String> {
    boots(console).into_iter().map(|(slot, _)| slot).collect()
}

/// The console log split per boot: (slot, what was printed from that kernel's
/// `Command line:` on), without terminal escape sequences.
pub fn boots(console: &str) -> Vec<(String, String)> {
    let text = plain(console);
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.contains("Command line:") {
            if let Some(slot) = slot_of(line) {
                out.push((slot, String::new()));
            }
        }
        if let Some((_, seg)) = out.last_mut() {
            seg.push_str(line);
            seg.push('\n');
        }
    }
    out
}

/// `text` without ANSI escape sequences (`ESC [ ... letter`, `ESC letter`).
pub fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.next_if_eq(&'[').is_some() {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            chars.next();
        }
    }
    out
}

fn slot_of(cmdline: &str) -> Option<String> {
    cmdline.split_whitespace().find_map(|w| w.strip_prefix("fotad.slot=")).map(str::to_string)
}

/// The `n`th (0-based) ready banner's line, once complete.
fn nth_ready(text: &str, n: usize) -> Option<String> {
    let mut rest = text;
    for _ in 0..n {
        let at = rest.find(READY)?;
        rest = &rest[at + READY.len()..];
    }
    let at = rest.find(READY)?;
    let line = &rest[at + READY.len()..];
    let end = line.find('\n')?;
    Some(line[..end].trim_end().to_string())
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
}

fn which(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// The control channel: everything the guest sent (kept, and copied to a
/// transcript file), and a writer for commands.
#[derive(Debug, Clone)]
struct Control {
    stream: Option<Arc<Mutex<UnixStream>>>,
    received: Arc<(Mutex<String>, Condvar)>,
    transcript: Option<Arc<Mutex<File>>>,
}

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

impl Control {
    fn dead() -> Control {
        Control { stream: None, received: Arc::default(), transcript: None }
    }

    fn start(stream: UnixStream, transcript: &Path) -> Result<Control> {
        let transcript = Arc::new(Mutex::new(OpenOptions::new().create(true).append(true).open(transcript)?));
        let received: Arc<(Mutex<String>, Condvar)> = Arc::default();
        let (mut reader, rx, tx) = (stream.try_clone()?, Arc::clone(&received), Arc::clone(&transcript));
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf[..n]);
                let _ = tx.lock().map(|mut f| f.write_all(text.as_bytes()));
                let (lock, cv) = &*rx;
                if let Ok(mut s) = lock.lock() {
                    s.push_str(&text);
                }
                cv.notify_all();
            }
        });
        Ok(Control { stream: Some(Arc::new(Mutex::new(stream))), received, transcript: Some(transcript) })
    }

    fn send(&self, text: &str) -> Result<()> {
        let stream = self.stream.as_ref().context("no control channel")?;
        if let Some(t) = &self.transcript {
            let _ = t.lock().map(|mut f| write!(f, "\n>>> {text}"));
        }
        let mut s = stream.lock().map_err(|_| anyhow::anyhow!("control channel lock poisoned"))?;
        s.write_all(text.as_bytes()).context("writing to the control channel")
    }

    /// Waits until `found` returns something for the text received so far.
    fn wait_for<T>(&self, timeout: Duration, found: impl Fn(&str) -> Option<T>) -> Result<T> {
        let until = Instant::now() + timeout;
        let (lock, cv) = &*self.received;
        let mut text = lock.lock().map_err(|_| anyhow::anyhow!("control channel lock poisoned"))?;
        loop {
            if let Some(t) = found(&text) {
                return Ok(t);
            }
            let left = until.saturating_duration_since(Instant::now());
            ensure!(!left.is_zero(), "timed out after {timeout:?}");
            text = cv.wait_timeout(text, left).map_err(|_| anyhow::anyhow!("control channel lock poisoned"))?.0;
        }
    }

    fn len(&self) -> usize {
        self.received.0.lock().map(|s| s.len()).unwrap_or(0)
    }

    fn run(&self, script: &str, timeout: Duration) -> Result<(i32, String)> {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let start = self.len();
        let marker = format!("@@FOTAD-RC-{id}@@ ");
        self.send(&format!("{{ {script}\n}} </dev/null 2>&1; fotad_rc=$?; echo; echo \"{marker}$fotad_rc\"\n"))?;
        self.wait_for(timeout, |text| {
            let mine = text.get(start..)?;
            let at = mine.find(&marker)?;
            let end = mine[at..].find('\n')? + at;
            let code = mine[at + marker.len()..end].trim().parse().ok()?;
            let out = mine[..at].strip_suffix('\n').unwrap_or(&mine[..at]);
            Some((code, out.to_string()))
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_control_shell_runs_commands_and_reports_their_exit_codes() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let theirs = std::os::fd::OwnedFd::from(theirs);
        let mut bash = Command::new("bash")
            .args(["--noprofile", "--norc"])
            .stdin(Stdio::from(theirs.try_clone().unwrap()))
            .stdout(Stdio::from(theirs))
            .spawn()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let control = Control::start(ours, &dir.path().join("transcript")).unwrap();
        let t = Duration::from_secs(20);
        assert_eq!(control.run("echo hi", t).unwrap(), (0, "hi\n".to_string()));
        assert_eq!(control.run("printf 'a\\nb' >&2; false", t).unwrap(), (1, "a\nb".to_string()));
        assert_eq!(control.run("f() { return 3; }; f", t).unwrap().0, 3);
        assert!(control.run("sleep 5", Duration::from_millis(300)).is_err(), "no timeout");
        let _ = bash.kill();
        let _ = bash.wait();
    }

    #[test]
    fn finds_banners_and_booted_slots() {
        let text = "junk\nFOTAD-TEST-READY BOOT_IMAGE=x fotad.slot=A ro\nmore\nFOTAD-TEST-READY fotad.slot=B\n";
        assert_eq!(nth_ready(text, 0).as_deref(), Some("BOOT_IMAGE=x fotad.slot=A ro"));
        assert_eq!(nth_ready(text, 1).as_deref(), Some("fotad.slot=B"));
        assert_eq!(nth_ready(text, 2), None);
        assert_eq!(nth_ready("FOTAD-TEST-READY fotad.slot=A", 0), None, "an incomplete line is not a banner");
        let console = "[    0.000000] Command line: (hd0,2)/boot/vmlinuz fotad.slot=A ro\n\
                       [    0.000000] Command line: (hd0,3)/boot/vmlinuz fotad.slot=B ro\n";
        assert_eq!(booted_slots(console), ["A", "B"]);
        let colored =
            "Command line: fotad.slot=B\n[\u{1b}[0;32m  OK  \u{1b}[0m] Finished \u{1b}[0;1;39mx.service\u{1b}[0m.\n";
        assert_eq!(
            boots(colored),
            [("B".to_string(), "Command line: fotad.slot=B\n[  OK  ] Finished x.service.\n".to_string())]
        );
    }
}
