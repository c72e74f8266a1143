//! A private system-bus-like `dbus-daemon` with fotad's bus policy, and
//! `gdbus` calls to the agent on it, for tests that run the `fotad` daemon as
//! a process (the tests run as root, which the policy lets do everything).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use anyhow::{ensure, Context, Result};

/// The running bus; stopped on drop.
#[derive(Debug)]
pub struct Bus {
    pub address: String,
    _dir: tempfile::TempDir,
    child: Child,
}

impl Bus {
    /// Starts `dbus-daemon` with the policy file of this repository.
    pub fn start() -> Result<Bus> {
        let dir = tempfile::tempdir()?;
        let socket = dir.path().join("bus");
        let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dbus/org.fotad.Agent1.conf");
        let conf = format!(
            "<busconfig><type>system</type><listen>unix:path={}</listen><auth>EXTERNAL</auth>\
             <policy context=\"default\"><allow user=\"*\"/><deny own=\"*\"/><deny send_type=\"method_call\"/>\
             <allow send_type=\"signal\"/>\
             <allow send_requested_reply=\"true\" send_type=\"method_return\"/>\
             <allow send_requested_reply=\"true\" send_type=\"error\"/>\
             <allow receive_type=\"method_call\"/><allow receive_type=\"method_return\"/>\
             <allow receive_type=\"error\"/><allow receive_type=\"signal\"/>\
             <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus\"/>\
             </policy><include>{}</include></busconfig>",
            socket.display(),
            policy.display()
        );
        let conf_path = dir.path().join("bus.conf");
        std::fs::write(&conf_path, conf)?;
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", conf_path.display()))
            .args(["--nofork", "--print-address"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting dbus-daemon (apt-get install dbus; scripts/test does this)")?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("no stdout")?).read_line(&mut line)?;
        ensure!(line.starts_with("unix:"), "dbus-daemon did not start: {line:?}");
        Ok(Bus { address: format!("unix:path={}", socket.display()), _dir: dir, child })
    }

    /// `gdbus call` of `org.fotad.Agent1.<method>` (or a full `iface.Method`)
    /// with GVariant text arguments.
    pub fn call(&self, method: &str, args: &[&str]) -> Result<Output> {
        let full = if method.contains('.') { method.to_string() } else { format!("org.fotad.Agent1.{method}") };
        Command::new("gdbus")
            .args(["call", "--address", &self.address, "--dest", "org.fotad.Agent1"])
            .args(["--object-path", "/org/fotad/Agent1", "--method", &full])
            .args(args)
            .output()
            .context("running gdbus (apt-get install libglib2.0-bin; scripts/test does this)")
    }

    /// A property of the agent as gdbus prints it, e.g. `(<'idle'>,)`;
    /// `None` while the agent is not on the bus.
    pub fn property(&self, name: &str) -> Option<String> {
        let out = self.call("org.freedesktop.DBus.Properties.Get", &["org.fotad.Agent1", name]).ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
