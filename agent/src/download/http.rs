//! One GET of the package, plain or ranged, and the classification of what
//! came back: a body to stream, a failure worth retrying, or a final one.

use std::error::Error as _;
use std::io;

use super::error::RetryCause;
use super::url::{redact, redirect_target, RedirectRefused, MAX_REDIRECTS};
use super::DownloadError;

/// A usable answer.
#[derive(Debug)]
pub enum Answer {
    /// 200: the whole resource (also the answer to a ranged request whose
    /// `If-Range` validator no longer matches: the file changed).
    Full(Box<ureq::Response>),
    /// 206: the requested range.
    Partial(Box<ureq::Response>),
}

/// Why an attempt did not produce an installed package.
#[derive(Debug)]
pub enum Failure {
    Retry {
        cause: RetryCause,
        message: String,
    },
    /// 416: the range does not fit the resource; restart without one.
    RangeRefused,
    Final(DownloadError),
}

/// GETs `url`; with `range = Some((offset, validator))` asks for `bytes=offset-`
/// only if the resource still carries `validator`. Redirects are followed here,
/// not by the HTTP client: at most [`MAX_REDIRECTS`], each target checked by
/// [`redirect_target`] (a refused one ends the download: 411).
pub fn get(agent: &ureq::Agent, url: &str, range: Option<(u64, &str)>) -> Result<Answer, Failure> {
    let mut current = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let mut req = agent.get(&current);
        if let Some((offset, validator)) = range {
            req = req.set("Range", &format!("bytes={offset}-")).set("If-Range", validator);
        }
        let resp = match req.call() {
            Ok(resp) => resp,
            Err(ureq::Error::Status(status, _)) => return Err(status_failure(status, &current)),
            Err(ureq::Error::Transport(t)) => return Err(transport_failure(&t, &current)),
        };
        match resp.status() {
            301 | 302 | 303 | 307 | 308 => {
                current = redirect_target(&current, resp.header("Location"))
                    .map_err(|reason| redirect_failure(&current, reason))?;
            }
            206 => return check_range(resp, range.map_or(0, |r| r.0), &current),
            200 => return Ok(Answer::Full(Box::new(resp))),
            status => return Err(status_failure(status, &current)),
        }
    }
    Err(redirect_failure(url, RedirectRefused::TooMany))
}

fn redirect_failure(url: &str, reason: RedirectRefused) -> Failure {
    Failure::Final(DownloadError::Redirect { url: redact(url), reason })
}

/// The validator to send back in `If-Range`: the ETag, else Last-Modified.
pub fn validator(resp: &ureq::Response) -> Option<String> {
    resp.header("ETag").or_else(|| resp.header("Last-Modified")).map(str::to_string)
}

pub fn content_length(resp: &ureq::Response) -> Option<u64> {
    resp.header("Content-Length").and_then(|v| v.trim().parse().ok())
}

fn check_range(resp: ureq::Response, offset: u64, url: &str) -> Result<Answer, Failure> {
    let content_range = resp.header("Content-Range").unwrap_or("");
    if content_range.starts_with(&format!("bytes {offset}-")) {
        return Ok(Answer::Partial(Box::new(resp)));
    }
    Err(Failure::Retry {
        cause: RetryCause::Network,
        message: format!("{}: Content-Range {content_range:?} does not start at {offset}", redact(url)),
    })
}

fn status_failure(status: u16, url: &str) -> Failure {
    match status {
        416 => Failure::RangeRefused,
        408 | 429 | 500..=599 => Failure::Retry {
            cause: RetryCause::Server(status),
            message: format!("{} answered HTTP {status}", redact(url)),
        },
        _ => Failure::Final(DownloadError::Http { url: redact(url), status }),
    }
}

fn transport_failure(t: &ureq::Transport, url: &str) -> Failure {
    let message = format!("{}: {}", redact(url), describe(t));
    if let Some(tls) = tls_error(t) {
        return Failure::Final(DownloadError::Tls { url: redact(url), message: tls });
    }
    let cause = match t.kind() {
        ureq::ErrorKind::InvalidUrl | ureq::ErrorKind::UnknownScheme | ureq::ErrorKind::InsecureRequestHttpsOnly => {
            return Failure::Final(DownloadError::BadUrl { url: redact(url) })
        }
        ureq::ErrorKind::Dns | ureq::ErrorKind::ConnectionFailed => RetryCause::Unreachable,
        _ if io_kind(t).is_some_and(is_stall) => RetryCause::Stall,
        _ => RetryCause::Network,
    };
    Failure::Retry { cause, message }
}

/// Whether an I/O error kind is a read timeout.
pub fn is_stall(kind: io::ErrorKind) -> bool {
    matches!(kind, io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock)
}

/// The error's kind and message without the URL (ureq's own text has the full URL).
pub fn describe(t: &ureq::Transport) -> String {
    let mut text = format!("{:?}", t.kind());
    if let Some(m) = t.message() {
        text = format!("{text}: {m}");
    }
    if let Some(source) = t.source() {
        text = format!("{text}: {source}");
    }
    text
}

fn io_kind(t: &ureq::Transport) -> Option<io::ErrorKind> {
    t.source().and_then(|s| s.downcast_ref::<io::Error>()).map(io::Error::kind)
}

/// The rustls error somewhere in the chain, as text: which certificate
/// check failed (unknown issuer, expired, wrong name, ...).
pub fn tls_error(t: &ureq::Transport) -> Option<String> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = t.source();
    while let Some(e) = next {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(r.to_string());
        }
        let inner = e.downcast_ref::<io::Error>().and_then(|io| io.get_ref());
        if let Some(r) = inner.and_then(|i| i.downcast_ref::<rustls::Error>()) {
            return Some(r.to_string());
        }
        next = e.source();
    }
    None
}
