//! `fotad-qemu`: the QEMU test harness by hand (see docs/testing-in-qemu.md).
//! `build` makes (or reuses) the test image with this workspace's binaries and
//! a device configuration; `boot` runs a VM on a disk with its console on the
//! terminal; `config` prints the test device's configuration.

use std::path::PathBuf;

use anyhow::{bail, Context};
use fotad_tests::agent_rig::bin_dir;
use fotad_tests::qemu::image::{device_config, TestImage};
use fotad_tests::qemu::vm::{command, VmConfig};

const USAGE: &str = "usage:
  fotad-qemu build [--config FILE] [OUT_DIR]
      build (or reuse) the test image in OUT_DIR (default target/qemu/image) with the
      fotad binaries next to this program and FILE as /etc/fotad/fotad.toml (default:
      the tests' device, `fotad-qemu config`). FOTAD_QEMU_KERNEL, FOTAD_QEMU_INITRD,
      FOTAD_QEMU_BASE and FOTAD_QEMU_MIRROR are passed to tests/qemu/build-image.
  fotad-qemu boot DISK [--open-net] [--forward GUEST_PORT=HOST_PORT]...
      boot DISK (it is written: boot a copy) with the serial console here (Ctrl-A x
      quits QEMU, Ctrl-A c its monitor); the guest reaches 127.0.0.1:HOST_PORT of this
      machine at 10.0.2.100:GUEST_PORT, and with --open-net any address. The test
      image's root shell: socat - UNIX-CONNECT:DISK.vm/control.sock
  fotad-qemu config
      print the tests' device configuration (a start for your own)";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("build") => build(&args[1..]),
        Some("boot") => boot(&args[1..]),
        Some("config") => {
            print!("{}", device_config());
            Ok(())
        }
        _ => bail!("{USAGE}"),
    }
}

fn build(args: &[String]) -> anyhow::Result<()> {
    let bins = bin_dir()?;
    let target = bins.parent().context("the binaries are not in target/<profile>")?.to_path_buf();
    let (mut config, mut out) = (None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--config" => config = Some(PathBuf::from(it.next().context("--config needs a file")?)),
            s if !s.starts_with('-') && out.is_none() => out = Some(PathBuf::from(s)),
            other => bail!("unexpected {other:?}\n{USAGE}"),
        }
    }
    let config = match config {
        Some(c) => c,
        None => {
            let c = target.join("qemu/fotad.toml");
            std::fs::create_dir_all(target.join("qemu"))?;
            std::fs::write(&c, device_config())?;
            c
        }
    };
    let out = out.unwrap_or_else(|| target.join("qemu/image"));
    let log = out.with_extension("log");
    let image = TestImage::build(&out, &bins, &config, &log)?;
    println!("{} (log: {})", image.disk().display(), log.display());
    Ok(())
}

fn boot(args: &[String]) -> anyhow::Result<()> {
    let mut disk = None;
    let (mut forwards, mut open_network) = (Vec::new(), false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--open-net" => open_network = true,
            "--forward" => {
                let f = it.next().context("--forward needs GUEST_PORT=HOST_PORT")?;
                let (g, h) = f.split_once('=').context("--forward needs GUEST_PORT=HOST_PORT")?;
                forwards.push((g.parse()?, h.parse()?));
            }
            s if !s.starts_with('-') && disk.is_none() => disk = Some(PathBuf::from(s)),
            other => bail!("unexpected {other:?}\n{USAGE}"),
        }
    }
    let disk = disk.context(USAGE)?;
    let run_dir = disk.with_extension("vm");
    let cfg = VmConfig {
        disk: disk.clone(),
        console_log: run_dir.join("console.log"),
        control_log: run_dir.join("control.log"),
        run_dir: run_dir.clone(),
        forwards,
        memory_mib: 512,
        open_network,
    };
    println!(
        "booting {}; control shell: socat - UNIX-CONNECT:{}",
        disk.display(),
        run_dir.join("control.sock").display()
    );
    let status = command(&cfg, None)?.status().context("running qemu-system-x86_64")?;
    if !status.success() {
        bail!("qemu exited with {status}");
    }
    Ok(())
}
