//! Exec on `./FUMO/<x>/{Download,Update,DownloadAndUpdate}`: the job is
//! queued (persisted) and answered 202; it runs after the session and its
//! result goes to the server in a Generic Alert 1226.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::legacy::Legacy;
use super::store::{FumoStore, Job, Operation};
use crate::dm::session::{ExecHandler, ExecRequest, FirmwareReply, FirmwareRequest};
use crate::dm::status::StatusCode;
use crate::dm::tree::{Kind, Tree, Value};

/// The FUMO Exec handler, for instances under `root` (e.g. `./FUMO`).
#[derive(Debug, Clone)]
pub struct FumoExec {
    root: String,
    store: Arc<Mutex<FumoStore>>,
    legacy: Option<Legacy>,
}

impl FumoExec {
    pub fn new(root: &str, store: Arc<Mutex<FumoStore>>) -> FumoExec {
        FumoExec { root: root.trim_end_matches('/').to_string(), store, legacy: None }
    }

    /// Also carries out the legacy firmware-update commands (`GetFirmwareUpdate`, ...).
    pub fn with_legacy(mut self, legacy: Option<Legacy>) -> FumoExec {
        self.legacy = legacy;
        self
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
    fn firmware(&mut self, req: &mut FirmwareRequest<'_>) -> FirmwareReply {
        match &self.legacy {
            Some(legacy) => legacy.handle(&self.store, req),
            None => StatusCode::OptionalFeatureNotSupported.into(),
        }
    }

    fn exec(&mut self, req: &ExecRequest<'_>) -> StatusCode {
        let Some((instance, operation)) = self.target(req.uri) else {
            return StatusCode::OptionalFeatureNotSupported;
        };
        let mut store = fotad_updater::sync::lock(&self.store);
        let pkg_url = match operation {
            Operation::Update => None,
            _ => Some(req.tree.leaf_text(&format!("{instance}/{}/PkgURL", operation.node())).unwrap_or_default()),
        };
        let pkg_file = match operation {
            Operation::Update => match staged_package(req.tree, &format!("{instance}/Update/PkgData"), &store) {
                Ok(file) => file,
                Err(_) => return StatusCode::DeviceFull,
            },
            _ => None,
        };
        let job =
            Job::accepted(instance, operation, req.server_id, req.correlator).with_url(pkg_url).with_file(pkg_file);
        accept(&mut store, job)
    }
}

/// Queues `job`: 202, or 500 when the queue cannot be stored.
pub(super) fn accept(store: &mut FumoStore, job: Job) -> StatusCode {
    match store.enqueue(job) {
        Ok(_) => StatusCode::AcceptedForProcessing,
        Err(_) => StatusCode::CommandFailed,
    }
}

/// The package the server delivered in `PkgData`, as a file: a large object
/// already is one; a small value is written beside the FUMO store.
fn staged_package(tree: &Tree, uri: &str, store: &FumoStore) -> std::io::Result<Option<PathBuf>> {
    let Some(node) = tree.parse_uri(uri).ok().and_then(|u| tree.node(&u.segments)) else {
        return Ok(None);
    };
    match &node.kind {
        Kind::Leaf(Value::File { path, size }) if *size > 0 => Ok(Some(path.clone())),
        Kind::Leaf(Value::Inline(bytes)) if !bytes.is_empty() => {
            let Some(dir) = store.staging_dir() else { return Ok(None) };
            let path = dir.join(format!("fumo-pkgdata-{}.fota", store.next_job_id()));
            crate::state_file::write_atomic(&path, bytes).map_err(std::io::Error::other)?;
            Ok(Some(path))
        }
        _ => Ok(None),
    }
}
