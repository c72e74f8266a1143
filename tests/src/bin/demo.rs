//! `fotad-demo`, behind the README's first command: an update between
//! file-backed slots, end to end, narrated.
//!
//! A build host makes a signing key and a signed delta package from v1 to
//! v2; the device (slot A booted with v1, slot B inactive) streams it into
//! slot B, is interrupted at 40%, resumes from its checkpoint, verifies, and
//! refuses a tampered copy of the package.

use std::fs;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use anyhow::{ensure, Context, Result};
use fotad_updater::delta::{pack, ImageInput, PackSpec, PlanSettings};
use fotad_updater::install::{ImageTarget, InstallOptions, Installer, Progress};
use fotad_updater::package::{load_secret_key, write_keypair};
use fotad_updater::InstallError;

const MIB: u64 = 1 << 20;

fn main() -> Result<()> {
    let keep = std::env::args().nth(1).map(PathBuf::from);
    let tmp = tempfile::tempdir()?;
    let dir = keep.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    fs::create_dir_all(dir.join("device/keys"))?;
    println!("fotad demo: an A/B update between file-backed slots, in {}\n", dir.display());

    let (slot_a, slot_b, v2) = (dir.join("device/slot-a.img"), dir.join("device/slot-b.img"), dir.join("host/v2.img"));
    step("device", "slot A is booted and runs v1 (a 64 MiB root filesystem); slot B is inactive");
    fs::create_dir_all(dir.join("host"))?;
    fotad_tests::images::write_image(&mut fs::File::create(&slot_a)?, 64 * MIB, 1)?;
    fs::write(&slot_b, [])?;
    let v1 = fs::read(&slot_a)?;
    fs::write(&v2, fotad_tests::images::evolve(&v1, 2))?;

    let package = build_package(&dir, &slot_a, &v2)?;
    let installer = device_installer(&dir, &slot_a, &slot_b);
    install_with_interruption(&installer, &package)?;

    step("verify", "slot B holds exactly v2, slot A was only read");
    ensure!(fs::read(&slot_b)? == fs::read(&v2)?, "slot B differs from v2");
    ensure!(fs::read(&slot_a)? == v1, "slot A was modified");
    println!("         slot B = v2 byte for byte; slot A unchanged");

    refuse_tampered(&dir, &installer, &package)?;
    println!("\ndemo complete: signed delta built, streamed, interrupted, resumed, verified; tampering refused.");
    if keep.is_none() {
        println!("(run `scripts/demo DIR` to keep the files)");
    }
    Ok(())
}

fn step(who: &str, what: &str) {
    println!("[{who:>6}] {what}");
}

fn build_package(dir: &Path, v1: &Path, v2: &Path) -> Result<PathBuf> {
    step("host", "makes a signing key and packs a signed delta v1 -> v2");
    let key_id = write_keypair(&dir.join("host/release"))?;
    fs::copy(dir.join("host/release.pub"), dir.join("device/keys/release.pub"))?;
    let spec = PackSpec {
        compatible: "acme,gw-1".into(),
        version: "2.0.0".into(),
        security_version: 2,
        operator_tag: None,
        description: [("en".to_string(), "Security fixes".to_string())].into(),
        images: vec![("rootfs".into(), ImageInput::Delta { target: v2.into(), source: v1.into() })],
        op_size: 2 * MIB,
        threads: 2,
        settings: PlanSettings::default(),
    };
    let out = dir.join("host/update-2.0.0.fota");
    let report = pack(&spec, &[load_secret_key(&dir.join("host/release.key"))?], &out)?;
    let kinds = report.manifest.images[0].operations.iter().fold(std::collections::BTreeMap::new(), |mut m, op| {
        *m.entry(format!("{:?}", op.kind).to_lowercase()).or_insert(0) += 1;
        m
    });
    println!(
        "         {} bytes for a {} MiB image ({:.2}%), signed by key {key_id}; operations {kinds:?}",
        report.package_size,
        report.manifest.images[0].target.size / MIB,
        report.package_size as f64 * 100.0 / report.manifest.images[0].target.size as f64
    );
    Ok(out)
}

fn device_installer(dir: &Path, slot_a: &Path, slot_b: &Path) -> Installer {
    let image = ImageTarget { target: slot_b.to_path_buf(), source: Some(slot_a.to_path_buf()) };
    Installer::new(InstallOptions {
        keys_dir: dir.join("device/keys"),
        state_dir: dir.join("device/state"),
        compatible: "acme,gw-1".into(),
        installed_security_version: 1,
        images: [("rootfs".to_string(), image)].into(),
    })
}

fn install_with_interruption(installer: &Installer, package: &Path) -> Result<()> {
    step("device", "streams the package into slot B (signature checked before the first write)");
    let cancel = installer.cancel_flag();
    let mut bar = |p: Progress| {
        print_progress(p);
        if p.ops_done * 10 >= p.ops_total * 4 {
            cancel.store(true, Ordering::SeqCst);
        }
    };
    let file = BufReader::new(fs::File::open(package)?);
    match installer.install(file, 0, &mut bar) {
        Err(InstallError::Cancelled) => {}
        other => anyhow::bail!("expected the install to stop at 40%, got {other:?}"),
    }
    let cp = installer.checkpoint()?.context("no checkpoint after the interruption")?;
    println!("         interrupted (think: power cut, network loss) after operation {}", cp.next_op);
    step("device", &format!("resumes from its checkpoint: streams the package from byte {}", cp.next_offset));
    installer.cancel_flag().store(false, Ordering::SeqCst);
    let mut file = fs::File::open(package)?;
    file.seek(SeekFrom::Start(cp.next_offset))?;
    let done = installer.install(BufReader::new(file), cp.next_offset, &mut print_progress)?;
    println!("         installed {} and read it back: sha256 {}", done.version, done.images["rootfs"]);
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
        let _ = std::io::Write::flush(&mut std::io::stdout());
    } else if (p.ops_done * 4) % p.ops_total.max(1) < 4 {
        println!("         {bar}");
    }
}

fn refuse_tampered(dir: &Path, installer: &Installer, package: &Path) -> Result<()> {
    step("device", "is offered a copy of the package with one payload byte changed");
    let mut bytes = Vec::new();
    fs::File::open(package)?.read_to_end(&mut bytes)?;
    let last = bytes.len() - 100;
    bytes[last] ^= 0x01;
    let tampered = dir.join("host/tampered.fota");
    fs::write(&tampered, &bytes)?;
    match installer.install(BufReader::new(fs::File::open(&tampered)?), 0, &mut |_| {}) {
        Err(e) => println!("         refused, FUMO result {}: {e}", e.fumo_result()),
        Ok(_) => anyhow::bail!("the tampered package was installed"),
    }
    Ok(())
}
