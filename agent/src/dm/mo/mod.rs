//! Standard management objects: DMAcc, DevInfo, DevDetail, Inbox, and the OMA
//! DM bootstrap that (re)provisions DMAcc.

mod bootstrap;
mod devinfo;
mod dmacc;

pub use bootstrap::{apply_bootstrap, BootstrapError};
pub use devinfo::{install_devinfo, Versions};
pub use dmacc::{account_node_name, accounts, find_account, provision_account, DmAccount};

use crate::dm::config::Settings;
use crate::dm::tree::{Acl, Tree, TreeError};

/// The ACL of `./DMAcc`: every server may list the accounts, none may add
/// one (accounts come from the configuration and from bootstrap only).
pub const DMACC_ROOT_ACL: &str = "Get=*";

/// Installs DevInfo, DevDetail, Inbox and DMAcc with their rights (every
/// start, so a tree saved by an older version gets them too), and provisions
/// every configured account that is not in the tree yet (first start).
/// Existing accounts are left alone, as their server or a bootstrap may have
/// changed them, except that their ServerID and secrets stay protected.
pub fn install_standard_objects(tree: &mut Tree, settings: &Settings, versions: Versions) -> Result<(), TreeError> {
    install_devinfo(tree, settings, versions)?;
    tree.put_interior("./Inbox")?;
    tree.with_node("./Inbox", |n| {
        n.acl = Acl::parse("Add=*").unwrap_or_default();
        n.permanent = true;
    })?;
    tree.put_interior("./DMAcc")?;
    tree.with_node("./DMAcc", |n| {
        n.acl = Acl::parse(DMACC_ROOT_ACL).unwrap_or_default();
        n.permanent = true;
    })?;
    for x in tree.child_names("./DMAcc") {
        dmacc::protect_account(tree, &format!("./DMAcc/{x}"))?;
    }
    for a in &settings.accounts {
        if find_account(tree, &a.server_id).is_none() {
            provision_account(tree, a)?;
        }
    }
    Ok(())
}
