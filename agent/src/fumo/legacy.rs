//! The firmware-update commands of the early SyncML DM proposal that predates
//! FUMO (XML only), for servers built on it, mapped onto the FUMO jobs:
//!
//! | command | does |
//! |---|---|
//! | `GetFirmwareUpdate`, `Download` | a FUMO Download job (202) into the inactive slot; 200 and nothing fetched when the same package is there already |
//! | `VerifyFirmwareUpdate` | reads the slot back against the signed manifest now; the result code goes into the Target node |
//! | `SaveFirmwareUpdate` | checks the verified package is still in the slot, for Apply |
//! | `ApplyFirmwareUpdate`, `Update` | a FUMO Update job (202): activation, reboot, result after the boot |
//! | `ConfirmFirmwareUpdate` | returns the last result (Results, Source = the Target) and closes a finished update |
//!
//! Each Target is a package node `<root>/<name>` (e.g. `./FwUpdate/Pkg1`): a
//! leaf whose value is the result code of the last command or job on it,
//! served live from the FUMO store. It is also the FUMO instance of its jobs,
//! so their Generic Alerts 1226 name it as Source.

use std::sync::{Arc, Mutex, MutexGuard};

use fotad_updater::install::{Records, Status};
use fotad_updater::ErrorKind;

use super::exec::accept;
use super::result::FumoResult;
use super::state::FumoState;
use super::store::{FumoStore, Job, Operation, Ready};
use crate::dm::session::{default_answer, FirmwareReply, FirmwareRequest, Prompt, PromptKind, UiAnswer, UiOptions};
use crate::dm::status::StatusCode;
use crate::dm::syncml::FirmwareAction;
use crate::dm::tree::{Acl, DynamicFn, Tree, TreeError, Who};
use crate::i18n::{self, Msg};

/// How long a `DL_Prompt=1` confirmation waits for the user, seconds.
const PROMPT_SECONDS: u32 = 300;

/// Where the legacy package nodes live and what their commands need.
#[derive(Debug, Clone)]
pub struct Legacy {
    /// The interior node above the package nodes (e.g. `./FwUpdate`).
    pub root: String,
    /// Slots, keys and state of the updater (Verify, Save, "already present").
    pub updater: fotad_updater::config::Settings,
    /// The language of the `DL_Prompt` confirmation.
    pub language: String,
}

/// Creates the legacy root (permanent, with `acl` without its Replace
/// entries: the commands need Get and Exec only, and Replace rights on the
/// root would let a server change its ACL and lock the others out) and
/// serves the value of every package node already in the tree from `store`.
pub fn install_legacy(tree: &mut Tree, root: &str, store: &Arc<Mutex<FumoStore>>, acl: &str) -> Result<(), TreeError> {
    tree.put_interior(root)?;
    let acl = Acl::parse(acl).unwrap_or_default().without(crate::dm::tree::AclCmd::Replace);
    tree.with_node(root, |n| {
        n.acl = acl;
        n.permanent = true;
    })?;
    for name in tree.child_names(root) {
        serve_result(tree, &format!("{root}/{name}"), store)?;
    }
    Ok(())
}

/// Makes `uri` a leaf showing the last result code of its instance.
fn serve_result(tree: &mut Tree, uri: &str, store: &Arc<Mutex<FumoStore>>) -> Result<(), TreeError> {
    if !tree.exists(uri) {
        tree.put_leaf(uri, b"", "int")?;
    }
    let (key, store) = (uri.to_string(), Arc::clone(store));
    let value: DynamicFn = Arc::new(move || lock(&store).result(&key).map(|r| r.to_string()).unwrap_or_default());
    tree.set_dynamic(uri, value)
}

fn lock(store: &Mutex<FumoStore>) -> MutexGuard<'_, FumoStore> {
    fotad_updater::sync::lock(store)
}

/// `DL_URL=` and `DL_Prompt=` from a command's Data, separated by `&`, `;`
/// or line breaks; an `&` inside the URL stays part of it (only `&DL_` starts
/// the next parameter).
#[derive(Debug, Default, PartialEq, Eq)]
struct Params {
    url: Option<String>,
    prompt: bool,
}

impl Params {
    fn parse(data: Option<&[u8]>) -> Params {
        let text = String::from_utf8_lossy(data.unwrap_or_default());
        let mut p = Params::default();
        for field in fields(&text) {
            let Some((key, value)) = field.split_once('=') else { continue };
            match key.trim().to_ascii_uppercase().as_str() {
                "DL_URL" => p.url = Some(value.trim().to_string()).filter(|u| !u.is_empty()),
                "DL_PROMPT" => p.prompt = value.trim() == "1",
                _ => {}
            }
        }
        p
    }
}

/// The `key=value` fields of `text`.
fn fields(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for line in text.split([';', '\n', '\r']) {
        let mut start = 0;
        for (i, _) in line.match_indices('&') {
            if line[i + 1..].to_ascii_uppercase().starts_with("DL_") {
                out.push(line[start..i].trim());
                start = i + 1;
            }
        }
        out.push(line[start..].trim());
    }
    out
}

impl Legacy {
    /// Carries out one item of a legacy command.
    pub fn handle(&self, store: &Arc<Mutex<FumoStore>>, req: &mut FirmwareRequest<'_>) -> FirmwareReply {
        let Some(uri) = self.package_node(req.tree, req.target) else {
            return StatusCode::NotFound.into();
        };
        // The package node may not exist yet: its root's ACL decides then.
        let acl_node = if req.tree.exists(&uri) { uri.as_str() } else { self.root.as_str() };
        if let Err(e) = req.tree.check_exec(Who::Server(req.server_id), acl_node) {
            return StatusCode::from(&e).into();
        }
        match req.cmd.action() {
            FirmwareAction::Get => self.get(store, req, &uri).into(),
            FirmwareAction::Verify => self.verify(store, &uri).into(),
            FirmwareAction::Save => self.save(store, &uri).into(),
            FirmwareAction::Apply => apply(store, req, &uri).into(),
            FirmwareAction::Confirm => confirm(store, &uri),
        }
    }

    /// The canonical URI of a Target one level below the root, else `None`.
    fn package_node(&self, tree: &Tree, target: &str) -> Option<String> {
        let root = tree.parse_uri(&self.root).ok()?;
        let uri = tree.parse_uri(target).ok()?;
        let under = uri.segments.len() == root.segments.len() + 1 && uri.segments.starts_with(&root.segments);
        under.then(|| uri.path())
    }

    fn get(&self, store: &Arc<Mutex<FumoStore>>, req: &mut FirmwareRequest<'_>, uri: &str) -> StatusCode {
        let params = Params::parse(req.data);
        let Some(url) = params.url.clone().or_else(|| req.source.map(str::to_string)).filter(|u| !u.is_empty()) else {
            return StatusCode::IncompleteCommand;
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return StatusCode::BadRequest;
        }
        if self.present(&lock(store), uri, &url) {
            return StatusCode::Ok;
        }
        if serve_result(req.tree, uri, store).is_err() {
            return StatusCode::CommandFailed;
        }
        if params.prompt && !self.user_agrees(req, uri) {
            let _ = lock(store).set_result(uri, FumoResult::UserCancelled);
            return StatusCode::OperationCancelled;
        }
        let job = Job::accepted(uri, Operation::Download, req.server_id, req.correlator).with_url(Some(url));
        accept(&mut lock(store), job)
    }

    /// True when `url` was downloaded for `uri` and the inactive slot still
    /// holds that package, verified (a repeated Get is skipped).
    fn present(&self, store: &FumoStore, uri: &str, url: &str) -> bool {
        ready(store, uri).is_some_and(|d| d.url == url && self.holds(&d.package))
    }

    /// Whether the installer's record says the inactive slot holds `package`.
    fn holds(&self, package: &str) -> bool {
        matches!(
            Records::new(&self.updater.state_dir).status(),
            Ok(Some(Status::Installed { package: p, .. })) if p == package
        )
    }

    fn user_agrees(&self, req: &FirmwareRequest<'_>, uri: &str) -> bool {
        let name = uri.rsplit('/').next().unwrap_or(uri);
        let prompt = Prompt {
            kind: PromptKind::Confirm,
            options: UiOptions { max_dt: Some(PROMPT_SECONDS), ..UiOptions::default() },
            text: i18n::text(&self.language, Msg::ConfirmDownload, &[name]),
            choices: Vec::new(),
            server_id: req.server_id.to_string(),
        };
        let answer = req.ui.prompt(&prompt).unwrap_or_else(|| default_answer(&prompt));
        answer == UiAnswer::Accepted
    }

    /// Reads the slot back now; the result code goes into the node. A slot
    /// that does not verify is forgotten (a new Get fetches the package again).
    fn verify(&self, store: &Arc<Mutex<FumoStore>>, uri: &str) -> StatusCode {
        let Some(package) = ready(&lock(store), uri).map(|d| d.package.clone()) else {
            return StatusCode::NotFound;
        };
        let result = match fotad_updater::update::verify_installed(&self.updater) {
            Ok(installed) if installed.package == package => FumoResult::Successful,
            // The slot holds another package now: nothing of this one to verify.
            Ok(_) => FumoResult::ClientError,
            // The slot does not read back as the package says: the package is corrupt there.
            Err(e) if e.kind() == ErrorKind::VerifyFailed => FumoResult::CorruptedPackage,
            Err(e) => FumoResult::from(&e),
        };
        let mut store = lock(store);
        let _ = store.set_result(uri, result);
        if result.is_success() {
            return StatusCode::Ok;
        }
        let _ = store.reset(uri);
        StatusCode::CommandFailed
    }

    /// The package Get downloaded is kept for Apply. Our Get already wrote it
    /// into the inactive slot and synced it, so Save checks that it is still
    /// there.
    fn save(&self, store: &Arc<Mutex<FumoStore>>, uri: &str) -> StatusCode {
        let mut store = lock(store);
        if !ready(&store, uri).is_some_and(|d| self.holds(&d.package)) {
            return StatusCode::NotFound;
        }
        match store.set_result(uri, FumoResult::Successful) {
            Ok(()) => StatusCode::Ok,
            Err(_) => StatusCode::CommandFailed,
        }
    }
}

/// The package a finished Get left for `uri`, when nothing else is queued for it.
fn ready<'s>(store: &'s FumoStore, uri: &str) -> Option<&'s Ready> {
    let idle = !store.jobs().any(|j| j.instance == uri);
    let ready = store.state(uri) == FumoState::ReadyToUpdate;
    store.ready(uri).filter(|_| idle && ready)
}

/// Queues the FUMO Update job: activation, reboot, result after the boot.
fn apply(store: &Arc<Mutex<FumoStore>>, req: &FirmwareRequest<'_>, uri: &str) -> StatusCode {
    let mut store = lock(store);
    if ready(&store, uri).is_none() {
        return StatusCode::NotFound;
    }
    accept(&mut store, Job::accepted(uri, Operation::Update, req.server_id, req.correlator))
}

/// The last result of `uri` in a Results item; a finished update is closed
/// (its instance returns to Idle). 202 while a job of it still runs.
fn confirm(store: &Arc<Mutex<FumoStore>>, uri: &str) -> FirmwareReply {
    let mut store = lock(store);
    if store.jobs().any(|j| j.instance == uri) {
        return StatusCode::AcceptedForProcessing.into();
    }
    let Some(result) = store.result(uri) else {
        return StatusCode::NotFound.into();
    };
    let state = store.state(uri);
    if !matches!(state, FumoState::Idle | FumoState::ReadyToUpdate) && store.reset(uri).is_err() {
        return StatusCode::CommandFailed.into();
    }
    FirmwareReply { status: StatusCode::Ok, result: Some(result.to_string()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_download_parameters() {
        let p = Params::parse(Some(b"DL_URL=http://h/u.fota&DL_Prompt=1"));
        assert_eq!(p, Params { url: Some("http://h/u.fota".into()), prompt: true });
        let p = Params::parse(Some(b"dl_prompt = 0\nDL_URL = https://h/x?a=b\n"));
        assert_eq!(p, Params { url: Some("https://h/x?a=b".into()), prompt: false });
        let p = Params::parse(Some(b"DL_URL=http://h/get?id=7&arch=arm&DL_Prompt=1"));
        assert_eq!(p, Params { url: Some("http://h/get?id=7&arch=arm".into()), prompt: true });
        assert_eq!(Params::parse(None), Params::default());
        assert_eq!(Params::parse(Some(b"garbage&DL_URL=")), Params::default());
    }
}
