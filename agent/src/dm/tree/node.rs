//! Tree nodes and their properties.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::acl::Acl;

/// A leaf value: inline bytes, or a file in the state directory for large
/// objects (never loaded whole into memory).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Value {
    Inline(Vec<u8>),
    File { path: PathBuf, size: u64 },
}

impl Value {
    pub fn size(&self) -> u64 {
        match self {
            Value::Inline(b) => b.len() as u64,
            Value::File { size, .. } => *size,
        }
    }
}

/// Interior or leaf.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    Interior(BTreeMap<String, Node>),
    Leaf(Value),
}

/// A node with its properties (Name is the key in the parent).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Node {
    pub kind: Kind,
    pub acl: Acl,
    /// `node`, `chr`, `int`, `bool`, `bin`, `b64`, `float`, `date`, `time`, `null`, `xml`.
    pub format: String,
    /// MIME type (leaf) or DDF type URN (interior).
    pub type_: String,
    pub title: Option<String>,
    pub tstamp: Option<String>,
    pub verno: u32,
    /// Permanent nodes (standard objects) cannot be deleted by a server.
    pub permanent: bool,
    /// Values that are never returned by Get (AAuthSecret, AAuthData).
    pub secret: bool,
    /// Owned by the device: a server may read it (as its ACL says) but never
    /// replace its value or properties, change its ACL or delete it (a
    /// DMAcc's ServerID, the name every ACL grants rights to).
    #[serde(default)]
    pub device_owned: bool,
}

impl Node {
    pub fn interior() -> Node {
        Node {
            kind: Kind::Interior(BTreeMap::new()),
            acl: Acl::default(),
            format: "node".into(),
            type_: String::new(),
            title: None,
            tstamp: None,
            verno: 0,
            permanent: false,
            secret: false,
            device_owned: false,
        }
    }

    pub fn leaf(value: Vec<u8>, format: &str, type_: &str) -> Node {
        Node { kind: Kind::Leaf(Value::Inline(value)), format: format.into(), type_: type_.into(), ..Node::interior() }
    }

    pub fn is_leaf(&self) -> bool {
        matches!(self.kind, Kind::Leaf(_))
    }

    pub fn children(&self) -> Option<&BTreeMap<String, Node>> {
        match &self.kind {
            Kind::Interior(c) => Some(c),
            Kind::Leaf(_) => None,
        }
    }

    pub fn children_mut(&mut self) -> Option<&mut BTreeMap<String, Node>> {
        match &mut self.kind {
            Kind::Interior(c) => Some(c),
            Kind::Leaf(_) => None,
        }
    }

    pub fn size(&self) -> Option<u64> {
        match &self.kind {
            Kind::Leaf(v) => Some(v.size()),
            Kind::Interior(_) => None,
        }
    }

    /// Calls `f` with the file of every large-object value in this subtree.
    pub fn files(&self, f: &mut dyn FnMut(&std::path::Path)) {
        match &self.kind {
            Kind::Leaf(Value::File { path, .. }) => f(path),
            Kind::Leaf(Value::Inline(_)) => {}
            Kind::Interior(children) => children.values().for_each(|c| c.files(f)),
        }
    }

    /// Records a modification: new timestamp, VerNo + 1 (wrapping at 0xFFFF).
    pub fn touch(&mut self) {
        self.tstamp = Some(now_stamp());
        self.verno = (self.verno + 1) % 0x1_0000;
    }
}

/// UTC time as `YYYYMMDDTHHMMSSZ` (ISO 8601 basic, as used by TStamp).
pub fn now_stamp() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_are_right() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_779), (2026, 11, 22));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
