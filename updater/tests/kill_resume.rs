//! kill -9 of `fotad-update install` at 20 random points, each followed by a
//! resume, always ends with the exact target bytes. Resumes alternate between
//! re-running the command on the file (it seeks to the checkpoint) and
//! piping the package from the checkpoint offset into `install - --offset N`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::{image, noise, Device};
use fotad_updater::delta::ImageInput;

const TOOL: &str = env!("CARGO_BIN_EXE_fotad-update");

fn install_cmd(dev: &Device, target: &Path, pkg: &str) -> Command {
    let mut cmd = Command::new(TOOL);
    cmd.args(["install", pkg, "--compatible", "acme,gw-1", "--installed-security-version", "0", "--keys"])
        .arg(dev.path("keys"))
        .arg("--state-dir")
        .arg(dev.path("state"))
        .arg(format!("--target=rootfs={}", target.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

fn checkpoint(dev: &Device) -> Option<fotad_updater::install::Checkpoint> {
    dev.installer(&[]).checkpoint().unwrap()
}

#[test]
fn kill_9_at_random_points_then_resume_gives_the_exact_image() {
    let dev = Device::new();
    let new = image(12 << 20, 31);
    let mut spec = dev.spec(vec![("rootfs", ImageInput::Full { target: dev.write("new.img", &new) })]);
    spec.op_size = 32 << 10;
    let pkg = dev.pack(&spec, "full.fota");
    let pkg_bytes = std::fs::read(&pkg).unwrap();
    let pkg_arg = pkg.to_str().unwrap().to_string();
    let target = dev.path("slot-b.img");

    // Calibrate: how long an uninterrupted install takes here.
    let started = Instant::now();
    assert!(install_cmd(&dev, &target, &pkg_arg).status().unwrap().success());
    let full_run = started.elapsed();
    assert_eq!(std::fs::read(&target).unwrap(), new);

    let delays = noise(20, 77);
    let mut interrupted_mid_way = 0;
    for (round, d) in delays.iter().enumerate() {
        std::fs::write(&target, noise(new.len(), round as u64)).unwrap();
        std::fs::remove_dir_all(dev.path("state")).unwrap();
        let delay = full_run.mul_f64(0.05 + 0.9 * f64::from(*d) / 255.0);
        let mut child = install_cmd(&dev, &target, &pkg_arg).spawn().unwrap();
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL
        let killed = child.wait().unwrap();
        let cp = checkpoint(&dev);
        if let Some(cp) = &cp {
            assert!(cp.next_offset <= pkg_bytes.len() as u64);
            if !killed.success() {
                interrupted_mid_way += 1;
            }
        }
        let resumed = match (&cp, round % 2) {
            (Some(cp), 1) => resume_from_stdin(&dev, &target, &pkg_bytes, cp.next_offset),
            _ => install_cmd(&dev, &target, &pkg_arg).output().unwrap(),
        };
        let stderr = String::from_utf8_lossy(&resumed.stderr);
        assert!(resumed.status.success(), "round {round}: resume failed: {stderr}");
        if cp.is_some() && round % 2 == 0 {
            assert!(stderr.contains("resuming"), "round {round}: did not resume: {stderr}");
        }
        assert!(std::fs::read(&target).unwrap() == new, "round {round}: target differs after resume");
        assert!(checkpoint(&dev).is_none(), "round {round}: checkpoint left after completion");
    }
    assert!(
        interrupted_mid_way >= 10,
        "only {interrupted_mid_way} of 20 kills hit a running install (calibration {full_run:?})"
    );
}

fn resume_from_stdin(dev: &Device, target: &Path, pkg: &[u8], offset: u64) -> std::process::Output {
    let mut cmd = install_cmd(dev, target, "-");
    cmd.arg("--offset").arg(offset.to_string()).stdin(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let tail = pkg[offset as usize..].to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&tail);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}
