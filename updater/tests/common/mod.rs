//! Helpers shared by the integration tests: running the real tools (failing loudly
//! when one is missing) and building slot sets.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use fotad_updater::boot::{BootState, SlotState};
use fotad_updater::slot::Slot;
use std::process::Command;

/// Runs `program args`, asserts success, returns stdout. Panics with the Debian
/// package to install when the tool is missing.
pub fn run_tool(program: &str, args: &[&str], package: &str) -> String {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run {program} ({e}): install the Debian package {package} (scripts/test does)")
    });
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A path as a `&str` for tool arguments.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every boot state made of a primary and the given slot states.
pub fn all_states(slot_states: &[SlotState]) -> Vec<BootState> {
    let mut out = Vec::new();
    for primary in Slot::ALL {
        for a in slot_states {
            for b in slot_states {
                out.push(BootState {
                    primary: Some(primary),
                    a: *a,
                    b: *b,
                });
            }
        }
    }
    out
}
