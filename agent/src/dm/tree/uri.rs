//! DM tree URIs: validation, normalisation and the `?prop=` / `?list=` query.

use super::TreeError;

/// Limits from `./DevDetail/URI` (0 = unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UriLimits {
    pub max_depth: usize,
    pub max_tot_len: usize,
    pub max_seg_len: usize,
}

impl Default for UriLimits {
    fn default() -> Self {
        UriLimits { max_depth: 16, max_tot_len: 512, max_seg_len: 64 }
    }
}

/// What a URI's query asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    None,
    Prop(String),
    List(ListKind),
}

/// `?list=` kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    Struct,
    StructData,
    Tnds,
}

/// A validated URI: path segments below the root, and the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    pub segments: Vec<String>,
    pub query: Query,
}

impl Uri {
    /// Parses `./A/B`, `A/B`, `.` or `./`, with an optional query. Refuses
    /// `..`, `.` segments, empty segments and anything over the limits.
    pub fn parse(raw: &str, limits: &UriLimits) -> Result<Uri, TreeError> {
        let bad = || TreeError::BadUri(raw.to_string());
        let (path, query) = match raw.split_once('?') {
            Some((p, q)) => (p, parse_query(q).ok_or_else(bad)?),
            None => (raw, Query::None),
        };
        if limits.max_tot_len > 0 && path.len() > limits.max_tot_len {
            return Err(TreeError::UriTooLong(raw.to_string()));
        }
        let rel = path.strip_prefix("./").or_else(|| (path == "." || path.is_empty()).then_some("")).unwrap_or(path);
        let rel = rel.strip_suffix('/').unwrap_or(rel);
        let mut segments = Vec::new();
        if !rel.is_empty() {
            for s in rel.split('/') {
                if s.is_empty() || s == "." || s == ".." {
                    return Err(bad());
                }
                if limits.max_seg_len > 0 && s.len() > limits.max_seg_len {
                    return Err(TreeError::UriTooLong(raw.to_string()));
                }
                segments.push(s.to_string());
            }
        }
        if limits.max_depth > 0 && segments.len() > limits.max_depth {
            return Err(TreeError::UriTooLong(raw.to_string()));
        }
        Ok(Uri { segments, query })
    }

    /// The canonical absolute form (`.` for the root, `./A/B` otherwise).
    pub fn path(&self) -> String {
        join(&self.segments)
    }

    pub fn parent(&self) -> Option<Uri> {
        let (_, head) = self.segments.split_last()?;
        Some(Uri { segments: head.to_vec(), query: Query::None })
    }

    pub fn child(&self, name: &str) -> Uri {
        let mut segments = self.segments.clone();
        segments.push(name.to_string());
        Uri { segments, query: Query::None }
    }
}

/// `./` + segments, or `.` for none.
pub fn join(segments: &[String]) -> String {
    if segments.is_empty() {
        ".".to_string()
    } else {
        format!("./{}", segments.join("/"))
    }
}

fn parse_query(q: &str) -> Option<Query> {
    let (k, v) = q.split_once('=')?;
    match k {
        "prop" => Some(Query::Prop(v.to_string())),
        "list" => match v {
            "Struct" => Some(Query::List(ListKind::Struct)),
            "StructData" => Some(Query::List(ListKind::StructData)),
            "TNDS" => Some(Query::List(ListKind::Tnds)),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn accepts_absolute_relative_and_root_forms() {
        let l = UriLimits::default();
        assert_eq!(Uri::parse("./A/B", &l).unwrap().path(), "./A/B");
        assert_eq!(Uri::parse("A/B/", &l).unwrap().path(), "./A/B");
        assert_eq!(Uri::parse(".", &l).unwrap().segments.len(), 0);
        assert_eq!(Uri::parse("./", &l).unwrap().path(), ".");
        assert_eq!(Uri::parse("./A?prop=ACL", &l).unwrap().query, Query::Prop("ACL".into()));
        assert_eq!(Uri::parse("./A?list=TNDS", &l).unwrap().query, Query::List(ListKind::Tnds));
    }

    #[test]
    fn refuses_dot_segments_empty_segments_and_oversize() {
        let l = UriLimits { max_depth: 3, max_tot_len: 30, max_seg_len: 5 };
        for bad in ["./A/../B", "./A//B", "./A/./B", "./A?list=Foo", "./A?x=y"] {
            assert!(matches!(Uri::parse(bad, &l), Err(TreeError::BadUri(_))), "{bad}");
        }
        for long in ["./A/B/C/D", "./ABCDEF", "./A/B/C/DDDDD/EEEEE/FFFFF/GGGGG"] {
            assert!(matches!(Uri::parse(long, &l), Err(TreeError::UriTooLong(_))), "{long}");
        }
    }
}
