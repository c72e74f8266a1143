//! The SIM's identity, the last one persisted in the state directory
//! (`sim-identity.json`, replaced atomically), and the SIM-change Generic
//! Alert queued to every DM account when a different SIM shows up.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dm::session::{AlertQueue, QueuedAlert, ALERT_GENERIC};
use crate::state_file::{self, StateError};

/// Meta Type of the SIM-change alert.
pub const SIM_CHANGE_TYPE: &str = "org.fotad.dm.simchange";

/// What identifies a SIM (IMSI is unknown while the PIN is not entered).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub iccid: String,
    pub imsi: Option<String>,
}

impl Identity {
    /// A different SIM: another ICCID, or another IMSI when both are known.
    pub fn differs_from(&self, other: &Identity) -> bool {
        self.iccid != other.iccid || matches!((&self.imsi, &other.imsi), (Some(a), Some(b)) if a != b)
    }
}

/// The persisted last identity.
#[derive(Debug, Clone)]
pub struct IdentityStore {
    path: PathBuf,
}

impl IdentityStore {
    pub fn new(state_dir: &Path) -> IdentityStore {
        IdentityStore { path: state_dir.join("sim-identity.json") }
    }

    pub fn load(&self) -> Result<Option<Identity>, StateError> {
        let Some(bytes) = state_file::read_optional(&self.path)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StateError { path: self.path.clone(), source: std::io::Error::other(e) })
    }

    pub fn save(&self, id: &Identity) -> Result<(), StateError> {
        let bytes = serde_json::to_vec_pretty(id)
            .map_err(|e| StateError { path: self.path.clone(), source: std::io::Error::other(e) })?;
        state_file::write_atomic(&self.path, &bytes)
    }

    /// Records `now`; when it is a different SIM than the last one, queues
    /// one SIM-change alert per account first. Returns whether it alerted.
    /// The first SIM ever seen is recorded without an alert. A crash between
    /// queueing and saving can repeat the alert, never lose it.
    pub fn observe(&self, now: &Identity, alerts: &AlertQueue, accounts: &[String]) -> Result<bool, StateError> {
        let last = self.load()?;
        let changed = last.as_ref().is_some_and(|l| l.differs_from(now));
        if changed {
            let data = change_data(last.as_ref(), now);
            for server in accounts {
                alerts.push(QueuedAlert {
                    id: 0,
                    code: ALERT_GENERIC,
                    server_id: Some(server.clone()),
                    correlator: None,
                    source: Some("./DevDetail".into()),
                    target: None,
                    type_: SIM_CHANGE_TYPE.into(),
                    format: "chr".into(),
                    mark: None,
                    data: data.clone(),
                })?;
            }
        }
        let merged = match last {
            Some(l) if !changed && now.imsi.is_none() => Identity { imsi: l.imsi, ..now.clone() },
            _ => now.clone(),
        };
        if Some(&merged) != self.load()?.as_ref() {
            self.save(&merged)?;
        }
        Ok(changed)
    }
}

/// The alert's data: JSON `{"old":{"iccid","imsi"},"new":{...}}`.
fn change_data(old: Option<&Identity>, new: &Identity) -> String {
    serde_json::json!({ "old": old, "new": new }).to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn id(iccid: &str, imsi: Option<&str>) -> Identity {
        Identity { iccid: iccid.into(), imsi: imsi.map(Into::into) }
    }

    #[test]
    fn first_sim_is_recorded_then_a_swap_alerts_each_account_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = IdentityStore::new(dir.path());
        let q = AlertQueue::in_memory();
        let accounts = vec!["srv1".to_string(), "srv2".to_string()];
        assert!(!store.observe(&id("111", Some("901")), &q, &accounts).unwrap());
        assert!(q.is_empty());
        assert!(!store.observe(&id("111", None), &q, &accounts).unwrap(), "IMSI unknown is no change");
        assert!(store.observe(&id("222", Some("902")), &q, &accounts).unwrap());
        assert!(!store.observe(&id("222", Some("902")), &q, &accounts).unwrap());
        assert_eq!(q.len(), 2);
        let a = &q.pending("srv1")[0];
        assert_eq!(a.type_, SIM_CHANGE_TYPE);
        let v: serde_json::Value = serde_json::from_str(&a.data).unwrap();
        assert_eq!(v["old"]["iccid"], "111");
        assert_eq!(v["old"]["imsi"], "901");
        assert_eq!(v["new"]["imsi"], "902");
        assert_eq!(store.load().unwrap().unwrap(), id("222", Some("902")));
    }
}
