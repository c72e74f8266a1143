//! ACL property values: `Get=*&Replace=srv1+srv2`.

use std::fmt;

/// The commands an ACL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum AclCmd {
    Add,
    Delete,
    Exec,
    Get,
    Replace,
}

impl AclCmd {
    fn parse(s: &str) -> Option<AclCmd> {
        Some(match s {
            "Add" => AclCmd::Add,
            "Delete" => AclCmd::Delete,
            "Exec" => AclCmd::Exec,
            "Get" => AclCmd::Get,
            "Replace" => AclCmd::Replace,
            _ => return None,
        })
    }
}

impl fmt::Display for AclCmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// An ACL; empty means "inherit from the parent". A command is listed only
/// with at least one ServerID (DM-TND: a command without ServerIDs must not
/// be stored), so an empty list never turns into "nobody".
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Acl {
    entries: Vec<(AclCmd, Vec<String>)>,
}

impl Acl {
    /// Parses an ACL string; `None` when a command name is unknown. Commands
    /// without ServerIDs (`Get=`) are dropped.
    pub fn parse(s: &str) -> Option<Acl> {
        let mut entries: Vec<(AclCmd, Vec<String>)> = Vec::new();
        for part in s.split('&').filter(|p| !p.is_empty()) {
            let (cmd, ids) = part.split_once('=')?;
            let cmd = AclCmd::parse(cmd)?;
            let ids: Vec<String> = ids.split('+').filter(|i| !i.is_empty()).map(str::to_string).collect();
            match entries.iter_mut().find(|(c, _)| *c == cmd) {
                Some((_, list)) => list.extend(ids),
                None => entries.push((cmd, ids)),
            }
        }
        entries.retain(|(_, ids)| !ids.is_empty());
        entries.sort_by_key(|(c, _)| *c);
        Some(Acl { entries })
    }

    /// What the device gives a server on an interior node it added without
    /// Replace rights on the parent (DM-TND "Changing the ACL"): Add, Delete,
    /// Get and Replace for that server alone.
    pub fn owner(server_id: &str) -> Acl {
        let entries = [AclCmd::Add, AclCmd::Delete, AclCmd::Get, AclCmd::Replace]
            .into_iter()
            .map(|c| (c, vec![server_id.to_string()]))
            .collect();
        Acl { entries }
    }

    /// The entries for `cmds` only.
    pub fn only(&self, cmds: &[AclCmd]) -> Acl {
        Acl { entries: self.entries.iter().filter(|(c, _)| cmds.contains(c)).cloned().collect() }
    }

    /// The entries for every command but `cmd`.
    pub fn without(&self, cmd: AclCmd) -> Acl {
        Acl { entries: self.entries.iter().filter(|(c, _)| *c != cmd).cloned().collect() }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// True when `server_id` (or `*`) is listed for `cmd`.
    pub fn allows(&self, cmd: AclCmd, server_id: &str) -> bool {
        self.entries.iter().any(|(c, ids)| *c == cmd && ids.iter().any(|i| i == "*" || i == server_id))
    }
}

impl fmt::Display for Acl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.entries.iter().map(|(c, ids)| format!("{c}={}", ids.join("+"))).collect();
        f.write_str(&parts.join("&"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn parses_checks_and_prints() {
        let a = Acl::parse("Get=*&Replace=srv1+srv2").unwrap();
        assert!(a.allows(AclCmd::Get, "anyone"));
        assert!(a.allows(AclCmd::Replace, "srv2"));
        assert!(!a.allows(AclCmd::Replace, "srv3"));
        assert!(!a.allows(AclCmd::Delete, "srv1"));
        assert_eq!(a.to_string(), "Get=*&Replace=srv1+srv2");
        assert!(Acl::parse("Fly=*").is_none());
        assert!(Acl::parse("").unwrap().is_empty());
        assert!(Acl::parse("Get=&Exec=").unwrap().is_empty(), "commands without servers are dropped");
        assert_eq!(Acl::parse("Get=*&Replace=").unwrap().to_string(), "Get=*");
    }

    #[test]
    fn owner_only_and_without() {
        assert_eq!(Acl::owner("s1").to_string(), "Add=s1&Delete=s1&Get=s1&Replace=s1");
        let a = Acl::parse("Get=*&Replace=s1&Exec=s2").unwrap();
        assert_eq!(a.without(AclCmd::Replace).to_string(), "Exec=s2&Get=*");
        assert_eq!(a.only(&[AclCmd::Get, AclCmd::Replace]).to_string(), "Get=*&Replace=s1");
        assert!(a.only(&[AclCmd::Add]).is_empty());
    }
}
