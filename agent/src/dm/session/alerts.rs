//! The queue of alerts other modules send to a DM server: generic alerts
//! (1226, e.g. FUMO results) and client events (1224). Persisted in the state
//! directory (`pending-alerts.json`) and removed only when the server
//! acknowledges them with a 2xx Status, so they survive reboots.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::dm::syncml::{Alert, Item, Loc, Meta};
use crate::state_file::{self, StateError};

/// Generic alert.
pub const ALERT_GENERIC: u32 = 1226;
/// Client event.
pub const ALERT_CLIENT_EVENT: u32 = 1224;

/// One queued alert.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QueuedAlert {
    /// Assigned by the queue.
    pub id: u64,
    /// 1226 or 1224.
    pub code: u32,
    /// Server to send it to; `None` = the next session with any server.
    pub server_id: Option<String>,
    pub correlator: Option<String>,
    /// Source LocURI (e.g. `./FUMO/x`).
    pub source: Option<String>,
    pub target: Option<String>,
    /// Meta Type (e.g. `org.openmobilealliance.dm.firmwareupdate.update`).
    pub type_: String,
    pub format: String,
    /// Meta Mark (`critical`, ...).
    pub mark: Option<String>,
    pub data: String,
}

impl QueuedAlert {
    /// A generic alert (1226) about the node `source` with an `int` result
    /// code, e.g. a FUMO result; `mark` is set to `critical` when `critical`.
    pub fn generic(source: &str, type_: &str, code: u16, correlator: Option<&str>, critical: bool) -> QueuedAlert {
        QueuedAlert {
            id: 0,
            code: ALERT_GENERIC,
            server_id: None,
            correlator: correlator.map(str::to_string),
            source: Some(source.to_string()),
            target: None,
            type_: type_.to_string(),
            format: "int".into(),
            mark: critical.then(|| "critical".to_string()),
            data: code.to_string(),
        }
    }

    /// The Alert command (CmdID filled in by the session).
    pub fn to_command(&self) -> Alert {
        let meta = Meta {
            type_: Some(self.type_.clone()).filter(|t| !t.is_empty()),
            format: Some(self.format.clone()).filter(|f| !f.is_empty()),
            mark: self.mark.clone(),
            ..Meta::default()
        };
        Alert {
            cmd_id: 0,
            no_resp: false,
            cred: None,
            correlator: self.correlator.clone(),
            data: self.code,
            items: vec![Item {
                source: self.source.clone().map(Loc::uri),
                target: self.target.clone().map(Loc::uri),
                meta: Some(meta),
                data: Some(self.data.clone().into_bytes()),
                more_data: false,
            }],
        }
    }
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Stored {
    next_id: u64,
    alerts: Vec<QueuedAlert>,
}

/// A cloneable handle to the persisted queue, shared between threads.
#[derive(Debug, Clone)]
pub struct AlertQueue {
    inner: Arc<Mutex<Stored>>,
    path: Option<PathBuf>,
}

impl AlertQueue {
    /// An in-memory queue (tests).
    pub fn in_memory() -> AlertQueue {
        AlertQueue { inner: Arc::default(), path: None }
    }

    /// Opens `<state_dir>/pending-alerts.json`.
    pub fn open(state_dir: &Path) -> Result<AlertQueue, StateError> {
        let path = state_dir.join("pending-alerts.json");
        let stored = match state_file::read_optional(&path)? {
            Some(b) => serde_json::from_slice(&b)
                .map_err(|e| StateError { path: path.clone(), source: std::io::Error::other(e) })?,
            None => Stored::default(),
        };
        Ok(AlertQueue { inner: Arc::new(Mutex::new(stored)), path: Some(path) })
    }

    /// Queues an alert (its `id` is replaced); returns the id.
    pub fn push(&self, mut alert: QueuedAlert) -> Result<u64, StateError> {
        self.update(|s| {
            s.next_id += 1;
            alert.id = s.next_id;
            s.alerts.push(alert);
            s.next_id
        })
    }

    /// Alerts waiting for `server_id` (including those for any server).
    pub fn pending(&self, server_id: &str) -> Vec<QueuedAlert> {
        let s = fotad_updater::sync::lock(&self.inner);
        s.alerts.iter().filter(|a| a.server_id.as_deref().map_or(true, |id| id == server_id)).cloned().collect()
    }

    /// Removes an acknowledged alert.
    pub fn ack(&self, id: u64) -> Result<(), StateError> {
        self.update(|s| s.alerts.retain(|a| a.id != id))
    }

    pub fn len(&self) -> usize {
        fotad_updater::sync::lock(&self.inner).alerts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn update<R>(&self, f: impl FnOnce(&mut Stored) -> R) -> Result<R, StateError> {
        let mut s = fotad_updater::sync::lock(&self.inner);
        let r = f(&mut s);
        if let Some(path) = &self.path {
            let bytes = serde_json::to_vec(&*s)
                .map_err(|e| StateError { path: path.clone(), source: std::io::Error::other(e) })?;
            state_file::write_atomic(path, &bytes)?;
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn alert(server: Option<&str>) -> QueuedAlert {
        let update = "org.openmobilealliance.dm.firmwareupdate.update";
        QueuedAlert {
            server_id: server.map(str::to_string),
            ..QueuedAlert::generic("./FUMO/x", update, 410, Some("c1"), true)
        }
    }

    #[test]
    fn queued_alerts_persist_until_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let q = AlertQueue::open(dir.path()).unwrap();
        let a = q.push(alert(Some("srv1"))).unwrap();
        q.push(alert(None)).unwrap();
        q.push(alert(Some("srv2"))).unwrap();
        assert_eq!(q.pending("srv1").len(), 2);
        let q2 = AlertQueue::open(dir.path()).unwrap();
        assert_eq!(q2.len(), 3);
        q2.ack(a).unwrap();
        assert_eq!(AlertQueue::open(dir.path()).unwrap().pending("srv1").len(), 1);
    }

    #[test]
    fn converts_to_a_generic_alert_command() {
        let c = alert(None).to_command();
        assert_eq!(c.data, 1226);
        assert_eq!(c.correlator.as_deref(), Some("c1"));
        let m = c.items[0].meta.as_ref().unwrap();
        assert_eq!(m.mark.as_deref(), Some("critical"));
        assert_eq!(c.items[0].data.as_deref(), Some(&b"410"[..]));
    }
}
