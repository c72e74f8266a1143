//! The FUMO management object in the DM tree (`urn:oma:mo:oma-fumo:1.0`):
//! `<root>/<x>/{PkgName, PkgVersion, Download/PkgURL, Update/PkgData,
//! DownloadAndUpdate/PkgURL, State, Ext}`.

use std::sync::{Arc, Mutex};

use super::store::FumoStore;
use crate::dm::tree::{Acl, AclCmd, DynamicFn, Tree, TreeError};

/// MO type of a FUMO instance.
pub const FUMO_TYPE: &str = "urn:oma:mo:oma-fumo:1.0";

/// The leaves a server writes: the configured Replace rights are granted on
/// these and nowhere else.
const WRITABLE: [&str; 4] = ["/PkgName", "/Download/PkgURL", "/DownloadAndUpdate/PkgURL", "/Update/PkgData"];

/// Creates (or refreshes) the FUMO instance `instance` (a URI such as
/// `./FUMO/fotad`). State is served live from `store`; PkgVersion from
/// `running_version` (the version of the booted slot). `acl` decides which
/// servers may Get, Replace and Exec (e.g. `Get=*&Replace=srv&Exec=srv`).
///
/// The rights are placed so that no server can change them (DM-TND: the ACL
/// of a leaf changes with Replace rights on its parent, of an interior node
/// with Replace rights on the node or its parent): the instance carries `acl`
/// without Replace (Get and Exec reach Download, Update and DownloadAndUpdate
/// by inheritance), and only the leaves PkgName, PkgURL and PkgData carry the
/// Get and Replace entries. The FUMO root above the instance is `Get=*`, so
/// no server adds instances. Every node of the instance is permanent (never
/// deleted or renamed by a server); all of this is reapplied at every start.
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
    let state: DynamicFn = Arc::new(move || fotad_updater::sync::lock(&store).state(&key).code().to_string());
    tree.set_dynamic(&format!("{instance}/State"), state)?;
    tree.set_dynamic(&format!("{instance}/PkgVersion"), running_version)?;
    let acl = Acl::parse(acl).unwrap_or_default();
    for child in ["/Download", "/Update", "/DownloadAndUpdate", "/Ext", "/State", "/PkgVersion"] {
        tree.with_node(&format!("{instance}{child}"), |n| {
            n.acl = Acl::default();
            n.permanent = true;
        })?;
    }
    let writable = acl.only(&[AclCmd::Get, AclCmd::Replace]);
    for leaf in WRITABLE {
        tree.with_node(&format!("{instance}{leaf}"), |n| {
            n.acl = writable.clone();
            n.permanent = true;
        })?;
    }
    tree.with_node(instance, |n| {
        n.type_ = FUMO_TYPE.into();
        n.acl = acl.without(AclCmd::Replace);
        n.permanent = true;
    })?;
    if let Some((root, _)) = instance.rsplit_once('/').filter(|(root, _)| *root != ".") {
        tree.with_node(root, |n| {
            n.acl = Acl::parse("Get=*").unwrap_or_default();
            n.permanent = true;
        })?;
    }
    Ok(())
}
