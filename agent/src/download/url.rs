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

/// Most redirects followed for one request (curl and browsers stop at 20 to
/// 50; package servers and CDNs need one or two).
pub const MAX_REDIRECTS: usize = 5;

/// Why a redirect is not followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectRefused {
    #[error("the answer has no usable Location header")]
    NoLocation,
    #[error("Location {0:?} is not a valid URL")]
    Invalid(String),
    #[error("Location {0} is not an http:// or https:// URL")]
    Scheme(String),
    #[error("Location {0} names no host")]
    NoHost(String),
    #[error("Location {0} would leave https for plain http")]
    Downgrade(String),
    #[error("more than {MAX_REDIRECTS} redirects")]
    TooMany,
}

/// The URL a redirect from `current` to `location` leads to, under the rules
/// every package URL follows: absolute or relative to `current`, http:// or
/// https:// with a host, and never from https:// down to http://.
pub fn redirect_target(current: &str, location: Option<&str>) -> Result<String, RedirectRefused> {
    let location = location.map(str::trim).filter(|l| !l.is_empty()).ok_or(RedirectRefused::NoLocation)?;
    let base = ::url::Url::parse(current).map_err(|_| RedirectRefused::Invalid(redact(current)))?;
    let next = base.join(location).map_err(|_| RedirectRefused::Invalid(redact(location)))?;
    let shown = redact(next.as_str());
    match next.scheme() {
        "http" | "https" => {}
        _ => return Err(RedirectRefused::Scheme(shown)),
    }
    if next.host_str().map_or(true, str::is_empty) {
        return Err(RedirectRefused::NoHost(shown));
    }
    if base.scheme() == "https" && next.scheme() == "http" {
        return Err(RedirectRefused::Downgrade(shown));
    }
    Ok(next.into())
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
    #![allow(clippy::unwrap_used)]
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
    fn redirects_follow_the_rules_of_the_first_url() {
        let from = "https://cdn.example.com/pkg/a.fota?t=1";
        assert_eq!(redirect_target(from, Some("/b.fota")).unwrap(), "https://cdn.example.com/b.fota");
        assert_eq!(redirect_target(from, Some("c.fota")).unwrap(), "https://cdn.example.com/pkg/c.fota");
        assert_eq!(
            redirect_target(from, Some(" https://mirror.example.net/a ")).unwrap(),
            "https://mirror.example.net/a"
        );
        assert_eq!(redirect_target("http://h/a", Some("https://h/a")).unwrap(), "https://h/a");
        let refused = |loc: Option<&str>| redirect_target(from, loc).unwrap_err();
        assert!(matches!(refused(Some("file:///etc/passwd")), RedirectRefused::Scheme(_)));
        assert!(matches!(refused(Some("ftp://h/x")), RedirectRefused::Scheme(_)));
        assert!(matches!(refused(Some("data:text/plain,x")), RedirectRefused::Scheme(_)));
        assert!(matches!(refused(Some("http://cdn.example.com/a")), RedirectRefused::Downgrade(_)));
        assert!(matches!(refused(Some("http://[::1")), RedirectRefused::Invalid(_)));
        assert!(matches!(refused(Some("https://")), RedirectRefused::Invalid(_) | RedirectRefused::NoHost(_)));
        assert_eq!(refused(None), RedirectRefused::NoLocation);
        assert_eq!(refused(Some("  ")), RedirectRefused::NoLocation);
    }

    #[test]
    fn a_refused_redirect_never_shows_credentials_or_tokens() {
        let e = redirect_target("https://h/a", Some("http://user:pw@evil/x?token=s3cret")).unwrap_err();
        assert!(!e.to_string().contains("s3cret") && !e.to_string().contains("pw@"), "{e}");
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
