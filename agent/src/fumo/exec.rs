//! Exec on `./FUMO/<x>/{Download,Update,DownloadAndUpdate}`: the job is
//! queued (persisted) and answered 202; it runs after the session and its
//! result goes to the server in a Generic Alert 1226.

use std::sync::{Arc, Mutex};

use super::store::{FumoStore, Job, Operation, Phase};
use crate::session::{ExecHandler, ExecRequest};
use crate::status::StatusCode;

/// The FUMO Exec handler, for instances under `root` (e.g. `./FUMO`).
#[derive(Debug, Clone)]
pub struct FumoExec {
    root: String,
    store: Arc<Mutex<FumoStore>>,
}

impl FumoExec {
    pub fn new(root: &str, store: Arc<Mutex<FumoStore>>) -> FumoExec {
        FumoExec { root: root.trim_end_matches('/').to_string(), store }
    }

    /// Splits `./FUMO/x/DownloadAndUpdate` into (`./FUMO/x`, operation).
    fn target<'u>(&self, uri: &'u str) -> Option<(&'u str, Operation)> {
        let rest = uri.strip_prefix(&self.root)?.strip_prefix('/')?;
        let (name, node) = rest.split_once('/')?;
        let op = Operation::from_node(node)?;
        (!name.is_empty() && !name.contains('/')).then(|| (&uri[..self.root.len() + 1 + name.len()], op))
    }
}

impl ExecHandler for FumoExec {
    fn exec(&mut self, req: &ExecRequest<'_>) -> StatusCode {
        let Some((instance, operation)) = self.target(req.uri) else {
            return StatusCode::OptionalFeatureNotSupported;
        };
        let pkg_url = match operation {
            Operation::Update => None,
            _ => Some(req.tree.leaf_text(&format!("{instance}/{}/PkgURL", operation.node())).unwrap_or_default()),
        };
        let job = Job {
            id: 0,
            instance: instance.to_string(),
            operation,
            pkg_url,
            correlator: req.correlator.map(str::to_string),
            server_id: req.server_id.to_string(),
            phase: Phase::Queued,
        };
        match self.store.lock().map(|mut s| s.enqueue(job)) {
            Ok(Ok(_)) => StatusCode::AcceptedForProcessing,
            _ => StatusCode::CommandFailed,
        }
    }
}
