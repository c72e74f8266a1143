//! `fotad-demo`, behind the README's first command: A/B updates between
//! file-backed slots, end to end, narrated.
//!
//! A build host makes a signing key and signed delta packages. The device
//! (slot A booted with v1, a file bootloader driven by the boot scripts'
//! selection rule) streams v2 into slot B, is interrupted, resumes from its
//! checkpoint, verifies, activates slot B for two trial boots, reboots into it
//! and confirms it. Then v3 is installed into slot A but never comes up
//! healthy: the bootloader falls back to slot B and the failure is detected.
//! Finally a tampered package is refused without touching the bootloader.

use std::fs;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use anyhow::{bail, ensure, Context, Result};
use fotad_updater::boot::sim::{boot_once, Selection};
use fotad_updater::config::Settings;
use fotad_updater::delta::{pack, ImageInput, PackSpec, PlanSettings};
use fotad_updater::install::{Installer, Progress};
use fotad_updater::lifecycle::{open_backend, BootCheck, Lifecycle};
use fotad_updater::package::{load_secret_key, write_keypair};
use fotad_updater::slot::Slot;
use fotad_updater::update::{begin, settings_under};
use fotad_updater::InstallError;

const MIB: u64 = 1 << 20;

fn main() -> Result<()> {
    let keep = std::env::args().nth(1).map(PathBuf::from);
    let tmp = tempfile::tempdir()?;
    let dir = keep.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    println!("fotad demo: A/B updates between file-backed slots, in {}\n", dir.display());
    let settings = make_device(&dir)?;
    let v1 = fs::read(dir.join("device/rootfs-a.img"))?;
    let v2 = fotad_tests::images::evolve(&v1, 2);
    let v3 = fotad_tests::images::evolve(&v2, 3);
    fs::write(dir.join("host/v2.img"), &v2)?;
    fs::write(dir.join("host/v3.img"), &v3)?;
    let key_id = write_keypair(&dir.join("host/release"))?;
    fs::copy(dir.join("host/release.pub"), dir.join("device/keys/release.pub"))?;
    step("host", &format!("made signing key {key_id}; its public half is in the device's /etc/fotad/keys"));

    let p2 = build_package(&dir, "2.0.0", 2, "host/v2.img", "device/rootfs-a.img")?;
    update(&settings, &p2, true)?;
    reboot(&settings)?;
    confirm(&settings)?;
    ensure!(fs::read(dir.join("device/rootfs-b.img"))? == v2, "slot B is not v2");

    let p3 = build_package(&dir, "3.0.0", 3, "host/v3.img", "host/v2.img")?;
    update(&settings, &p3, false)?;
    for _ in 0..3 {
        if reboot(&settings)? == Slot::A {
            println!("         (v3 never reaches boot-complete.target: no mark-good)");
        }
    }
    let check = Lifecycle::open(&settings)?.check_boot()?;
    println!(
        "         outcome: {check:?}\n         -> the agent reports FUMO result 410 (update failed) to the DM server"
    );
    ensure!(matches!(check, BootCheck::Done(_)), "no fallback detected");

    refuse_tampered(&dir, &settings, &p3)?;
    println!("\n{}", fotad_updater::cli_slots::render_status(&Lifecycle::open(&settings)?.status()?));
    println!("demo complete.");
    if keep.is_none() {
        println!("(run `scripts/demo DIR` to keep the files)");
    }
    Ok(())
}

fn step(who: &str, what: &str) {
    println!("[{who:>6}] {what}");
}

/// Slot A holds v1 and is booted and confirmed; slot B is empty; the config
/// uses the file bootloader backend.
fn make_device(dir: &Path) -> Result<Settings> {
    for d in ["host", "device/keys", "root/etc/fotad"] {
        fs::create_dir_all(dir.join(d))?;
    }
    fotad_tests::images::write_image(&mut fs::File::create(dir.join("device/rootfs-a.img"))?, 64 * MIB, 1)?;
    fs::write(dir.join("device/rootfs-b.img"), [])?;
    fs::write(dir.join("device/cmdline"), "console=ttyS0 fotad.slot=A\n")?;
    fotad_tests::device::write_file_slot_config(&dir.join("root"), &dir.join("device"), "acme,gw-1")?;
    step("device", "slot A booted with v1 (64 MiB root filesystem) and confirmed; slot B empty");
    Ok(settings_under(&dir.join("root"))?)
}

fn build_package(dir: &Path, version: &str, security: u64, new: &str, old: &str) -> Result<PathBuf> {
    let spec = PackSpec {
        compatible: "acme,gw-1".into(),
        version: version.into(),
        security_version: security,
        operator_tag: None,
        description: [("en".to_string(), format!("fotad {version}"))].into(),
        images: vec![("rootfs".into(), ImageInput::Delta { target: dir.join(new), source: dir.join(old) })],
        op_size: 2 * MIB,
        threads: 2,
        settings: PlanSettings::default(),
    };
    let out = dir.join(format!("host/update-{version}.fota"));
    let report = pack(&spec, &[load_secret_key(&dir.join("host/release.key"))?], &out)?;
    let size = report.manifest.images[0].target.size;
    step(
        "host",
        &format!("packed a signed delta to {version}: {} bytes for a {} MiB image", report.package_size, size / MIB),
    );
    Ok(out)
}

/// Installs `package` into the inactive slot and activates it; the first
/// time with an interruption at 40% and a resume from the checkpoint.
fn update(settings: &Settings, package: &Path, interrupt: bool) -> Result<()> {
    let update = begin(settings)?;
    step("device", &format!("installs into inactive slot {} (marked bad until verified)", update.slot()));
    let installer = update.installer();
    let start = if interrupt { interrupted(installer, package)? } else { 0 };
    let mut file = fs::File::open(package)?;
    file.seek(SeekFrom::Start(start))?;
    let done = installer.install(BufReader::new(file), start, &mut print_progress)?;
    println!("         wrote {} and read it back: sha256 {}", done.version, &done.images["rootfs"][..16]);
    let slot = update.finish(&done)?;
    println!("         slot {slot} is primary for {} trial boots", settings.tries);
    Ok(())
}

fn interrupted(installer: &Installer, package: &Path) -> Result<u64> {
    let cancel = installer.cancel_flag();
    let mut bar = |p: Progress| {
        print_progress(p);
        if p.ops_done * 10 >= p.ops_total * 4 {
            cancel.store(true, Ordering::SeqCst);
        }
    };
    match installer.install(BufReader::new(fs::File::open(package)?), 0, &mut bar) {
        Err(InstallError::Cancelled) => {}
        other => bail!("expected the install to stop at 40%, got {other:?}"),
    }
    installer.cancel_flag().store(false, Ordering::SeqCst);
    let cp = installer.checkpoint()?.context("no checkpoint after the interruption")?;
    println!(
        "         interrupted after operation {} (think: power cut); resuming at byte {}",
        cp.next_op, cp.next_offset
    );
    Ok(cp.next_offset)
}

fn reboot(settings: &Settings) -> Result<Slot> {
    let choice = boot_once(open_backend(&settings.bootloader)?.as_ref())?;
    let slot = match choice {
        Selection::Boot(s) | Selection::Rescue(s) => s,
    };
    fs::write(&settings.cmdline, format!("console=ttyS0 fotad.slot={slot}\n"))?;
    let state = open_backend(&settings.bootloader)?.read()?;
    step("boot", &format!("bootloader picks slot {slot} (state now A: {:?}, B: {:?})", state.a, state.b));
    Ok(slot)
}

fn confirm(settings: &Settings) -> Result<()> {
    let mut lc = Lifecycle::open(settings)?;
    let check = lc.mark_good()?;
    step("device", &format!("reached boot-complete.target: fotad-mark-good confirms slot {}", lc.booted()));
    println!("         outcome: {check:?}\n         -> the agent reports FUMO result 200 to the DM server");
    Ok(())
}

/// A redrawn bar on a terminal; otherwise a line at each quarter of the operations.
fn print_progress(p: Progress) {
    use std::io::IsTerminal;
    let pct = p.bytes_done * 100 / p.bytes_total.max(1);
    let filled = (pct / 5) as usize;
    let bar = format!(
        "[{}{}] {pct:>3}%  operation {}/{}",
        "#".repeat(filled),
        ".".repeat(20 - filled),
        p.ops_done,
        p.ops_total
    );
    if std::io::stdout().is_terminal() {
        print!("\r         {bar}");
        if p.ops_done == p.ops_total {
            println!();
        }
        let _ = std::io::Write::flush(&mut std::io::stdout());
    } else if (p.ops_done * 4) % p.ops_total.max(1) < 4 {
        println!("         {bar}");
    }
}

fn refuse_tampered(dir: &Path, settings: &Settings, package: &Path) -> Result<()> {
    step("device", "is offered a copy of a package with one payload byte changed");
    let mut bytes = Vec::new();
    fs::File::open(package)?.read_to_end(&mut bytes)?;
    let at = bytes.len() - 100;
    bytes[at] ^= 0x01;
    let tampered = dir.join("host/tampered.fota");
    fs::write(&tampered, &bytes)?;
    let update = begin(settings)?;
    match update.installer().install(BufReader::new(fs::File::open(&tampered)?), 0, &mut |_| {}) {
        Err(e) => println!(
            "         refused, FUMO result {}: {e}\n         the bootloader still boots the confirmed slot",
            e.fumo_result()
        ),
        Ok(_) => bail!("the tampered package was installed"),
    }
    Ok(())
}
