//! OMA DM bootstrap: a DM-profile SyncML message (XML or WBXML) whose Add and
//! Replace commands create a DMAcc. Applied by the device itself (the caller
//! makes sure only root can ask), all or nothing.

use super::dmacc::{accounts, secure_account};
use crate::dm::syncml::{Codec, Command, ItemCmd, SyncmlError};
use crate::dm::tree::{NewValue, Tree, TreeError, Value, Who};

/// Bootstrap failures.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("bootstrap message does not parse: {0}")]
    Syncml(#[from] SyncmlError),
    #[error("bootstrap command failed: {0}")]
    Tree(#[from] TreeError),
    #[error("bootstrap command {0} is not Add or Replace")]
    Command(&'static str),
    #[error("bootstrap message provisions no DMAcc with a ServerID")]
    NoAccount,
}

/// Applies a bootstrap message; returns the ServerIDs of the accounts now in
/// the tree. The tree is unchanged on any error.
pub fn apply_bootstrap(tree: &mut Tree, bytes: &[u8]) -> Result<Vec<String>, BootstrapError> {
    let codec = if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<') { Codec::Xml } else { Codec::Wbxml };
    let msg = codec.decode(bytes)?;
    let snapshot = tree.snapshot();
    let result = apply_commands(tree, &msg.body.commands);
    if let Err(e) = result {
        tree.restore(snapshot);
        return Err(e);
    }
    let accs = accounts(tree);
    if accs.is_empty() {
        tree.restore(snapshot);
        return Err(BootstrapError::NoAccount);
    }
    for a in &accs {
        secure_account(tree, &a.node, &a.server_id)?;
    }
    Ok(accs.into_iter().map(|a| a.server_id).collect())
}

fn apply_commands(tree: &mut Tree, commands: &[Command]) -> Result<(), BootstrapError> {
    for c in commands {
        match c {
            Command::Add(i) | Command::Replace(i) => apply_items(tree, i, matches!(c, Command::Add(_)))?,
            Command::Atomic(s) | Command::Sequence(s) => apply_commands(tree, &s.commands)?,
            Command::Status(_) | Command::Results(_) | Command::Alert(_) => {}
            other => return Err(BootstrapError::Command(other.name())),
        }
    }
    Ok(())
}

fn apply_items(tree: &mut Tree, cmd: &ItemCmd, add: bool) -> Result<(), BootstrapError> {
    for item in &cmd.items {
        let Some(target) = item.target_uri() else {
            continue;
        };
        let target = match target.strip_prefix("./Inbox/") {
            Some(rest) => format!("./DMAcc/{rest}"),
            None => target.to_string(),
        };
        let meta = item.meta.as_ref().or(cmd.meta.as_ref());
        let v = NewValue {
            format: meta.and_then(|m| m.format.clone()),
            type_: meta.and_then(|m| m.type_.clone()),
            value: Value::Inline(item.data.clone().unwrap_or_default()),
        };
        if add && !tree.exists(&target) {
            tree.add(Who::Local, &target, v)?;
        } else if v.format.as_deref() != Some("node") {
            tree.replace(Who::Local, &target, v)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::dm::tree::UriLimits;

    fn add(uri: &str, data: Option<&str>) -> String {
        let (fmt, d) = match data {
            Some(d) => ("chr", format!("<Data>{d}</Data>")),
            None => ("node", String::new()),
        };
        format!("<Add><CmdID>1</CmdID><Item><Target><LocURI>{uri}</LocURI></Target><Meta><Format xmlns=\"syncml:metinf\">{fmt}</Format></Meta>{d}</Item></Add>")
    }

    fn message(cmds: &str) -> String {
        format!("<SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>0</SessionID><MsgID>1</MsgID><Target><LocURI>dev</LocURI></Target><Source><LocURI>boot</LocURI></Source></SyncHdr><SyncBody>{cmds}<Final/></SyncBody></SyncML>")
    }

    #[test]
    fn provisions_an_account_from_xml_and_wbxml() {
        let cmds = [
            add("./DMAcc/op", None),
            add("./DMAcc/op/ServerID", Some("opsrv")),
            add("./DMAcc/op/AppAddr/1/Addr", Some("https://op.example/dm")),
            add("./DMAcc/op/AppAuth/1/AAuthLevel", Some("CLCRED")),
            add("./DMAcc/op/AppAuth/1/AAuthSecret", Some("s3")),
        ]
        .concat();
        let xml = message(&cmds);
        let wbxml = Codec::Wbxml.encode(&Codec::Xml.decode(xml.as_bytes()).unwrap()).unwrap();
        for bytes in [xml.as_bytes(), &wbxml[..]] {
            let mut t = Tree::new(UriLimits::default());
            assert_eq!(apply_bootstrap(&mut t, bytes).unwrap(), ["opsrv"]);
            let a = super::super::find_account(&t, "opsrv").unwrap();
            assert_eq!(a.address, "https://op.example/dm");
            assert_eq!(a.client.secret, "s3");
            assert!(t.get(Who::Server("opsrv"), "./DMAcc/op/AppAuth/1/AAuthSecret").is_err());
            assert!(t.get(Who::Server("other"), "./DMAcc/op/ServerID").is_err());
        }
    }

    #[test]
    fn a_failing_bootstrap_leaves_the_tree_unchanged() {
        let mut t = Tree::new(UriLimits::default());
        let before = t.snapshot();
        let bad =
            message(&[add("./DMAcc/op/ServerID", Some("x")), add("./DMAcc/op/ServerID/below", Some("y"))].concat());
        assert!(apply_bootstrap(&mut t, bad.as_bytes()).is_err());
        assert_eq!(t.snapshot(), before);
        let none = message(&add("./Other/a", Some("1")));
        assert!(matches!(apply_bootstrap(&mut t, none.as_bytes()), Err(BootstrapError::NoAccount)));
        assert_eq!(t.snapshot(), before);
        assert!(apply_bootstrap(&mut t, b"<SyncML><Sync").is_err());
    }
}
