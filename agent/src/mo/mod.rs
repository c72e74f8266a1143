//! Standard management objects: DMAcc, DevInfo, DevDetail, Inbox, and the OMA
//! DM bootstrap that (re)provisions DMAcc.

mod bootstrap;
mod devinfo;
mod dmacc;

pub use bootstrap::{apply_bootstrap, BootstrapError};
pub use devinfo::{install_devinfo, Versions};
pub use dmacc::{account_node_name, accounts, find_account, provision_account, DmAccount};

use crate::config::Settings;
use crate::tree::{Tree, TreeError};

/// Installs DevInfo, DevDetail and Inbox, and provisions every configured
/// account that is not in the tree yet (first start). Existing accounts are
/// left alone: the server or a bootstrap may have changed them.
pub fn install_standard_objects(tree: &mut Tree, settings: &Settings, versions: Versions) -> Result<(), TreeError> {
    install_devinfo(tree, settings, versions)?;
    tree.put_interior("./Inbox")?;
    tree.with_node("./Inbox", |n| {
        n.acl = crate::tree::Acl::parse("Add=*").unwrap_or_default();
        n.permanent = true;
    })?;
    tree.put_interior("./DMAcc")?;
    tree.with_node("./DMAcc", |n| n.permanent = true)?;
    for a in &settings.accounts {
        if find_account(tree, &a.server_id).is_none() {
            provision_account(tree, a)?;
        }
    }
    Ok(())
}
