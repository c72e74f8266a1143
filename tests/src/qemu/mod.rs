//! The QEMU harness: a real firmware (OVMF), bootloader (GRUB with the shipped
//! A/B script), kernel and systemd run fotad on a virtual disk whose slots it
//! updates and rolls back, against `fotad-testserver` and nginx on the host.
//!
//! - [`image`]: the disk image and packages (`tests/qemu/build-image`), cached;
//! - [`vm`]: one `qemu-system-x86_64` with its serial console log and a control shell;
//! - [`disk`]: the disk read back after the VM stopped (partitions, `grubenv`);
//! - [`Scenario`]: a fresh copy of the disk with its own DM server and nginx,
//!   logs under `target/qemu-logs/<name>.*`.

pub mod disk;
pub mod image;
pub mod vm;

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use crate::agent_rig::{fumo_reports, order_download_and_update};
use crate::nginx::Nginx;
use crate::testserver::TestServer;
use disk::Disk;
use image::{logs_dir, server_config, TestImage, DM_PORT, WWW_PORT};
use vm::{Vm, VmConfig, HOST_IN_GUEST};

/// One test scenario: its own copy of the pristine disk, DM server and nginx.
#[derive(Debug)]
pub struct Scenario {
    pub name: String,
    pub image: &'static TestImage,
    pub disk: Disk,
    pub server: TestServer,
    pub nginx: Nginx,
    dir: PathBuf,
    started: Instant,
}

impl Scenario {
    /// Sets up scenario `name`; nginx sends at most `rate` bytes/s when given.
    pub fn new(name: &str, rate: Option<u64>) -> Result<Scenario> {
        let image = TestImage::get()?;
        let started = Instant::now();
        let logs = logs_dir()?;
        let dir = logs.parent().context("no target directory")?.join("qemu/run").join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        for ext in ["console.log", "control.log"] {
            let _ = std::fs::remove_file(logs.join(format!("{name}.{ext}")));
        }
        let disk_path = dir.join("disk.img");
        let out = Command::new("cp").arg("--sparse=always").arg(image.disk()).arg(&disk_path).output()?;
        ensure!(out.status.success(), "copying the disk: {}", String::from_utf8_lossy(&out.stderr));
        let disk = Disk::open(&disk_path, &image.layout())?;
        let server = TestServer::start(server_config(), 0, None).context("starting fotad-testserver")?;
        let nginx = Nginx::start_limited(&image.www(), None, rate).map_err(anyhow::Error::msg)?;
        Ok(Scenario { name: name.to_string(), image, disk, server, nginx, dir, started })
    }

    /// Starts the VM on this scenario's disk (again after a power cut).
    pub fn boot(&self) -> Result<Vm> {
        let logs = logs_dir()?;
        let url = self.server.url();
        let server_port = url.rsplit(':').next().and_then(|p| p.split('/').next()).unwrap_or("");
        let server_port: u16 = server_port.parse().context("the test server's port")?;
        Vm::start(&VmConfig {
            disk: self.disk.path.clone(),
            console_log: logs.join(format!("{}.console.log", self.name)),
            control_log: logs.join(format!("{}.control.log", self.name)),
            run_dir: self.dir.join("vm"),
            forwards: vec![(WWW_PORT, self.nginx.addr().port()), (DM_PORT, server_port)],
            memory_mib: 512,
            open_network: false,
        })
    }

    /// The server will set PkgURL to `package` on nginx (as the guest reaches
    /// it) and Exec DownloadAndUpdate with `correlator`.
    pub fn order(&self, package: &str, correlator: &str) {
        order_download_and_update(&self.server, &format!("http://{HOST_IN_GUEST}:{WWW_PORT}/{package}"), correlator);
    }

    /// The 1226 alerts the server received: (correlator, result, alert type).
    pub fn reports(&self) -> Vec<(String, String, String)> {
        fumo_reports(&self.server)
    }

    /// Waits until the server has received `n` 1226 alerts.
    pub fn wait_reports(&self, n: usize, timeout: Duration) -> Result<Vec<(String, String, String)>> {
        let until = Instant::now() + timeout;
        loop {
            let r = self.reports();
            if r.len() >= n {
                return Ok(r);
            }
            if Instant::now() > until {
                bail!("the server received {} FUMO reports within {timeout:?}, expected {n}: {r:?}", r.len());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The requests nginx logged: (request line, status, body bytes sent, the
    /// first byte asked for by a `Range` header).
    pub fn package_requests(&self) -> Vec<(String, u16, u64, Option<u64>)> {
        self.nginx
            .access_log()
            .lines()
            .filter_map(|l| {
                let fields: Vec<&str> = l.split('"').collect();
                let request = fields.get(1)?.to_string();
                let mut after = fields.get(2)?.split_whitespace();
                let status = after.next()?.parse().ok()?;
                let bytes = after.next()?.parse().ok()?;
                let from = fields
                    .get(3)
                    .and_then(|r| r.strip_prefix("bytes="))
                    .and_then(|r| r.split('-').next())
                    .and_then(|n| n.parse().ok());
                Some((request, status, bytes, from))
            })
            .collect()
    }

    /// Everything the serial console printed in this scenario (all VMs).
    pub fn console(&self) -> Result<String> {
        let path = logs_dir()?.join(format!("{}.console.log", self.name));
        Ok(String::from_utf8_lossy(&std::fs::read(path)?).into_owned())
    }

    /// A scratch directory of this scenario.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Records how long the scenario took in `target/qemu-logs/times.txt`.
    pub fn finish(self) -> Result<Duration> {
        let took = self.started.elapsed();
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(logs_dir()?.join("times.txt"))?;
        writeln!(f, "{:<28} {:>6.1} s ({:?})", self.name, took.as_secs_f64(), vm::Accel::detect())?;
        let _ = std::fs::remove_file(&self.disk.path);
        Ok(took)
    }
}
