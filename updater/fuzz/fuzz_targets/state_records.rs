//! The updater's records and bootloader environments, as a power cut, a
//! full disk or a local attacker may leave them: the install checkpoint and
//! status, the slot record, the file backend's state, a GRUB environment
//! block and a U-Boot environment. Reading each gives a value or an error,
//! never a panic. The first byte picks the file.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use fotad_updater::boot::file::FileBackend;
use fotad_updater::boot::grub::Grub;
use fotad_updater::boot::uboot::UBoot;
use fotad_updater::boot::{Backend, BootState};
use fotad_updater::install::Records;
use fotad_updater::slot::Slot;
use fotad_updater::slot::record as slot_record;
use libfuzzer_sys::fuzz_target;

const FILES: [&str; 6] =
    ["install/checkpoint.json", "install/status.json", "slots.json", "bootstate.json", "grubenv", "uboot.env"];

fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("fotad-fuzz-records-{}", std::process::id()));
        std::fs::create_dir_all(d.join("install")).expect("temp dir");
        // Two redundant copies of 4 KiB in one file, as libubootenv reads them.
        let env = d.join("uboot.env");
        std::fs::write(d.join("fw_env.config"), format!("{} 0x0 0x1000\n{} 0x1000 0x1000\n", env.display(), env.display()))
            .expect("fw_env.config");
        d
    })
}

fn use_state(state: Result<BootState, impl std::fmt::Debug>) {
    if let Ok(s) = state {
        let _ = (s.get(Slot::A), s.get(Slot::B), s.order());
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((pick, bytes)) = data.split_first() else { return };
    let dir = dir();
    let which = usize::from(*pick) % FILES.len();
    for f in FILES {
        let _ = std::fs::remove_file(dir.join(f));
    }
    std::fs::write(dir.join(FILES[which]), bytes).expect("write");
    let records = Records::new(dir);
    match which {
        0 => {
            let _ = records.checkpoint();
        }
        1 => {
            let _ = records.status();
        }
        2 => {
            if let Ok(r) = slot_record::load(&dir.join("slots.json")) {
                let _ = r.floor(&BootState::FACTORY);
            }
        }
        3 => use_state(FileBackend::new(dir.join("bootstate.json")).read()),
        4 => use_state(Grub::new(dir.join("grubenv")).read()),
        _ => use_state(UBoot::new(dir.join("fw_env.config")).read()),
    }
});
