//! `./DevInfo` and `./DevDetail`.

use crate::dm::config::Settings;
use crate::dm::tree::{Acl, DynamicFn, Tree, TreeError, Who};

/// Where the firmware and software versions come from (the updater's status).
#[derive(Clone)]
pub struct Versions {
    pub firmware: DynamicFn,
    pub software: DynamicFn,
}

impl std::fmt::Debug for Versions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Versions").field("firmware", &(self.firmware)()).field("software", &(self.software)()).finish()
    }
}

impl Versions {
    /// Fixed versions (tests, or before the updater is wired in).
    pub fn fixed(fw: &str, sw: &str) -> Versions {
        let (fw, sw) = (fw.to_string(), sw.to_string());
        Versions {
            firmware: std::sync::Arc::new(move || fw.clone()),
            software: std::sync::Arc::new(move || sw.clone()),
        }
    }
}

/// DevDetail's FwV, SwV and HwV where DM 1.1 servers look for them
/// (`./DevInfo/FwV`, …), with `[dm] devinfo_compat`; removed when it is off.
/// Package 1 still carries the five DM 1.2 DevInfo leaves only.
fn install_devinfo_compat(tree: &mut Tree, s: &Settings, versions: &Versions) -> Result<(), TreeError> {
    if !s.devinfo_compat {
        for name in ["FwV", "SwV", "HwV"] {
            let uri = format!("./DevInfo/{name}");
            if tree.exists(&uri) {
                tree.delete(Who::Local, &uri)?;
            }
        }
        return Ok(());
    }
    tree.set_dynamic("./DevInfo/FwV", versions.firmware.clone())?;
    tree.set_dynamic("./DevInfo/SwV", versions.software.clone())?;
    tree.put_leaf("./DevInfo/HwV", s.hardware_version.as_bytes(), "chr")
}

/// Creates or refreshes DevInfo and DevDetail (read-only for servers).
pub fn install_devinfo(tree: &mut Tree, s: &Settings, versions: Versions) -> Result<(), TreeError> {
    let info = [
        ("DevId", s.device_id.as_str()),
        ("Man", s.manufacturer.as_str()),
        ("Mod", s.model.as_str()),
        ("DmV", "1.2"),
        ("Lang", s.language.as_str()),
    ];
    for (name, value) in info {
        tree.put_leaf(&format!("./DevInfo/{name}"), value.as_bytes(), "chr")?;
    }
    let limits = tree.limits();
    let detail = [
        ("DevTyp", s.device_type.clone(), "chr"),
        ("OEM", s.oem.clone(), "chr"),
        ("HwV", s.hardware_version.clone(), "chr"),
        ("LrgObj", "true".to_string(), "bool"),
        ("URI/MaxDepth", limits.max_depth.to_string(), "int"),
        ("URI/MaxTotLen", limits.max_tot_len.to_string(), "int"),
        ("URI/MaxSegLen", limits.max_seg_len.to_string(), "int"),
    ];
    for (name, value, format) in detail {
        tree.put_leaf(&format!("./DevDetail/{name}"), value.as_bytes(), format)?;
    }
    install_devinfo_compat(tree, s, &versions)?;
    tree.set_dynamic("./DevDetail/FwV", versions.firmware)?;
    tree.set_dynamic("./DevDetail/SwV", versions.software)?;
    for root in ["./DevInfo", "./DevDetail"] {
        tree.with_node(root, |n| {
            n.acl = Acl::parse("Get=*").unwrap_or_default();
            n.permanent = true;
        })?;
    }
    tree.with_node("./DevInfo", |n| n.type_ = "urn:oma:mo:oma-dm-devinfo:1.0".into())?;
    tree.with_node("./DevDetail", |n| n.type_ = "urn:oma:mo:oma-dm-devdetail:1.0".into())?;
    Ok(())
}
