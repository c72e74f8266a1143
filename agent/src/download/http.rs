//! One GET of the package, plain or ranged, and the classification of what
//! came back: a body to stream, a failure worth retrying, or a final one.

use super::error::RetryCause;
use super::url::{redact, redirect_target, RedirectRefused, MAX_REDIRECTS};
use super::DownloadError;
use crate::dm::http_client::{self, header, Response};

/// A usable answer.
#[derive(Debug)]
pub enum Answer {
    /// 200: the whole resource (also the answer to a ranged request whose
    /// `If-Range` validator no longer matches: the file changed).
    Full(Box<Response>),
    /// 206: the requested range.
    Partial(Box<Response>),
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
            req = req.header("Range", format!("bytes={offset}-")).header("If-Range", validator);
        }
        let resp = req.call().map_err(|e| transport_failure(&e, &current))?;
        match resp.status().as_u16() {
            301 | 302 | 303 | 307 | 308 => {
                current = redirect_target(&current, header(&resp, "Location"))
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
pub fn validator(resp: &Response) -> Option<String> {
    header(resp, "ETag").or_else(|| header(resp, "Last-Modified")).map(str::to_string)
}

pub fn content_length(resp: &Response) -> Option<u64> {
    header(resp, "Content-Length").and_then(|v| v.trim().parse().ok())
}

fn check_range(resp: Response, offset: u64, url: &str) -> Result<Answer, Failure> {
    let content_range = header(&resp, "Content-Range").unwrap_or("");
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

fn transport_failure(e: &ureq::Error, url: &str) -> Failure {
    if let Some(tls) = http_client::tls_failure(e) {
        return Failure::Final(DownloadError::Tls { url: redact(url), message: tls });
    }
    if http_client::is_bad_url(e) {
        return Failure::Final(DownloadError::BadUrl { url: redact(url) });
    }
    let cause = if http_client::is_unreachable(e) {
        RetryCause::Unreachable
    } else if http_client::is_stall(e) {
        RetryCause::Stall
    } else {
        RetryCause::Network
    };
    Failure::Retry { cause, message: format!("{}: {}", redact(url), http_client::describe(e)) }
}
