//! The test image: built by `tests/qemu/build-image` from Debian's packages,
//! this workspace's binaries and the device configuration below, cached under
//! `target/qemu/image` (rebuilt when any input changes). `FOTAD_QEMU_IMAGE_DIR`
//! names a directory laid out the same way to use instead (see
//! `docs/testing-in-qemu.md`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use fotad::dm::auth::Scheme;
use fotad::dm::syncml::Codec;

use super::vm::HOST_IN_GUEST;
use crate::agent_rig::bin_dir;
use crate::testserver::harness::device_toml;
use crate::testserver::ServerConfig;

/// The guest port of the DM server (`fotad-testserver` on the host).
pub const DM_PORT: u16 = 8080;
/// The guest port of the package server (nginx on the host).
pub const WWW_PORT: u16 = 80;
/// The model string of the test device and its packages.
pub const COMPATIBLE: &str = "fotad,qemu-x86_64";

/// The DM server the image's account is made for.
pub fn server_config() -> ServerConfig {
    ServerConfig { server_auth: Some(Scheme::Md5), ..ServerConfig::default() }
}

/// `/etc/fotad/fotad.toml` of the test device: GPT slots on the virtio disk,
/// GRUB's environment block on the ESP, the DM account of [`server_config`]
/// at `http://10.0.2.100:8080/dm`, updates applied after the user's consent.
pub fn device_config() -> String {
    let url = format!("http://{HOST_IN_GUEST}:{DM_PORT}/dm");
    let dm = device_toml(Path::new("/var/lib/fotad"), &url, &server_config(), Codec::Xml, 16 * 1024, None);
    format!(
        "[updater]\ncompatible = {COMPATIBLE:?}\ntries = 2\n\n\
         [bootloader]\nbackend = \"grub\"\ngrubenv = \"/boot/efi/EFI/BOOT/grubenv\"\n\n\
         [slots]\ngpt_disk = \"/dev/vda\"\n\n{dm}\n\
         [fumo]\nfactory_version = \"1.0\"\n\n\
         [download]\nbackoff_min_ms = 500\nbackoff_max_secs = 2\ndeadline_secs = 600\n\n\
         [sim]\nenabled = false\n\n\
         [ui]\nconsent = \"ask\"\nprompt_timeout_secs = 900\n"
    )
}

/// A built image directory: `disk.img`, `layout`, `slots/images/*.ext4`,
/// `slots/www/*.fota`, `slots/keys/`.
#[derive(Debug, Clone)]
pub struct TestImage {
    pub dir: PathBuf,
    /// How long getting it took in this process (0 when cached).
    pub build_time: Duration,
}

impl TestImage {
    /// The image for this process: `FOTAD_QEMU_IMAGE_DIR`, else built (or
    /// found cached) once under `target/qemu/image`.
    pub fn get() -> Result<&'static TestImage> {
        static IMAGE: OnceLock<Result<TestImage, String>> = OnceLock::new();
        IMAGE
            .get_or_init(|| {
                let r = match std::env::var_os("FOTAD_QEMU_IMAGE_DIR") {
                    Some(dir) => Ok(TestImage { dir: dir.into(), build_time: Duration::ZERO }),
                    None => Self::build_default(),
                };
                r.map_err(|e| format!("{e:#}"))
            })
            .as_ref()
            .map_err(|e| anyhow::anyhow!("the QEMU test image: {e}"))
    }

    fn build_default() -> Result<TestImage> {
        let bins = bin_dir()?;
        let target = bins.parent().context("the binaries are not in target/<profile>")?;
        let qemu = target.join("qemu");
        std::fs::create_dir_all(&qemu)?;
        let config = qemu.join("fotad.toml");
        std::fs::write(&config, device_config())?;
        let log = logs_dir()?.join("build-image.log");
        let image = Self::build(&qemu.join("image"), &bins, &config, &log)?;
        let mut times = std::fs::OpenOptions::new().create(true).append(true).open(logs_dir()?.join("times.txt"))?;
        let last = std::fs::read_to_string(&log).unwrap_or_default().lines().last().unwrap_or_default().to_string();
        writeln!(times, "{:<28} {:>6.1} s ({last})", "image", image.build_time.as_secs_f64())?;
        Ok(image)
    }

    /// Runs `tests/qemu/build-image OUT` with these binaries and device
    /// configuration; its output goes to `log`.
    pub fn build(out: &Path, bins: &Path, config: &Path, log: &Path) -> Result<TestImage> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("qemu/build-image");
        let started = Instant::now();
        let status = Command::new(&script)
            .arg(out)
            .env("FOTAD_BINS", bins)
            .env("FOTAD_QEMU_CONFIG", config)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(log)?)
            .stderr(std::fs::File::options().append(true).open(log)?)
            .status()
            .with_context(|| format!("running {}", script.display()))?;
        let text = std::fs::read_to_string(log).unwrap_or_default();
        ensure!(status.success(), "{} failed ({status}); its log {}:\n{text}", script.display(), log.display());
        Ok(TestImage { dir: out.to_path_buf(), build_time: started.elapsed() })
    }

    pub fn disk(&self) -> PathBuf {
        self.dir.join("disk.img")
    }

    pub fn layout(&self) -> PathBuf {
        self.dir.join("layout")
    }

    /// A root file system image: `v1`, `v2`, `broken`, `unhealthy`.
    pub fn image(&self, name: &str) -> PathBuf {
        self.dir.join("slots/images").join(format!("{name}.ext4"))
    }

    /// The packages' directory (served by nginx).
    pub fn www(&self) -> PathBuf {
        self.dir.join("slots/www")
    }
}

/// `target/qemu-logs/`: serial consoles, control channel transcripts, times.
pub fn logs_dir() -> Result<PathBuf> {
    let bins = bin_dir()?;
    let dir = bins.parent().context("the binaries are not in target/<profile>")?.join("qemu-logs");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
