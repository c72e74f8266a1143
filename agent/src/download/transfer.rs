//! The reconnect loop: GET (ranged from the installer's checkpoint when the
//! validator is known), stream the body into the installer, and on a cut,
//! stall, truncation or 5xx wait with backoff and go on, until the install
//! completes, a final error, a cancel, or the deadline.

use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fotad_updater::install::{Installed, Installer};

use super::backoff::Backoff;
use super::error::RetryCause;
use super::http::{self, Answer, Failure};
use super::resume::ResumeState;
use super::url::redact;
use super::{DownloadError, DownloadProgress, DownloadSettings};
use crate::dm::http_client::{self, header, Response};

/// A first answer that is not a package but a download descriptor.
#[derive(Debug)]
pub struct DescriptorBody {
    pub content_type: String,
    pub body: Vec<u8>,
}

/// How a transfer ended.
#[derive(Debug)]
pub enum Ended {
    Installed(Installed),
    Descriptor(DescriptorBody),
}

/// One download in progress.
pub struct Transfer<'a> {
    pub agent: &'a ureq::Agent,
    pub settings: &'a DownloadSettings,
    pub installer: &'a Installer,
    pub state_dir: &'a Path,
    pub state: ResumeState,
    /// Accept a descriptor as the first answer (only for a fresh PkgURL).
    pub descriptor_allowed: bool,
    /// The descriptor's size, checked against the package length.
    pub expected_size: Option<u64>,
    pub started: Instant,
    pub fetched: u64,
    /// The agent's counter over all downloads.
    pub total_fetched: &'a AtomicU64,
    pub attempts: u32,
}

impl std::fmt::Debug for Transfer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transfer").field("url", &redact(&self.state.object_url)).finish_non_exhaustive()
    }
}

impl Transfer<'_> {
    pub fn run(&mut self, progress: &mut dyn FnMut(DownloadProgress)) -> Result<Ended, DownloadError> {
        let mut backoff = Backoff::new(self.settings.backoff_min, self.settings.backoff_max);
        loop {
            self.check_cancel()?;
            let before = self.fetched;
            self.attempts += 1;
            let (cause, message) = match self.attempt(progress) {
                Ok(ended) => return Ok(ended),
                Err(Failure::Final(e)) => return Err(e),
                Err(Failure::RangeRefused) => {
                    self.state.validator = None;
                    (RetryCause::Network, "range refused (416); restarting without a range".to_string())
                }
                Err(Failure::Retry { cause, message }) => (cause, message),
            };
            if self.fetched > before {
                backoff.reset();
            }
            self.wait(backoff.next_delay(), cause, &message)?;
        }
    }

    fn attempt(&mut self, progress: &mut dyn FnMut(DownloadProgress)) -> Result<Ended, Failure> {
        let checkpoint = self.installer.checkpoint().map_err(|e| self.install_error(e))?;
        let stale = self.state.stale_checkpoint.as_deref();
        let offset = checkpoint.filter(|cp| Some(cp.package.as_str()) != stale).map_or(0, |cp| cp.next_offset);
        let range = self.state.validator.as_deref().filter(|_| offset > 0).map(|v| (offset, v));
        let (resp, start) = match http::get(self.agent, &self.state.object_url, range)? {
            Answer::Partial(resp) => (resp, offset),
            Answer::Full(resp) => {
                if range.is_some() {
                    tracing::warn!(url = %self.url(), "download: the package changed on the server; starting over");
                }
                let content_type = header(&resp, "Content-Type").unwrap_or("");
                if self.descriptor_allowed && super::descriptor::is_descriptor_type(content_type) {
                    return self.read_descriptor(*resp).map(Ended::Descriptor);
                }
                self.remember(&resp)?;
                (resp, 0)
            }
        };
        self.stream(*resp, start, progress).map(Ended::Installed)
    }

    fn stream(
        &mut self,
        resp: Response,
        start: u64,
        progress: &mut dyn FnMut(DownloadProgress),
    ) -> Result<Installed, Failure> {
        let cancel = self.installer.cancel_flag();
        let mut reader = Counting { inner: resp.into_body().into_reader(), cancel: Arc::clone(&cancel), count: 0 };
        let result = self.installer.install(&mut reader, start, &mut |p| progress(DownloadProgress::from(p)));
        self.fetched += reader.count;
        self.total_fetched.fetch_add(reader.count, Ordering::SeqCst);
        match result {
            Ok(installed) => Ok(installed),
            Err(_) if cancel.load(Ordering::SeqCst) => Err(Failure::Final(self.cancelled())),
            Err(e) if e.is_resumable() => {
                let stall = matches!(&e, fotad_updater::InstallError::Stream { source, .. } if http_client::is_stall_io(source));
                let cause = if stall { RetryCause::Stall } else { RetryCause::Network };
                Err(Failure::Retry { cause, message: format!("{}: {e}", self.url()) })
            }
            Err(e) => Err(self.install_error(e)),
        }
    }

    /// Reads a descriptor answer whole (bounded: descriptors are small).
    fn read_descriptor(&self, resp: Response) -> Result<DescriptorBody, Failure> {
        let content_type = header(&resp, "Content-Type").unwrap_or("").to_string();
        let mut body = Vec::new();
        let limit = super::descriptor::MAX_SIZE;
        match resp.into_body().into_reader().take(limit + 1).read_to_end(&mut body) {
            Ok(_) if body.len() as u64 > limit => {
                let message = format!("larger than {limit} bytes");
                Err(Failure::Final(super::descriptor::DescriptorError::Invalid { url: self.url(), message }.into()))
            }
            Ok(_) => Ok(DescriptorBody { content_type, body }),
            Err(e) => Err(Failure::Retry { cause: RetryCause::Network, message: format!("{}: {e}", self.url()) }),
        }
    }

    /// Records the validator and length of a full answer (atomically, in the
    /// state directory) and checks the length against the descriptor.
    fn remember(&mut self, resp: &Response) -> Result<(), Failure> {
        let total = http::content_length(resp);
        if let (Some(expected), Some(total)) = (self.expected_size, total) {
            if expected != total {
                let url = self.url();
                let e = super::descriptor::DescriptorError::Size { url, descriptor: expected, server: total };
                return Err(Failure::Final(e.into()));
            }
        }
        self.state.validator = http::validator(resp);
        self.state.total = total;
        self.state.save(self.state_dir).map_err(Failure::Final)
    }

    fn wait(&self, delay: Duration, cause: RetryCause, message: &str) -> Result<(), DownloadError> {
        let elapsed = self.started.elapsed();
        if elapsed + delay > self.settings.deadline {
            return Err(DownloadError::Deadline { url: self.url(), elapsed, cause, last: message.to_string() });
        }
        tracing::info!("download: {message}; retrying in {delay:.1?}");
        let until = Instant::now() + delay;
        while Instant::now() < until {
            self.check_cancel()?;
            std::thread::sleep((until - Instant::now()).min(Duration::from_millis(100)));
        }
        Ok(())
    }

    fn check_cancel(&self) -> Result<(), DownloadError> {
        match self.installer.cancel_flag().load(Ordering::SeqCst) {
            true => Err(self.cancelled()),
            false => Ok(()),
        }
    }

    fn cancelled(&self) -> DownloadError {
        DownloadError::Cancelled { url: self.url() }
    }

    fn install_error(&self, source: fotad_updater::InstallError) -> Failure {
        Failure::Final(DownloadError::Install { url: self.url(), source })
    }

    fn url(&self) -> String {
        redact(&self.state.object_url)
    }
}

/// Counts the bytes taken from the connection, and stops reading once the
/// cancel flag is set (the installer then stops at its checkpoint).
struct Counting<R> {
    inner: R,
    cancel: Arc<AtomicBool>,
    count: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cancel.load(Ordering::SeqCst) {
            return Err(io::Error::other("download cancelled"));
        }
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}
