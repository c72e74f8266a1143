//! A private pcscd for tests: its own reader configuration (a vpcd reader on a
//! free TCP port pair) and its own client socket (socket-activated by
//! `systemd-socket-activate`, found by libpcsclite through
//! `PCSCLITE_CSOCK_NAME`, one path per test process), so it never touches a
//! system pcscd. Killed on drop.
//! pcscd keeps a pid file in /run/pcscd: run one at a time.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// A running pcscd with one vpcd reader pair.
#[derive(Debug)]
pub struct Pcscd {
    child: Child,
    dir: tempfile::TempDir,
    /// vpcd's first reader listens here, the second on `port + 1`.
    pub port: u16,
    /// The client socket (also exported as `PCSCLITE_CSOCK_NAME`).
    pub socket: PathBuf,
}

/// The name pcscd gives the first vpcd reader.
pub const READER: &str = "Virtual PCD 00 00";
/// The second vpcd reader (port + 1).
pub const READER2: &str = "Virtual PCD 00 01";

fn tool(name: &str) -> anyhow::Result<PathBuf> {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return Ok(p);
        }
    }
    bail!("{name} is missing: install the Debian packages pcscd, vsmartcard-vpcd and systemd (scripts/test does)")
}

fn free_port_pair() -> anyhow::Result<u16> {
    for _ in 0..50 {
        let a = TcpListener::bind(("127.0.0.1", 0))?;
        let port = a.local_addr()?.port();
        if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free pair of TCP ports for vpcd")
}

impl Pcscd {
    /// Starts pcscd (`--foreground --debug --apdu`, log in its directory).
    pub fn start() -> anyhow::Result<Pcscd> {
        let pcscd = tool("pcscd")?;
        let activate = tool("systemd-socket-activate")?;
        let driver = Path::new("/usr/lib/pcsc/drivers/serial/libifdvpcd.so");
        if !driver.exists() {
            bail!("{} is missing: install vsmartcard-vpcd", driver.display());
        }
        let dir = tempfile::tempdir()?;
        let port = free_port_pair()?;
        let conf = dir.path().join("reader.conf.d");
        fs::create_dir(&conf)?;
        let entry = format!(
            "FRIENDLYNAME \"Virtual PCD\"\nDEVICENAME /dev/null:0x{port:04X}\nLIBPATH {}\nCHANNELID 0x{port:04X}\n",
            driver.display()
        );
        fs::write(conf.join("vpcd"), entry)?;
        // libpcsclite reads PCSCLITE_CSOCK_NAME once per process: one path
        // per process, reused by every daemon this process starts.
        let sock_dir = std::env::temp_dir().join(format!("fotad-pcscd-{}", std::process::id()));
        fs::create_dir_all(&sock_dir)?;
        let socket = sock_dir.join("pcscd.comm");
        let _ = fs::remove_file(&socket);
        let log = fs::File::create(dir.path().join("pcscd.log"))?;
        let child = Command::new(activate)
            .arg("-l")
            .arg(&socket)
            .arg(pcscd)
            .args(["--foreground", "--debug", "--apdu", "-c"])
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting systemd-socket-activate pcscd")?;
        std::env::set_var("PCSCLITE_CSOCK_NAME", &socket);
        let rig = Pcscd { child, dir, port, socket };
        rig.wait_for_socket()?;
        Ok(rig)
    }

    fn wait_for_socket(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.socket.exists() {
            if Instant::now() > deadline {
                bail!("pcscd socket {} did not appear; log:\n{}", self.socket.display(), self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// pcscd's log so far (APDUs included).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("pcscd.log")).unwrap_or_default()
    }

    /// Removes the socket and its per-process directory (when empty).
    fn remove_socket(&self) {
        let _ = fs::remove_file(&self.socket);
        if let Some(dir) = self.socket.parent() {
            let _ = fs::remove_dir(dir);
        }
    }

    /// A directory that lives as long as the daemon (for state files).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Pcscd {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                self.remove_socket();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.remove_socket();
    }
}
