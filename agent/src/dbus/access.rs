//! Defence in depth behind the bus policy: the daemon asks the bus who the
//! caller is (uid, pid, groups) and re-checks the privileged methods itself.
//! The group database and `/proc` are paths so tests can point them elsewhere.

use std::path::{Path, PathBuf};

use zbus::fdo::DBusProxy;
use zbus::names::{BusName, UniqueName};
use zbus::Connection;

/// Who may call a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// root, or a member of the UI group.
    Ui,
    /// root only.
    Root,
}

/// The caller of a method call, as the bus reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    /// Primary and supplementary group ids.
    pub groups: Vec<u32>,
}

/// Where the checks look things up.
#[derive(Debug, Clone)]
pub struct AccessPolicy {
    pub ui_group: String,
    /// The group database, `/etc/group` on a device.
    pub group_file: PathBuf,
    /// The proc filesystem, `/proc` on a device (groups of the caller's pid
    /// when the bus does not report them).
    pub proc_root: PathBuf,
}

impl AccessPolicy {
    pub fn new(ui_group: &str) -> Self {
        AccessPolicy { ui_group: ui_group.to_string(), group_file: "/etc/group".into(), proc_root: "/proc".into() }
    }

    /// Refuses the caller when it lacks `level`; the message says what is needed.
    pub fn check(&self, caller: &Caller, level: Level, method: &str) -> Result<(), String> {
        if caller.uid == 0 {
            return Ok(());
        }
        if level == Level::Ui {
            if let Some(gid) = group_id(&self.group_file, &self.ui_group) {
                if caller.groups.contains(&gid) {
                    return Ok(());
                }
            }
            return Err(format!(
                "{method} needs root or membership in group {} (caller uid {})",
                self.ui_group, caller.uid
            ));
        }
        Err(format!("{method} needs root (caller uid {})", caller.uid))
    }

    /// Asks the bus for the caller's credentials.
    pub async fn caller(&self, conn: &Connection, sender: &UniqueName<'_>) -> Result<Caller, String> {
        let proxy = DBusProxy::new(conn).await.map_err(|e| format!("connecting to the bus driver: {e}"))?;
        let creds = proxy
            .get_connection_credentials(BusName::Unique(sender.clone()))
            .await
            .map_err(|e| format!("asking the bus for the credentials of {sender}: {e}"))?;
        let uid = creds.unix_user_id().ok_or_else(|| format!("the bus did not report the uid of {sender}"))?;
        let groups = match (creds.unix_group_ids(), creds.process_id()) {
            (Some(g), _) => g.clone(),
            (None, Some(pid)) => proc_groups(&self.proc_root, pid)?,
            (None, None) => Vec::new(),
        };
        Ok(Caller { uid, groups })
    }
}

/// The gid of group `name` in a group(5) file.
pub fn group_id(file: &Path, name: &str) -> Option<u32> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|line| {
        let mut f = line.split(':');
        (f.next()? == name).then_some(())?;
        f.nth(1)?.parse().ok()
    })
}

/// Effective gid and supplementary groups of a process from `<proc>/<pid>/status`.
pub fn proc_groups(proc_root: &Path, pid: u32) -> Result<Vec<u32>, String> {
    let path = proc_root.join(pid.to_string()).join("status");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let mut groups = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Gid:") {
            groups.extend(rest.split_whitespace().nth(1).and_then(|g| g.parse::<u32>().ok()));
        } else if let Some(rest) = line.strip_prefix("Groups:") {
            groups.extend(rest.split_whitespace().filter_map(|g| g.parse::<u32>().ok()));
        }
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn policy(dir: &Path) -> AccessPolicy {
        std::fs::write(dir.join("group"), "root:x:0:\nfotad-ui:x:990:alice\nusers:x:100:\n").unwrap();
        AccessPolicy { ui_group: "fotad-ui".into(), group_file: dir.join("group"), proc_root: dir.join("proc") }
    }

    #[test]
    fn root_may_do_everything_ui_group_only_ui_methods() {
        let dir = tempfile::tempdir().unwrap();
        let p = policy(dir.path());
        let root = Caller { uid: 0, groups: vec![] };
        let ui = Caller { uid: 1000, groups: vec![100, 990] };
        let other = Caller { uid: 1001, groups: vec![100] };
        assert!(p.check(&root, Level::Root, "InstallFile").is_ok());
        assert!(p.check(&ui, Level::Ui, "Accept").is_ok());
        let e = p.check(&ui, Level::Root, "InstallFile").unwrap_err();
        assert!(e.contains("InstallFile needs root"), "{e}");
        let e = p.check(&other, Level::Ui, "Accept").unwrap_err();
        assert!(e.contains("fotad-ui"), "{e}");
    }

    #[test]
    fn missing_group_refuses_non_root() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = policy(dir.path());
        p.ui_group = "nope".into();
        assert!(p.check(&Caller { uid: 5, groups: vec![990] }, Level::Ui, "Defer").is_err());
    }

    #[test]
    fn reads_groups_from_proc_status() {
        let dir = tempfile::tempdir().unwrap();
        let p = policy(dir.path());
        std::fs::create_dir_all(dir.path().join("proc/42")).unwrap();
        std::fs::write(
            dir.path().join("proc/42/status"),
            "Name:\tui\nUid:\t1000\t1000\t1000\t1000\nGid:\t100\t101\t100\t100\nGroups:\t990 27 \n",
        )
        .unwrap();
        assert_eq!(proc_groups(&p.proc_root, 42).unwrap(), vec![101, 990, 27]);
        assert!(proc_groups(&p.proc_root, 43).unwrap_err().contains("43/status"));
        assert_eq!(group_id(&p.group_file, "users"), Some(100));
    }
}
