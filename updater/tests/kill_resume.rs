//! kill -9 of `fotad-update install` at 20 random points, each followed by a
//! resume, always ends with the exact target bytes. The points are random
//! operations: the test reads the installer's `--progress` lines and kills it
//! once operation k is reported and a checkpoint is on disk (checkpoints are
//! written at most every 50 ms, so they may trail the progress a little),
//! so wherever the kill lands, it is during the install, whatever the
//! machine's load. Resumes alternate between re-running
//! the command on the file (it seeks to the checkpoint) and piping the package
//! from the checkpoint offset into `install - --offset N`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

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

    let ops = fotad_updater::package::read_header(&mut pkg_bytes.as_slice()).unwrap().manifest.operation_count();
    assert!(ops > 100, "{ops} operations");
    let points = noise(20, 77);
    let mut interrupted_mid_way = 0;
    for (round, p) in points.iter().enumerate() {
        std::fs::write(&target, noise(new.len(), round as u64)).unwrap();
        let _ = std::fs::remove_dir_all(dev.path("state"));
        let kill_after = 1 + (*p as usize * (ops - 3)) / 255;
        let mut child = install_cmd(&dev, &target, &pkg_arg).arg("--progress").spawn().unwrap();
        let progress = BufReader::new(child.stderr.take().unwrap());
        let seen =
            progress.lines().map_while(Result::ok).filter(|l| l.starts_with("progress")).take(kill_after).count();
        let started = std::time::Instant::now();
        while checkpoint(&dev).is_none() && child.try_wait().unwrap().is_none() {
            assert!(started.elapsed().as_secs() < 10, "round {round}: no checkpoint within 10 s");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        child.kill().unwrap(); // SIGKILL
        let killed = child.wait().unwrap();
        assert_eq!(seen, kill_after, "round {round}: the install ended before operation {kill_after}");
        let cp = checkpoint(&dev).expect("no checkpoint after a kill during the install");
        assert!(cp.next_op > 0 && cp.next_op <= ops && cp.next_offset <= pkg_bytes.len() as u64, "{cp:?}");
        if !killed.success() {
            interrupted_mid_way += 1;
        }
        let resumed = match round % 2 {
            1 => resume_from_stdin(&dev, &target, &pkg_bytes, cp.next_offset),
            _ => install_cmd(&dev, &target, &pkg_arg).output().unwrap(),
        };
        let stderr = String::from_utf8_lossy(&resumed.stderr);
        assert!(resumed.status.success(), "round {round}: resume failed: {stderr}");
        if round % 2 == 0 {
            assert!(stderr.contains("resuming"), "round {round}: did not resume: {stderr}");
        }
        assert!(std::fs::read(&target).unwrap() == new, "round {round}: target differs after resume");
        assert!(checkpoint(&dev).is_none(), "round {round}: checkpoint left after completion");
    }
    assert!(interrupted_mid_way >= 18, "only {interrupted_mid_way} of 20 kills hit a running install");
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

/// A package reader that fails like a cut connection after `left` bytes.
struct CutAfter<R> {
    inner: R,
    left: u64,
}

impl<R: std::io::Read> std::io::Read for CutAfter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Err(std::io::ErrorKind::ConnectionReset.into());
        }
        let want = buf.len().min(self.left as usize);
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// A power cut (simulated: the boot id changes) just after an install was
/// resumed by streaming the package from its start: the checkpoint left then
/// must name a synced point whose operation and package offset agree, so the
/// install continues from it and ends with the exact image.
#[test]
fn power_cut_after_a_resume_from_the_package_start_continues_from_a_consistent_point() {
    let dev = Device::new();
    let new = image(4 << 20, 41);
    let mut spec = dev.spec(vec![("rootfs", ImageInput::Full { target: dev.write("new.img", &new) })]);
    spec.op_size = 32 << 10;
    let pkg = dev.pack(&spec, "full.fota");
    let target = dev.path("slot-b.img");
    std::fs::write(&target, noise(new.len(), 9)).unwrap();
    let boot = dev.write("boot_id", b"boot-1\n");
    let mut installer = dev.installer(&[("rootfs", &target, None)]);
    installer.set_boot_id_path(&boot);
    let open = || BufReader::new(std::fs::File::open(&pkg).unwrap());

    // First run: cancelled after 20 operations, at a synced, durable checkpoint.
    let cancel = installer.cancel_flag();
    let stopped = installer.install(open(), 0, &mut |p| {
        if p.ops_done == 20 {
            cancel.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    });
    assert!(matches!(stopped, Err(fotad_updater::InstallError::Cancelled)), "{stopped:?}");
    cancel.store(false, std::sync::atomic::Ordering::SeqCst);
    let first = installer.checkpoint().unwrap().unwrap();
    assert_eq!((first.next_op, first.durable_op), (20, 20), "{first:?}");

    // Second run: from the package's start (the header again, the written
    // part skipped), cut a few operations on, before any sync.
    let cut = CutAfter { inner: open(), left: first.next_offset + 3 * (32 << 10) };
    let resumed = installer.install(cut, 0, &mut |_| {});
    assert!(matches!(resumed, Err(fotad_updater::InstallError::Stream { .. })), "{resumed:?}");

    // The power cut: another boot sees only the synced point.
    std::fs::write(&boot, "boot-2\n").unwrap();
    let cp = installer.checkpoint().unwrap().expect("a checkpoint after the cut");
    assert!(cp.next_op >= first.next_op, "the synced point went back: {cp:?}");
    let mut rest = std::fs::File::open(&pkg).unwrap();
    std::io::Seek::seek(&mut rest, std::io::SeekFrom::Start(cp.next_offset)).unwrap();
    let done = installer.install(BufReader::new(rest), cp.next_offset, &mut |_| {});
    assert!(done.is_ok(), "resuming from {cp:?}: {done:?}");
    assert!(std::fs::read(&target).unwrap() == new, "target differs after the power cut and resume");
}

/// Makes the pipe behind `stderr` hold about one page, so the installer
/// blocks on its progress lines until the test reads them: the test decides
/// how far it gets, while its syncer thread goes on syncing what was written.
fn small_pipe(stderr: &std::process::ChildStderr) {
    use std::os::fd::AsRawFd;
    nix::fcntl::fcntl(stderr.as_raw_fd(), nix::fcntl::FcntlArg::F_SETPIPE_SZ(4096)).unwrap();
}

/// kill -9 of an install of a prefix-compressed (format 2) package, then a
/// simulated reboot: the checkpoint was written in another boot, and every
/// byte written after its synced point is lost (the target there is noise,
/// as after a power cut). The resume must start at the synced operation,
/// read the prefix of that operation back from the target, and end with the
/// exact image.
#[test]
fn kill_9_of_a_prefixed_package_then_a_reboot_resumes_from_the_synced_point() {
    let dev = Device::new();
    // No zero bytes: no chunk becomes a `zero` operation (which has no prefix),
    // so wherever the synced point lands after the first operation, the
    // operation there reads its prefix back from the target.
    let new: Vec<u8> = image(12 << 20, 53).into_iter().map(|b| if b == 0 { 0x5a } else { b }).collect();
    let mut spec = dev.spec(vec![("rootfs", ImageInput::Full { target: dev.write("new.img", &new) })]);
    spec.op_size = 32 << 10;
    spec.settings.prefix = 160 << 10;
    let pkg = dev.pack(&spec, "prefixed.fota");
    let pkg_arg = pkg.to_str().unwrap().to_string();
    let header = fotad_updater::package::read_header(&mut std::fs::File::open(&pkg).unwrap()).unwrap();
    let ops = &header.manifest.images[0].operations;
    assert_eq!(header.manifest.format, 2, "a package with prefixes is format 2");
    let prefixed = ops.iter().filter(|op| op.prefix.is_some()).count();
    assert_eq!(prefixed, ops.len() - 1, "every operation after the first has a prefix");
    let target = dev.path("slot-b.img");
    let state = dev.path("state");

    for (round, p) in noise(4, 91).iter().enumerate() {
        std::fs::write(&target, noise(new.len(), 100 + round as u64)).unwrap();
        let _ = std::fs::remove_dir_all(&state);
        let kill_after = ops.len() / 4 + (*p as usize * ops.len() / 3) / 255;
        let mut child = install_cmd(&dev, &target, &pkg_arg).arg("--progress").spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        small_pipe(&stderr);
        // A small reader buffer too: the installer gets only a few lines ahead.
        let mut lines = BufReader::with_capacity(256, stderr).lines().map_while(Result::ok);
        let seen = lines.by_ref().filter(|l| l.starts_with("progress")).take(kill_after).count();
        assert_eq!(seen, kill_after, "round {round}: the install ended before operation {kill_after}");
        // The installer now waits on its progress pipe; its syncer syncs what
        // was written and records that point in the checkpoint.
        let file = state.join("install/checkpoint.json");
        let durable_op = |file: &Path| -> Option<u64> {
            let raw: serde_json::Value = serde_json::from_slice(&std::fs::read(file).ok()?).ok()?;
            raw["durable_op"].as_u64()
        };
        let started = std::time::Instant::now();
        while durable_op(&file).unwrap_or(0) == 0 {
            assert!(started.elapsed().as_secs() < 10, "round {round}: nothing synced within 10 s");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL
        assert!(!child.wait().unwrap().success(), "round {round}: the install was not running");
        drop(lines);

        // The reboot: the checkpoint is from an earlier boot, and the writes
        // after the synced point did not survive it.
        let mut cp: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        let synced = cp["durable_op"].as_u64().unwrap() as usize;
        assert!(synced > 0 && synced < ops.len(), "round {round}: synced point {synced} of {}", ops.len());
        assert!(ops[synced].prefix.is_some(), "round {round}: operation {synced} has no prefix to read back");
        cp["boot_id"] = "the-boot-before".into();
        std::fs::write(&file, serde_json::to_vec(&cp).unwrap()).unwrap();
        let lost_from = ops[synced].dst.offset as usize;
        let mut bytes = std::fs::read(&target).unwrap();
        bytes[lost_from..].copy_from_slice(&noise(new.len() - lost_from, 200 + round as u64));
        std::fs::write(&target, &bytes).unwrap();

        let resumed = install_cmd(&dev, &target, &pkg_arg).output().unwrap();
        let stderr = String::from_utf8_lossy(&resumed.stderr);
        assert!(resumed.status.success(), "round {round}: resume failed: {stderr}");
        assert!(stderr.contains(&format!("(operation {synced})")), "round {round}: not resumed at {synced}: {stderr}");
        assert!(std::fs::read(&target).unwrap() == new, "round {round}: target differs after the reboot and resume");
        assert!(checkpoint(&dev).is_none(), "round {round}: checkpoint left after completion");
    }
}

/// Full images in operations of 1 MiB and more are packed in pairs the
/// installer decodes at once (the second operation's prefix ends where the
/// first begins), and each pair is written beside the next pair's decoding.
/// An install cancelled at random operations (a pair decoded, its write
/// pending) writes that pair before it stops, and its checkpoint names only
/// operations written. A reboot then loses everything after the synced point,
/// set back in every other round to the second operation of a pair; the
/// resume reads the prefix of the operation there back from the target and
/// ends with the exact image.
#[test]
fn cancel_with_a_pair_pending_then_a_reboot_resumes_from_the_synced_point() {
    let dev = Device::new();
    let new: Vec<u8> = image(24 << 20, 57).into_iter().map(|b| if b == 0 { 0x5a } else { b }).collect();
    let mut spec = dev.spec(vec![("rootfs", ImageInput::Full { target: dev.write("new.img", &new) })]);
    spec.op_size = 1 << 20;
    spec.settings.prefix = 2 << 20;
    let pkg = dev.pack(&spec, "large-ops.fota");
    let header = fotad_updater::package::read_header(&mut std::fs::File::open(&pkg).unwrap()).unwrap();
    let ops = &header.manifest.images[0].operations;
    assert!(ops.iter().all(|op| op.dst.length == 1 << 20), "every operation is 1 MiB");
    for (i, op) in ops.iter().enumerate() {
        // Even operations take the bytes right before them; odd ones those
        // before the operation before them (none for the second).
        let end = if i % 2 == 0 { op.dst.offset } else { ops[i - 1].dst.offset };
        let expected = (end > 0).then(|| (end.saturating_sub(2 << 20), end));
        assert_eq!(op.prefix.map(|e| (e.offset, e.end())), expected, "operation {i}'s prefix");
    }
    let target = dev.path("slot-b.img");
    let boot = dev.write("boot_id", b"boot-1\n");
    let file = dev.path("state").join("install/checkpoint.json");

    for (round, p) in noise(4, 93).iter().enumerate() {
        std::fs::write(&target, noise(new.len(), 300 + round as u64)).unwrap();
        std::fs::write(&boot, "boot-1\n").unwrap();
        let _ = std::fs::remove_dir_all(dev.path("state"));
        let mut installer = dev.installer(&[("rootfs", &target, None)]);
        installer.set_boot_id_path(&boot);
        let stop_at = 3 + *p as usize * (ops.len() - 6) / 255;
        let cancel = installer.cancel_flag();
        let stopped = installer.install(BufReader::new(std::fs::File::open(&pkg).unwrap()), 0, &mut |p| {
            if p.ops_done >= stop_at {
                cancel.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        });
        assert!(matches!(stopped, Err(fotad_updater::InstallError::Cancelled)), "round {round}: {stopped:?}");
        cancel.store(false, std::sync::atomic::Ordering::SeqCst);
        let cp = installer.checkpoint().unwrap().unwrap();
        assert!(cp.next_op >= stop_at && cp.durable_op == cp.next_op, "round {round}: {cp:?}");
        let written = ops[cp.next_op].dst.offset as usize;
        assert!(std::fs::read(&target).unwrap()[..written] == new[..written], "round {round}: not all written");

        // The reboot: whatever is after the synced point is lost; in odd
        // rounds the synced point is the second operation of a pair.
        let mut synced = cp.durable_op;
        if round % 2 == 1 {
            synced -= if synced % 2 == 0 { 1 } else { 2 };
            let mut raw: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
            let header_len = cp.next_offset - ops[cp.next_op].data_offset;
            raw["durable_op"] = synced.into();
            raw["durable_offset"] = (header_len + ops[synced].data_offset).into();
            std::fs::write(&file, serde_json::to_vec(&raw).unwrap()).unwrap();
        }
        assert!(ops[synced].prefix.is_some(), "round {round}: operation {synced} has no prefix to read back");
        std::fs::write(&boot, "boot-2\n").unwrap();
        let lost_from = ops[synced].dst.offset as usize;
        let mut bytes = std::fs::read(&target).unwrap();
        bytes[lost_from..].copy_from_slice(&noise(new.len() - lost_from, 400 + round as u64));
        std::fs::write(&target, &bytes).unwrap();
        let resume = installer.checkpoint().unwrap().unwrap();
        assert_eq!(resume.next_op, synced, "round {round}: the reboot's checkpoint");
        let mut rest = std::fs::File::open(&pkg).unwrap();
        std::io::Seek::seek(&mut rest, std::io::SeekFrom::Start(resume.next_offset)).unwrap();
        let done = installer.install(BufReader::new(rest), resume.next_offset, &mut |_| {});
        assert!(done.is_ok(), "round {round}: resuming from {resume:?}: {done:?}");
        assert!(std::fs::read(&target).unwrap() == new, "round {round}: target differs after the resume");
    }
}

/// A stream cut while the installer holds decoded operations not yet written
/// (a pair of 1 MiB operations, written beside the next pair's decoding):
/// they are written and checkpointed before the install returns, so the
/// resume starts at the operation whose data was cut.
#[test]
fn a_cut_stream_writes_and_checkpoints_the_operations_decoded_before_it() {
    let dev = Device::new();
    let new: Vec<u8> = image(12 << 20, 59).into_iter().map(|b| if b == 0 { 0x5a } else { b }).collect();
    let mut spec = dev.spec(vec![("rootfs", ImageInput::Full { target: dev.write("new.img", &new) })]);
    spec.op_size = 1 << 20;
    spec.settings.prefix = 2 << 20;
    let pkg = dev.pack(&spec, "large-ops.fota");
    let size = std::fs::metadata(&pkg).unwrap().len();
    let header = fotad_updater::package::read_header(&mut std::fs::File::open(&pkg).unwrap()).unwrap();
    let ops = &header.manifest.images[0].operations;
    let last = &ops[ops.len() - 1];
    let header_len = size - (last.data_offset + last.data_length);
    let target = dev.path("slot-b.img");
    for cut_op in [4, 6, 8] {
        let _ = std::fs::remove_dir_all(dev.path("state"));
        let installer = dev.installer(&[("rootfs", &target, None)]);
        let open = BufReader::new(std::fs::File::open(&pkg).unwrap());
        // In the middle of the data of the first operation of a pair.
        let cut = CutAfter { inner: open, left: header_len + ops[cut_op].data_offset + ops[cut_op].data_length / 2 };
        let result = installer.install(cut, 0, &mut |_| {});
        assert!(matches!(result, Err(fotad_updater::InstallError::Stream { .. })), "{result:?}");
        let cp = installer.checkpoint().unwrap().unwrap();
        assert_eq!(cp.next_op, cut_op, "cut in operation {cut_op}: {cp:?}");
        assert_eq!(cp.next_offset, header_len + ops[cut_op].data_offset, "cut in operation {cut_op}");
        let written = ops[cut_op].dst.offset as usize;
        assert!(std::fs::read(&target).unwrap()[..written] == new[..written], "cut in {cut_op}: not all written");
    }
}
