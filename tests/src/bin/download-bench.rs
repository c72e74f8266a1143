//! `fotad-download-bench`: the download benchmark behind `scripts/bench-download`.
//! Starts the real nginx over ROOT and, in the same run, measures:
//! - `curl -s URL | zstd -d | dd conv=fsync` of ZST (the baseline),
//! - the download agent streaming PACKAGE into a file slot (install + verify),
//!   the two taking turns REPS times (default 3; the best of each is reported,
//!   every run is listed),
//! - the same with CUTS connection resets (fault proxy), bytes read in total.
//!
//!   fotad-download-bench ROOT PACKAGE ZST KEYS_DIR WORK COMPATIBLE CUTS [REPS]
//!
//! Prints `key value` lines.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use fotad::download::{DownloadJob, DownloadReport, DownloadSettings, Downloader};
use fotad_tests::faultproxy::{Fault, FaultProxy};
use fotad_tests::nginx::Nginx;
use fotad_updater::install::{ImageTarget, InstallOptions, Installer};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (args, reps) = match args.as_slice() {
        [rest @ .., reps] if rest.len() == 7 => (rest, reps.parse::<usize>().context("REPS")?),
        rest => (rest, 3),
    };
    let [root, package, zst, keys, work, compatible, cuts] = args else {
        bail!("usage: fotad-download-bench ROOT PACKAGE ZST KEYS_DIR WORK COMPATIBLE CUTS [REPS]");
    };
    let cuts: u64 = cuts.parse().context("CUTS")?;
    let work = Path::new(work);
    let nginx = Nginx::start(Path::new(root), None).map_err(|e| anyhow!(e))?;
    let size = std::fs::metadata(Path::new(root).join(package))?.len();

    let base = work.join("base.img");
    let pipeline = format!(
        "curl -sf {} | zstd -dq | dd of={} bs=1M conv=fsync status=none",
        nginx.url(&format!("/{zst}")),
        base.display()
    );
    let (mut baseline, mut fotad) = (Vec::new(), Vec::new());
    let mut fetched = 0;
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        let status = Command::new("bash").args(["-o", "pipefail", "-c", &pipeline]).status()?;
        ensure!(status.success(), "baseline pipeline failed: {pipeline}");
        baseline.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let report = download(&nginx.url(&format!("/{package}")), keys, work, compatible)?;
        fotad.push(t.elapsed().as_secs_f64());
        fetched = report.bytes_fetched;
    }
    let runs = |v: &[f64]| v.iter().map(|s| format!("{s:.2}")).collect::<Vec<_>>().join(",");
    let best = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    println!("baseline_secs {:.2}\nbaseline_runs {}", best(&baseline), runs(&baseline));
    println!("fotad_secs {:.2}\nfotad_runs {}", best(&fotad), runs(&fotad));
    println!("package_bytes {size}\nfotad_fetched {fetched}");

    let faults = (0..cuts).map(|_| Fault::ResetAfter(size / (cuts + 1))).collect();
    let proxy = FaultProxy::start(nginx.addr(), faults)?;
    let report = download(&proxy.url(&format!("/{package}")), keys, work, compatible)?;
    println!("cuts {cuts}\ncut_attempts {}\ncut_fetched {}", report.attempts, report.bytes_fetched);
    println!("cut_forwarded {}", proxy.bytes_forwarded());
    println!("peak_rss_mib {:.1}", peak_rss_kib()? as f64 / 1024.0);
    Ok(())
}

/// This process's peak resident set (`VmHWM`), in KiB: the agent's downloads
/// all ran in it (nginx and the baseline are other processes).
fn peak_rss_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).context("no VmHWM in /proc/self/status")?;
    line.trim().trim_end_matches("kB").trim().parse().context("VmHWM")
}

/// A fresh install of `url` into `WORK/target.img` with a new state directory.
fn download(url: &str, keys: &str, work: &Path, compatible: &str) -> Result<DownloadReport> {
    let state = work.join("dl-state");
    let target = work.join("target.img");
    for path in [&state, &target] {
        let _ = std::fs::remove_dir_all(path);
        let _ = std::fs::remove_file(path);
    }
    let installer = Installer::new(InstallOptions {
        keys_dir: PathBuf::from(keys),
        state_dir: state.clone(),
        compatible: compatible.to_string(),
        installed_security_version: 0,
        images: BTreeMap::from([("rootfs".into(), ImageTarget { target, source: None })]),
    });
    let settings = DownloadSettings { backoff_min: Duration::from_millis(10), ..DownloadSettings::default() };
    let job = DownloadJob { pkg_url: url, state_dir: &state, language: "en" };
    Ok(Downloader::new(settings)?.download(&job, &installer, &mut |_| {})?)
}
