//! The DM tree: interior and leaf nodes with properties, ACL checks per server,
//! URI validation, `?prop=` and `?list=`, dynamic leaves served by code, and
//! atomic persistence in the state directory.

mod acl;
mod list;
mod node;
mod ops;
#[cfg(test)]
mod tests;
mod uri;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use acl::{Acl, AclCmd};
pub use list::TNDS_XML;
pub use node::{now_stamp, Kind, Node, Value};
pub use ops::NewValue;
pub use uri::{join, ListKind, Query, Uri, UriLimits};

use crate::state_file::{self, StateError};

/// A value computed when read (DevDetail/FwV from the updater, DevInfo/Lang...).
pub type DynamicFn = Arc<dyn Fn() -> String + Send + Sync>;

/// Who asks: the device itself (no ACL checks) or a DM server by ServerID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who<'a> {
    Local,
    Server(&'a str),
}

/// Tree errors; each carries the URI concerned. [`crate::dm::status`] maps them to
/// DM status codes.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("node {0} does not exist")]
    NotFound(String),
    #[error("node {0} already exists")]
    AlreadyExists(String),
    #[error("server {server} may not {cmd} {uri} (ACL)")]
    AclDenied { uri: String, cmd: AclCmd, server: String },
    #[error("server {server} may not change the ACL of {uri}: {rule}")]
    AclChangeDenied { uri: String, server: String, rule: &'static str },
    #[error("{what} is not allowed on {uri}")]
    NotAllowed { uri: String, what: &'static str },
    #[error("malformed URI {0:?}")]
    BadUri(String),
    #[error("URI {0:?} exceeds the DevDetail/URI limits")]
    UriTooLong(String),
    #[error("property {prop} of {uri} is not supported")]
    UnsupportedProperty { uri: String, prop: String },
    #[error("value for {uri} does not match format {format}")]
    BadFormat { uri: String, format: String },
    #[error("parent {0} is a leaf")]
    ParentIsLeaf(String),
    #[error("reading large object of {uri}: {source}")]
    Io { uri: String, source: std::io::Error },
    #[error(transparent)]
    State(#[from] StateError),
}

/// The state [`Tree::rollback`] returns to.
pub struct Checkpoint {
    root: Node,
    dynamic: HashMap<String, DynamicFn>,
}

impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoint").field("root", &self.root).finish_non_exhaustive()
    }
}

/// What a Get returns per item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetItem {
    pub uri: String,
    pub format: String,
    pub type_: String,
    /// `None` for `?list=Struct` entries.
    pub data: Option<Value>,
}

/// The DM tree.
pub struct Tree {
    root: Node,
    limits: UriLimits,
    file: Option<PathBuf>,
    dynamic: HashMap<String, DynamicFn>,
}

impl std::fmt::Debug for Tree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tree").field("root", &self.root).field("file", &self.file).finish_non_exhaustive()
    }
}

/// Name of the tree file in the state directory.
pub const TREE_FILE: &str = "dmtree.json";

impl Tree {
    /// An empty, unpersisted tree; the root ACL is `Add=*&Get=*`.
    pub fn new(limits: UriLimits) -> Tree {
        let mut root = Node::interior();
        root.acl = Acl::parse("Add=*&Get=*").unwrap_or_default();
        root.permanent = true;
        Tree { root, limits, file: None, dynamic: HashMap::new() }
    }

    /// Opens the tree persisted in `state_dir` (empty when there is none yet).
    pub fn open(state_dir: &Path, limits: UriLimits) -> Result<Tree, TreeError> {
        let file = state_dir.join(TREE_FILE);
        let mut tree = Tree::new(limits);
        if let Some(bytes) = state_file::read_optional(&file)? {
            tree.root = serde_json::from_slice(&bytes)
                .map_err(|e| TreeError::State(StateError { path: file.clone(), source: std::io::Error::other(e) }))?;
        }
        tree.file = Some(file);
        Ok(tree)
    }

    /// Writes the tree atomically (no-op for an unpersisted tree).
    pub fn save(&self) -> Result<(), TreeError> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let bytes = serde_json::to_vec(&self.root)
            .map_err(|e| StateError { path: file.clone(), source: std::io::Error::other(e) })?;
        Ok(state_file::write_atomic(file, &bytes)?)
    }

    pub fn limits(&self) -> UriLimits {
        self.limits
    }

    pub fn parse_uri(&self, raw: &str) -> Result<Uri, TreeError> {
        Uri::parse(raw, &self.limits)
    }

    /// Serves the leaf at `uri` from `f` on every read.
    pub fn set_dynamic(&mut self, uri: &str, f: DynamicFn) -> Result<(), TreeError> {
        let u = self.parse_uri(uri)?;
        if self.node(&u.segments).is_none() {
            self.put_leaf(uri, b"", "chr")?;
        }
        self.dynamic.insert(u.path(), f);
        Ok(())
    }

    /// A copy of the nodes (tests compare trees with it).
    pub fn snapshot(&self) -> Node {
        self.root.clone()
    }

    pub fn restore(&mut self, snapshot: Node) {
        self.root = snapshot;
    }

    /// Everything an Atomic may change: the nodes and the leaves served by code.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint { root: self.root.clone(), dynamic: self.dynamic.clone() }
    }

    /// Returns to `cp` (Atomic rollback). Large-object files that values set
    /// since then point to, and `cp` does not, are deleted; the tree file is
    /// written by the next [`Tree::save`], as after every server message.
    pub fn rollback(&mut self, cp: Checkpoint) {
        let mut kept = std::collections::HashSet::new();
        cp.root.files(&mut |p| {
            kept.insert(p.to_path_buf());
        });
        self.root.files(&mut |p| {
            if !kept.contains(p) {
                let _ = std::fs::remove_file(p);
            }
        });
        self.root = cp.root;
        self.dynamic = cp.dynamic;
    }

    pub(crate) fn node(&self, segments: &[String]) -> Option<&Node> {
        let mut n = &self.root;
        for s in segments {
            n = n.children()?.get(s)?;
        }
        Some(n)
    }

    pub(crate) fn node_mut(&mut self, segments: &[String]) -> Option<&mut Node> {
        let mut n = &mut self.root;
        for s in segments {
            n = n.children_mut()?.get_mut(s)?;
        }
        Some(n)
    }

    /// True when a node exists at `uri`.
    pub fn exists(&self, uri: &str) -> bool {
        self.parse_uri(uri).ok().and_then(|u| self.node(&u.segments).map(|_| ())).is_some()
    }

    /// The inline value of a leaf (dynamic leaves computed), for local readers.
    pub fn leaf_text(&self, uri: &str) -> Option<String> {
        let u = self.parse_uri(uri).ok()?;
        if let Some(f) = self.dynamic.get(&u.path()) {
            return Some(f());
        }
        match &self.node(&u.segments)?.kind {
            Kind::Leaf(Value::Inline(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }

    /// Names of the children of an interior node.
    pub fn child_names(&self, uri: &str) -> Vec<String> {
        let Ok(u) = self.parse_uri(uri) else {
            return Vec::new();
        };
        self.node(&u.segments).and_then(Node::children).map(|c| c.keys().cloned().collect()).unwrap_or_default()
    }

    /// The ACL that applies to a node: its own, else the nearest ancestor's.
    pub fn effective_acl(&self, segments: &[String]) -> Acl {
        let mut acl = self.root.acl.clone();
        let mut n = &self.root;
        for s in segments {
            match n.children().and_then(|c| c.get(s)) {
                Some(child) => {
                    if !child.acl.is_empty() {
                        acl = child.acl.clone();
                    }
                    n = child;
                }
                None => break,
            }
        }
        acl
    }

    /// Whether `who` may replace the ACL of `node` at `segments` (DM-TND,
    /// "Changing the ACL"): for a leaf, Replace rights on its parent; for an
    /// interior node, Replace rights on the node itself or on its parent.
    /// The root's ACL and device-owned nodes belong to the device (405).
    pub(crate) fn check_acl_change(&self, who: Who<'_>, segments: &[String], node: &Node) -> Result<(), TreeError> {
        let Who::Server(server) = who else {
            return Ok(());
        };
        let Some((_, parent)) = segments.split_last() else {
            return Err(TreeError::NotAllowed {
                uri: ".".into(),
                what: "changing the root's ACL (it belongs to the device)",
            });
        };
        let on_parent = self.effective_acl(parent).allows(AclCmd::Replace, server);
        let on_node = !node.is_leaf() && self.effective_acl(segments).allows(AclCmd::Replace, server);
        if !on_parent && !on_node {
            let rule = if node.is_leaf() {
                "a leaf's ACL needs Replace rights on its parent"
            } else {
                "an interior node's ACL needs Replace rights on the node or on its parent"
            };
            return Err(TreeError::AclChangeDenied { uri: join(segments), server: server.to_string(), rule });
        }
        check_not_device_owned(who, segments, node)
    }

    pub(crate) fn check(&self, who: Who<'_>, cmd: AclCmd, segments: &[String]) -> Result<(), TreeError> {
        let Who::Server(server) = who else {
            return Ok(());
        };
        if self.effective_acl(segments).allows(cmd, server) {
            Ok(())
        } else {
            Err(TreeError::AclDenied { uri: join(segments), cmd, server: server.to_string() })
        }
    }
}

/// Refuses a server's change to a node the device owns (405).
pub(crate) fn check_not_device_owned(who: Who<'_>, segments: &[String], node: &Node) -> Result<(), TreeError> {
    match who {
        Who::Server(_) if node.device_owned => {
            Err(TreeError::NotAllowed { uri: join(segments), what: "a server's change to a node the device owns" })
        }
        _ => Ok(()),
    }
}
