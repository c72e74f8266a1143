//! The vendor node `./DevDetail/Ext/fotad`: the slots as the updater sees
//! them, read live, so that a server can check which version runs where
//! after an update: `Booted`, and `Slots/<A|B>/{Version,State}`.

use std::sync::Arc;

use fotad_updater::config::Settings;
use fotad_updater::lifecycle::{Lifecycle, Status};
use fotad_updater::slot::Slot;

use crate::dm::tree::{DynamicFn, Tree, TreeError};

/// Root of the vendor node.
pub const VENDOR_ROOT: &str = "./DevDetail/Ext/fotad";

/// Serves `<root>/Booted` and `<root>/Slots/<A|B>/{Version,State}` from the
/// updater's slot status (read on every Get; empty when it cannot be read).
pub fn install_slot_nodes(tree: &mut Tree, updater: Settings) -> Result<(), TreeError> {
    let updater = Arc::new(updater);
    let status = move |f: fn(&Status) -> String| -> DynamicFn {
        let updater = Arc::clone(&updater);
        Arc::new(move || Lifecycle::open(&updater).and_then(|lc| lc.status()).map(|s| f(&s)).unwrap_or_default())
    };
    tree.set_dynamic(&format!("{VENDOR_ROOT}/Booted"), status(|s| s.booted.to_string()))?;
    for slot in [Slot::A, Slot::B] {
        let base = format!("{VENDOR_ROOT}/Slots/{slot}");
        let version: fn(&Status) -> String = match slot {
            Slot::A => |s| slot_field(s, Slot::A, |x| x.version.clone().unwrap_or_default()),
            Slot::B => |s| slot_field(s, Slot::B, |x| x.version.clone().unwrap_or_default()),
        };
        let state: fn(&Status) -> String = match slot {
            Slot::A => |s| slot_field(s, Slot::A, |x| x.state.to_string()),
            Slot::B => |s| slot_field(s, Slot::B, |x| x.state.to_string()),
        };
        tree.set_dynamic(&format!("{base}/Version"), status(version))?;
        tree.set_dynamic(&format!("{base}/State"), status(state))?;
    }
    Ok(())
}

fn slot_field(s: &Status, slot: Slot, f: impl Fn(&fotad_updater::lifecycle::SlotStatus) -> String) -> String {
    s.slots.iter().find(|x| x.slot == slot).map(f).unwrap_or_default()
}
