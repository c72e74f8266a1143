//! The agent's state files, as a power cut, a full disk or a local attacker
//! may leave them: opening each one with any content gives a value or an
//! error, never a panic. The first byte picks the file.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use fotad::dm::auth::NonceStore;
use fotad::download::ResumeState;
use fotad::fumo::{crash, FumoStore};
use fotad::dm::session::AlertQueue;
use fotad::dm::tree::{Tree, UriLimits};
use libfuzzer_sys::fuzz_target;

const FILES: [&str; 6] = ["fumo.json", "pending-alerts.json", "nonces", "dmtree.json", "download.json", "fumo-panics.json"];

fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("fotad-fuzz-state-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((pick, bytes)) = data.split_first() else { return };
    let dir = dir();
    for f in FILES {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let which = usize::from(*pick) % FILES.len();
    std::fs::write(dir.join(FILES[which]), bytes).expect("write");
    match which {
        0 => {
            if let Ok(store) = FumoStore::open(dir) {
                let _ = store.current();
                let _ = store.state("./FUMO/fotad");
            }
        }
        1 => {
            if let Ok(q) = AlertQueue::open(dir) {
                let _ = q.pending("srv");
            }
        }
        2 => {
            if let Ok(n) = NonceStore::load(dir) {
                let _ = n.get("srv");
            }
        }
        3 => {
            if let Ok(t) = Tree::open(dir, UriLimits::default()) {
                let _ = t.leaf_text("./DevInfo/DevId");
            }
        }
        4 => {
            let _ = ResumeState::load(dir, "http://h/p.fota");
        }
        _ => {
            let _ = crash::panics(dir, 1);
        }
    }
});
