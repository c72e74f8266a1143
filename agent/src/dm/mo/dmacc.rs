//! `./DMAcc/<x>`: the DM account object in the DM 1.2 layout
//! (`urn:oma:mo:oma-dm-dmacc:1.0`).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use crate::dm::auth::Scheme;
use crate::dm::config::AccountSettings;
use crate::dm::tree::{Acl, Tree, TreeError};

/// DDF type of a DMAcc node.
pub const DMACC_TYPE: &str = "urn:oma:mo:oma-dm-dmacc:1.0";

/// Credentials of one side (AppAuth entry).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthEntry {
    pub scheme: Option<Scheme>,
    pub name: String,
    pub secret: String,
    /// The initial nonce from AAuthData.
    pub nonce: Vec<u8>,
}

/// A DM account as read from the tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DmAccount {
    /// `./DMAcc/<x>`.
    pub node: String,
    pub server_id: String,
    pub name: String,
    pub address: String,
    pub auth_pref: Option<Scheme>,
    /// CLCRED: how the client authenticates to the server.
    pub client: AuthEntry,
    /// SRVCRED: how the server authenticates to the client.
    pub server: AuthEntry,
}

/// The DMAcc child name for a server id (`[A-Za-z0-9_-]`, others as `_`).
pub fn account_node_name(server_id: &str) -> String {
    server_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
}

/// Writes (or overwrites) an account from the configuration.
pub fn provision_account(tree: &mut Tree, a: &AccountSettings) -> Result<(), TreeError> {
    let base = format!("./DMAcc/{}", account_node_name(&a.server_id));
    let client_nonce = B64.encode(&a.client_nonce);
    let server_nonce = B64.encode(&a.server_nonce);
    let leaves = [
        ("AppID", "w7"),
        ("ServerID", a.server_id.as_str()),
        ("Name", a.name.as_str()),
        ("PrefConRef", ""),
        ("AppAddr/1/Addr", a.address.as_str()),
        ("AppAddr/1/AddrType", "URI"),
        ("AAuthPref", a.auth.dmacc_name()),
        ("AppAuth/1/AAuthLevel", "CLCRED"),
        ("AppAuth/1/AAuthType", a.auth.dmacc_name()),
        ("AppAuth/1/AAuthName", a.client_name.as_str()),
        ("AppAuth/1/AAuthSecret", a.client_secret.as_str()),
        ("AppAuth/1/AAuthData", client_nonce.as_str()),
        ("AppAuth/2/AAuthLevel", "SRVCRED"),
        ("AppAuth/2/AAuthType", a.auth.dmacc_name()),
        ("AppAuth/2/AAuthName", a.server_id.as_str()),
        ("AppAuth/2/AAuthSecret", a.server_secret.as_str()),
        ("AppAuth/2/AAuthData", server_nonce.as_str()),
    ];
    for (name, value) in leaves {
        tree.put_leaf(&format!("{base}/{name}"), value.as_bytes(), "chr")?;
    }
    if let Some(port) = port_of(&a.address) {
        tree.put_leaf(&format!("{base}/AppAddr/1/Port/1/PortNbr"), port.to_string().as_bytes(), "int")?;
    }
    tree.put_interior(&format!("{base}/Ext"))?;
    secure_account(tree, &base, &a.server_id)
}

/// Sets the account's ACL (its own server may Get and Replace, no other
/// server anything), then [`protect_account`].
pub(crate) fn secure_account(tree: &mut Tree, base: &str, server_id: &str) -> Result<(), TreeError> {
    let acl = Acl::parse(&format!("Get={server_id}&Replace={server_id}")).unwrap_or_default();
    tree.with_node(base, |n| {
        n.acl = acl;
        n.type_ = DMACC_TYPE.into();
    })?;
    protect_account(tree, base)
}

/// What holds for every account whatever its ACL became: the secrets are
/// never returned by Get, and the ServerID (the name every ACL grants rights
/// to) belongs to the device, so a server cannot take another's identity.
pub(crate) fn protect_account(tree: &mut Tree, base: &str) -> Result<(), TreeError> {
    let server_id = format!("{base}/ServerID");
    if tree.exists(&server_id) {
        tree.with_node(&server_id, |n| {
            n.device_owned = true;
            n.permanent = true;
        })?;
    }
    for entry in tree.child_names(&format!("{base}/AppAuth")) {
        for leaf in ["AAuthSecret", "AAuthData"] {
            let uri = format!("{base}/AppAuth/{entry}/{leaf}");
            if tree.exists(&uri) {
                tree.with_node(&uri, |n| n.secret = true)?;
            }
        }
    }
    Ok(())
}

fn port_of(address: &str) -> Option<u16> {
    let rest = address.split_once("://")?.1;
    let host = rest.split('/').next()?;
    host.rsplit_once(':').and_then(|(_, p)| p.parse().ok())
}

/// Every account in the tree.
pub fn accounts(tree: &Tree) -> Vec<DmAccount> {
    tree.child_names("./DMAcc").iter().filter_map(|x| read_account(tree, x)).collect()
}

/// The account of `server_id`.
pub fn find_account(tree: &Tree, server_id: &str) -> Option<DmAccount> {
    accounts(tree).into_iter().find(|a| a.server_id == server_id)
}

fn read_account(tree: &Tree, x: &str) -> Option<DmAccount> {
    let base = format!("./DMAcc/{x}");
    let text = |p: &str| tree.leaf_text(&format!("{base}/{p}")).unwrap_or_default();
    let server_id = tree.leaf_text(&format!("{base}/ServerID"))?;
    let address = tree
        .child_names(&format!("{base}/AppAddr"))
        .first()
        .map(|a| text(&format!("AppAddr/{a}/Addr")))
        .unwrap_or_default();
    let mut acc = DmAccount {
        node: base.clone(),
        server_id,
        name: text("Name"),
        address,
        auth_pref: Scheme::from_dmacc(&text("AAuthPref")),
        ..DmAccount::default()
    };
    for entry in tree.child_names(&format!("{base}/AppAuth")) {
        let get = |leaf: &str| text(&format!("AppAuth/{entry}/{leaf}"));
        let auth = AuthEntry {
            scheme: Scheme::from_dmacc(&get("AAuthType")),
            name: get("AAuthName"),
            secret: get("AAuthSecret"),
            nonce: B64.decode(get("AAuthData").trim()).unwrap_or_default(),
        };
        match get("AAuthLevel").as_str() {
            "CLCRED" => acc.client = auth,
            "SRVCRED" => acc.server = auth,
            _ => {}
        }
    }
    Some(acc)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::dm::tree::{UriLimits, Who};

    pub(crate) fn settings() -> AccountSettings {
        AccountSettings {
            server_id: "srv.one".into(),
            name: "Operator".into(),
            address: "https://dm.example.com:8443/dm".into(),
            auth: Scheme::Md5,
            client_name: "dev1".into(),
            client_secret: "pw".into(),
            server_secret: "spw".into(),
            client_nonce: b"Nonce".to_vec(),
            server_nonce: Vec::new(),
            ca_bundle: None,
            client_cert: None,
            client_key: None,
        }
    }

    #[test]
    fn provisions_the_12_layout_and_reads_it_back() {
        let mut t = Tree::new(UriLimits::default());
        provision_account(&mut t, &settings()).unwrap();
        assert_eq!(t.leaf_text("./DMAcc/srv_one/AppID").as_deref(), Some("w7"));
        assert_eq!(t.leaf_text("./DMAcc/srv_one/AppAddr/1/Port/1/PortNbr").as_deref(), Some("8443"));
        let a = find_account(&t, "srv.one").unwrap();
        assert_eq!(a.address, "https://dm.example.com:8443/dm");
        assert_eq!(a.client.name, "dev1");
        assert_eq!(a.client.scheme, Some(Scheme::Md5));
        assert_eq!(a.server.secret, "spw");
        assert_eq!(a.client.nonce, b"Nonce");
    }

    #[test]
    fn only_its_server_reads_it_and_secrets_never() {
        let mut t = Tree::new(UriLimits::default());
        provision_account(&mut t, &settings()).unwrap();
        let own = Who::Server("srv.one");
        assert!(t.get(own, "./DMAcc/srv_one/Name").is_ok());
        assert!(t.get(Who::Server("other"), "./DMAcc/srv_one/Name").is_err());
        assert!(t.get(own, "./DMAcc/srv_one/AppAuth/1/AAuthSecret").is_err());
        assert!(t.get(own, "./DMAcc/srv_one/AppAuth/1/AAuthData").is_err());
    }

    #[test]
    fn its_server_cannot_change_the_server_id() {
        let mut t = Tree::new(UriLimits::default());
        provision_account(&mut t, &settings()).unwrap();
        let own = Who::Server("srv.one");
        let v = || crate::dm::tree::NewValue {
            format: Some("chr".into()),
            type_: None,
            value: crate::dm::tree::Value::Inline(b"srv.two".to_vec()),
        };
        let code = |e: TreeError| crate::dm::status::StatusCode::from(&e).code();
        assert_eq!(code(t.replace(own, "./DMAcc/srv_one/ServerID", v()).unwrap_err()), 405);
        assert_eq!(code(t.replace(own, "./DMAcc/srv_one/ServerID?prop=ACL", v()).unwrap_err()), 405);
        assert_eq!(code(t.delete(own, "./DMAcc/srv_one/ServerID").unwrap_err()), 405);
        t.replace(own, "./DMAcc/srv_one/Name", v()).unwrap();
        assert_eq!(find_account(&t, "srv.one").unwrap().name, "srv.two");
    }
}
