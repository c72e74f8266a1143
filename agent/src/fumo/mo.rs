//! The FUMO management object in the DM tree (`urn:oma:mo:oma-fumo:1.0`):
//! `<root>/<x>/{PkgName, PkgVersion, Download/PkgURL, Update/PkgData,
//! DownloadAndUpdate/PkgURL, State, Ext}`.

use std::sync::{Arc, Mutex};

use super::store::FumoStore;
use crate::tree::{Acl, DynamicFn, Tree, TreeError};

/// MO type of a FUMO instance.
pub const FUMO_TYPE: &str = "urn:oma:mo:oma-fumo:1.0";

/// Creates (or refreshes) the FUMO instance `instance` (a URI such as
/// `./FUMO/fotad`). State is served live from `store`; PkgVersion from
/// `running_version` (the version of the booted slot). `acl` decides which
/// servers may Replace and Exec (e.g. `Get=*&Replace=srv&Exec=srv`).
pub fn install_fumo(
    tree: &mut Tree,
    instance: &str,
    store: Arc<Mutex<FumoStore>>,
    running_version: DynamicFn,
    acl: &str,
) -> Result<(), TreeError> {
    for interior in ["", "/Download", "/Update", "/DownloadAndUpdate", "/Ext"] {
        tree.put_interior(&format!("{instance}{interior}"))?;
    }
    for (leaf, format) in [("/PkgName", "chr"), ("/Download/PkgURL", "chr"), ("/DownloadAndUpdate/PkgURL", "chr")] {
        let uri = format!("{instance}{leaf}");
        if !tree.exists(&uri) {
            tree.put_leaf(&uri, b"", format)?;
        }
    }
    if !tree.exists(&format!("{instance}/Update/PkgData")) {
        tree.put_leaf(&format!("{instance}/Update/PkgData"), b"", "bin")?;
    }
    tree.put_leaf(&format!("{instance}/State"), b"10", "int")?;
    let key = instance.to_string();
    let state: DynamicFn = Arc::new(move || store.lock().map(|s| s.state(&key).code()).unwrap_or_default().to_string());
    tree.set_dynamic(&format!("{instance}/State"), state)?;
    tree.set_dynamic(&format!("{instance}/PkgVersion"), running_version)?;
    let acl = Acl::parse(acl).unwrap_or_default();
    tree.with_node(instance, |n| {
        n.type_ = FUMO_TYPE.into();
        n.acl = acl;
        n.permanent = true;
    })?;
    Ok(())
}
