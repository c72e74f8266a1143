//! Tree operations: the server commands (with ACL checks) and local helpers
//! used to build the standard objects.

use std::collections::BTreeMap;

use super::{check_not_device_owned, AclCmd, GetItem, Kind, Node, Query, Tree, TreeError, Uri, Value, Who};
use crate::dm::tree::acl::Acl;

/// A value and its metadata for Add/Replace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewValue {
    /// `None` keeps the current format (Replace) or means `chr` (Add).
    pub format: Option<String>,
    pub type_: Option<String>,
    pub value: Value,
}

impl Tree {
    /// Get: a leaf's value, an interior node's child list, a property or a list.
    pub fn get(&self, who: Who<'_>, raw: &str) -> Result<Vec<GetItem>, TreeError> {
        let uri = self.parse_uri(raw)?;
        let node = self.node(&uri.segments).ok_or_else(|| TreeError::NotFound(uri.path()))?;
        self.check(who, AclCmd::Get, &uri.segments)?;
        match &uri.query {
            Query::None => Ok(vec![self.item(&uri, node, true)?]),
            Query::Prop(p) => Ok(vec![self.prop(&uri, node, p)?]),
            Query::List(kind) => self.list(who, &uri, node, *kind),
        }
    }

    /// The Get item of one node; `with_data` false for Struct lists.
    pub(crate) fn item(&self, uri: &Uri, node: &Node, with_data: bool) -> Result<GetItem, TreeError> {
        let path = uri.path();
        let data = match &node.kind {
            _ if !with_data => None,
            Kind::Interior(c) => Some(Value::Inline(c.keys().cloned().collect::<Vec<_>>().join("/").into_bytes())),
            Kind::Leaf(_) if node.secret => return Err(TreeError::NotAllowed { uri: path, what: "Get" }),
            Kind::Leaf(v) => Some(match self.dynamic.get(&path) {
                Some(f) => Value::Inline(f().into_bytes()),
                None => v.clone(),
            }),
        };
        Ok(GetItem { uri: path, format: node.format.clone(), type_: node.type_.clone(), data })
    }

    fn prop(&self, uri: &Uri, node: &Node, prop: &str) -> Result<GetItem, TreeError> {
        let text = match prop {
            "ACL" => node.acl.to_string(),
            "Format" => node.format.clone(),
            "Type" => node.type_.clone(),
            "Name" => uri.segments.last().cloned().unwrap_or_else(|| ".".into()),
            "Size" if node.is_leaf() => self.item(uri, node, true)?.data.map(|v| v.size()).unwrap_or(0).to_string(),
            "Title" => node.title.clone().unwrap_or_default(),
            "TStamp" => node.tstamp.clone().unwrap_or_default(),
            "VerNo" => node.verno.to_string(),
            _ => return Err(TreeError::UnsupportedProperty { uri: uri.path(), prop: prop.into() }),
        };
        Ok(GetItem {
            uri: format!("{}?prop={prop}", uri.path()),
            format: "chr".into(),
            type_: "text/plain".into(),
            data: Some(Value::Inline(text.into_bytes())),
        })
    }

    /// Add: creates a node (interior when the format is `node`), creating
    /// missing interior ancestors; Add permission is checked on the parent.
    /// An interior node a server adds without Replace rights on its parent
    /// gets an ACL of its own giving that server Add, Delete, Get and Replace
    /// (DM-TND); every other new node inherits its parent's.
    pub fn add(&mut self, who: Who<'_>, raw: &str, v: NewValue) -> Result<(), TreeError> {
        let uri = self.parse_uri(raw)?;
        if uri.query != Query::None {
            return Err(TreeError::NotAllowed { uri: raw.into(), what: "Add with a query" });
        }
        let (name, parent) = uri.segments.split_last().ok_or_else(|| TreeError::AlreadyExists(".".into()))?;
        if self.node(&uri.segments).is_some() {
            return Err(TreeError::AlreadyExists(uri.path()));
        }
        self.check(who, AclCmd::Add, parent)?;
        validate_format(&uri, &v)?;
        let owner = self.owner_acl(who, &uri.segments, v.format.as_deref() == Some("node"));
        let node = match v.format.as_deref() {
            Some("node") => Node::interior(),
            f => Node::leaf(Vec::new(), f.unwrap_or("chr"), v.type_.as_deref().unwrap_or("text/plain")),
        };
        let mut node = node;
        if let Kind::Leaf(val) = &mut node.kind {
            *val = v.value;
        } else if let Some(t) = v.type_ {
            node.type_ = t;
        }
        node.touch();
        self.ensure_parents(parent)?.insert(name.clone(), node);
        if let Some((depth, acl)) = owner {
            if let Some(n) = self.node_mut(&uri.segments[..depth]) {
                n.acl = acl;
            }
        }
        Ok(())
    }

    /// For an Add of `segments` by a server: the depth of the topmost node the
    /// Add creates and the ACL it gets, when that node is interior and the
    /// server has no Replace rights on its parent.
    fn owner_acl(&self, who: Who<'_>, segments: &[String], interior: bool) -> Option<(usize, Acl)> {
        let Who::Server(server) = who else {
            return None;
        };
        let existing = (1..=segments.len()).take_while(|&d| self.node(&segments[..d]).is_some()).count();
        let topmost_interior = existing + 1 < segments.len() || interior;
        if !topmost_interior || self.effective_acl(&segments[..existing]).allows(AclCmd::Replace, server) {
            return None;
        }
        Some((existing + 1, Acl::owner(server)))
    }

    /// The children map of `segments`, creating missing interior nodes.
    fn ensure_parents(&mut self, segments: &[String]) -> Result<&mut BTreeMap<String, Node>, TreeError> {
        let mut n = &mut self.root;
        for (i, s) in segments.iter().enumerate() {
            let children = n.children_mut().ok_or_else(|| TreeError::ParentIsLeaf(super::join(&segments[..i])))?;
            n = children.entry(s.clone()).or_insert_with(Node::interior);
        }
        n.children_mut().ok_or_else(|| TreeError::ParentIsLeaf(super::join(segments)))
    }

    /// Replace: a leaf's value, or the ACL/Name/Title property of any node.
    pub fn replace(&mut self, who: Who<'_>, raw: &str, v: NewValue) -> Result<(), TreeError> {
        let uri = self.parse_uri(raw)?;
        let node = self.node(&uri.segments).ok_or_else(|| TreeError::NotFound(uri.path()))?;
        match &uri.query {
            Query::Prop(p) if p == "ACL" => self.check_acl_change(who, &uri.segments, node)?,
            _ => {
                self.check(who, AclCmd::Replace, &uri.segments)?;
                check_not_device_owned(who, &uri.segments, node)?;
            }
        }
        if let Query::Prop(p) = &uri.query {
            return self.replace_prop(&uri, p, &v.value);
        }
        if !node.is_leaf() {
            return Err(TreeError::NotAllowed { uri: uri.path(), what: "Replace of an interior node's value" });
        }
        if self.dynamic.contains_key(&uri.path()) {
            return Err(TreeError::NotAllowed { uri: uri.path(), what: "Replace of a value computed by the device" });
        }
        validate_format(&uri, &v)?;
        let node = self.node_mut(&uri.segments).ok_or_else(|| TreeError::NotFound(uri.path()))?;
        if let Some(f) = v.format {
            node.format = f;
        }
        if let Some(t) = v.type_ {
            node.type_ = t;
        }
        node.kind = Kind::Leaf(v.value);
        node.touch();
        Ok(())
    }

    fn replace_prop(&mut self, uri: &Uri, prop: &str, value: &Value) -> Result<(), TreeError> {
        let Value::Inline(bytes) = value else {
            return Err(TreeError::NotAllowed { uri: uri.path(), what: "large object as a property" });
        };
        let text = String::from_utf8_lossy(bytes).trim().to_string();
        match prop {
            "ACL" => {
                let acl =
                    Acl::parse(&text).ok_or_else(|| TreeError::BadFormat { uri: uri.path(), format: "ACL".into() })?;
                self.node_mut(&uri.segments).ok_or_else(|| TreeError::NotFound(uri.path()))?.acl = acl;
            }
            "Title" => {
                self.node_mut(&uri.segments).ok_or_else(|| TreeError::NotFound(uri.path()))?.title = Some(text);
            }
            "Name" => self.rename(uri, &text)?,
            "Format" | "Type" | "Size" | "TStamp" | "VerNo" => {
                return Err(TreeError::NotAllowed { uri: uri.path(), what: "Replace of a read-only property" })
            }
            _ => return Err(TreeError::UnsupportedProperty { uri: uri.path(), prop: prop.into() }),
        }
        Ok(())
    }

    fn rename(&mut self, uri: &Uri, new_name: &str) -> Result<(), TreeError> {
        let bad = || TreeError::BadUri(new_name.to_string());
        if new_name.is_empty() || new_name.contains('/') || new_name == "." || new_name == ".." {
            return Err(bad());
        }
        let (old, parent) = split_last(uri, "renaming the root")?;
        let children =
            self.node_mut(parent).and_then(Node::children_mut).ok_or_else(|| TreeError::NotFound(uri.path()))?;
        if children.get(old).is_some_and(|n| n.permanent) {
            return Err(TreeError::NotAllowed { uri: uri.path(), what: "renaming a permanent node" });
        }
        if children.contains_key(new_name) {
            return Err(TreeError::AlreadyExists(new_name.to_string()));
        }
        let node = children.remove(old).ok_or_else(|| TreeError::NotFound(uri.path()))?;
        children.insert(new_name.to_string(), node);
        Ok(())
    }

    /// Delete: a node and its subtree; the root and permanent nodes refuse.
    pub fn delete(&mut self, who: Who<'_>, raw: &str) -> Result<(), TreeError> {
        let uri = self.parse_uri(raw)?;
        let node = self.node(&uri.segments).ok_or_else(|| TreeError::NotFound(uri.path()))?;
        if node.permanent || node.device_owned || uri.segments.is_empty() || uri.query != Query::None {
            return Err(TreeError::NotAllowed { uri: uri.path(), what: "Delete" });
        }
        self.check(who, AclCmd::Delete, &uri.segments)?;
        let (name, parent) = uri.segments.split_last().ok_or_else(|| TreeError::NotFound(uri.path()))?;
        if let Some(c) = self.node_mut(parent).and_then(Node::children_mut) {
            c.remove(name);
        }
        let prefix = format!("{}/", uri.path());
        self.dynamic.retain(|k, _| *k != uri.path() && !k.starts_with(&prefix));
        Ok(())
    }

    /// Copy: the source leaf's value to the target (Add, or Replace when it exists).
    pub fn copy(&mut self, who: Who<'_>, source: &str, target: &str) -> Result<(), TreeError> {
        let src = self.parse_uri(source)?;
        let node = self.node(&src.segments).ok_or_else(|| TreeError::NotFound(src.path()))?;
        if !node.is_leaf() {
            return Err(TreeError::NotAllowed { uri: src.path(), what: "Copy of an interior node" });
        }
        let item = self.get(who, source)?.into_iter().next().ok_or_else(|| TreeError::NotFound(src.path()))?;
        let v = NewValue {
            format: Some(item.format),
            type_: Some(item.type_),
            value: item.data.unwrap_or(Value::Inline(Vec::new())),
        };
        if self.exists(target) {
            self.replace(who, target, v)
        } else {
            self.add(who, target, v)
        }
    }

    /// Checks, before the first chunk of a large object is stored, that `who`
    /// may Add (`add`) or Replace the node at `raw` as far as the ACL goes;
    /// the Add or Replace checks everything again once the object is whole.
    pub fn check_write(&self, who: Who<'_>, add: bool, raw: &str) -> Result<(), TreeError> {
        let uri = self.parse_uri(raw)?;
        let node = self.node(&uri.segments);
        match (add, node) {
            (true, Some(_)) => Err(TreeError::AlreadyExists(uri.path())),
            (true, None) => {
                let (_, parent) = split_last(&uri, "adding the root")?;
                self.check(who, AclCmd::Add, parent)
            }
            (false, None) => Err(TreeError::NotFound(uri.path())),
            (false, Some(n)) => {
                self.check(who, AclCmd::Replace, &uri.segments)?;
                check_not_device_owned(who, &uri.segments, n)
            }
        }
    }

    /// Checks that `who` may Exec the node at `raw` (the work is done elsewhere).
    pub fn check_exec(&self, who: Who<'_>, raw: &str) -> Result<Uri, TreeError> {
        let uri = self.parse_uri(raw)?;
        self.node(&uri.segments).ok_or_else(|| TreeError::NotFound(uri.path()))?;
        self.check(who, AclCmd::Exec, &uri.segments)?;
        Ok(uri)
    }

    /// Local: creates or overwrites a leaf (and missing parents).
    pub fn put_leaf(&mut self, raw: &str, value: &[u8], format: &str) -> Result<(), TreeError> {
        let uri = self.parse_uri(raw)?;
        let (name, parent) = split_last(&uri, "a value on the root")?;
        let children = self.ensure_parents(parent)?;
        match children.get_mut(name) {
            Some(n) if n.is_leaf() => {
                n.kind = Kind::Leaf(Value::Inline(value.to_vec()));
                n.format = format.into();
                n.touch();
            }
            Some(_) => return Err(TreeError::NotAllowed { uri: uri.path(), what: "a value on an interior node" }),
            None => {
                children.insert(name.clone(), Node::leaf(value.to_vec(), format, "text/plain"));
            }
        }
        Ok(())
    }

    /// Local: creates an interior node (and missing parents) if absent.
    pub fn put_interior(&mut self, raw: &str) -> Result<(), TreeError> {
        let uri = self.parse_uri(raw)?;
        self.ensure_parents(&uri.segments).map(|_| ())
    }

    /// Local: edits a node's properties in place.
    pub fn with_node<R>(&mut self, raw: &str, f: impl FnOnce(&mut Node) -> R) -> Result<R, TreeError> {
        let uri = self.parse_uri(raw)?;
        self.node_mut(&uri.segments).map(f).ok_or_else(|| TreeError::NotFound(uri.path()))
    }
}

/// The last segment and its parent's; the root has none (`what` says why
/// that is refused).
fn split_last<'u>(uri: &'u Uri, what: &'static str) -> Result<(&'u String, &'u [String]), TreeError> {
    uri.segments.split_last().ok_or(TreeError::NotAllowed { uri: ".".into(), what })
}

fn validate_format(uri: &Uri, v: &NewValue) -> Result<(), TreeError> {
    let Value::Inline(bytes) = &v.value else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(bytes);
    let ok = match v.format.as_deref() {
        Some("int") => text.trim().parse::<i64>().is_ok(),
        Some("bool") => matches!(text.trim(), "true" | "false"),
        Some("float") => text.trim().parse::<f64>().is_ok(),
        Some("node") => bytes.is_empty(),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(TreeError::BadFormat { uri: uri.path(), format: v.format.clone().unwrap_or_default() })
    }
}
