//! Package URLs: which schemes are allowed, how they are shown in logs and
//! errors (never with credentials or a query string that may carry a token),
//! and how a descriptor's relative objectURI resolves.

/// `scheme://host/path` of `url`: user info, query and fragment left out.
pub fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = authority.rsplit('@').next().unwrap_or(authority);
    if scheme.is_empty() {
        format!("{host}{path}")
    } else {
        format!("{scheme}://{host}{path}")
    }
}

/// Whether `url` is http:// or https:// (the only schemes downloaded).
pub fn is_http(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

/// Resolves a descriptor's objectURI against the descriptor's URL: absolute
/// URLs stay, `/path` keeps the base's origin, anything else replaces the
/// base's last path segment.
pub fn resolve(base: &str, reference: &str) -> String {
    if reference.contains("://") {
        return reference.to_string();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let origin_end = rest.find('/').unwrap_or(rest.len());
    if let Some(path) = reference.strip_prefix('/') {
        return format!("{scheme}://{}/{path}", &rest[..origin_end]);
    }
    let dir_end = rest.rfind('/').filter(|&i| i >= origin_end).map_or(rest.len(), |i| i + 1);
    let dir = &rest[..dir_end];
    let sep = if dir.ends_with('/') { "" } else { "/" };
    format!("{scheme}://{dir}{sep}{reference}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_drops_credentials_query_and_fragment() {
        assert_eq!(
            redact("https://user:pw@cdn.example.com:8443/pkg/a.fota?token=s3cret#x"),
            "https://cdn.example.com:8443/pkg/a.fota"
        );
        assert_eq!(redact("http://h"), "http://h");
        assert_eq!(redact("http://h?sig=1"), "http://h");
    }

    #[test]
    fn only_http_schemes_are_downloaded() {
        assert!(is_http("HTTPS://h/p") && is_http("http://h/p"));
        assert!(!is_http("ftp://h/p") && !is_http("file:///p"));
    }

    #[test]
    fn object_uris_resolve_against_the_descriptor_url() {
        let base = "https://h:1/dd/desc.xml?t=1";
        assert_eq!(resolve(base, "https://o/p.fota"), "https://o/p.fota");
        assert_eq!(resolve(base, "/pkg/p.fota"), "https://h:1/pkg/p.fota");
        assert_eq!(resolve(base, "p.fota"), "https://h:1/dd/p.fota");
        assert_eq!(resolve("http://h", "p.fota"), "http://h/p.fota");
    }
}
