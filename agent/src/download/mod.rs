//! The download agent: fetches a package over HTTP(S) and streams it straight
//! into the updater's installer (no staging copy), resuming from the
//! installer's checkpoint with `Range` + `If-Range` across cuts, stalls,
//! restarts and reboots, until a deadline. A PkgURL may also answer with an
//! OMA download descriptor; the package it names is then installed and the
//! outcome posted to its installNotifyURI. See `docs/download.md`.

pub mod backoff;
pub mod descriptor;
pub mod error;
mod http;
pub mod notify;
pub mod resume;
pub mod settings;
mod transfer;
pub mod url;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use fotad_updater::install::{Installed, Installer, Progress};

pub use descriptor::{Descriptor, DescriptorError};
pub use error::{DownloadError, RetryCause};
pub use notify::InstallStatus;
pub use resume::ResumeState;
pub use settings::DownloadSettings;

use transfer::{Ended, Transfer};

/// Progress for the D-Bus layer, in package bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadProgress {
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub percent: u8,
}

impl From<Progress> for DownloadProgress {
    fn from(p: Progress) -> Self {
        let percent = (p.bytes_done.saturating_mul(100)).checked_div(p.bytes_total).unwrap_or(0).min(100) as u8;
        DownloadProgress { bytes_done: p.bytes_done, bytes_total: p.bytes_total, percent }
    }
}

/// One download job: what the FUMO layer knows.
#[derive(Debug, Clone, Copy)]
pub struct DownloadJob<'a> {
    /// The PkgURL as the DM server set it (package or descriptor).
    pub pkg_url: &'a str,
    /// The agent's state directory (`download.json` lives there).
    pub state_dir: &'a Path,
    /// The device's language (DevInfo/Lang), to choose among descriptors.
    pub language: &'a str,
}

/// A completed download and install.
#[derive(Debug, Clone)]
pub struct DownloadReport {
    pub installed: Installed,
    /// Body bytes taken from the network in this run, over all connections.
    pub bytes_fetched: u64,
    /// HTTP requests made for the package (1 when nothing went wrong).
    pub attempts: u32,
    /// The descriptor, when the PkgURL gave one.
    pub descriptor: Option<Descriptor>,
}

/// The download agent; blocking, meant for a dedicated thread. Cancel through
/// the installer's [`Installer::cancel_flag`].
#[derive(Debug)]
pub struct Downloader {
    settings: DownloadSettings,
    agent: ureq::Agent,
    fetched: AtomicU64,
}

impl Downloader {
    pub fn new(settings: DownloadSettings) -> Result<Self, DownloadError> {
        // Redirects are followed by `http::get`, under the URL rules; the
        // client itself follows none.
        let agent = crate::dm::http_client::agent(&crate::dm::http_client::ClientOptions {
            ca_bundle: settings.ca_bundle.as_deref(),
            connect_timeout: settings.connect_timeout,
            read_timeout: settings.read_timeout,
            ..Default::default()
        })
        .map_err(|e| DownloadError::CaBundle { path: e.path, message: e.message })?;
        Ok(Downloader { agent, settings, fetched: AtomicU64::new(0) })
    }

    /// Package body bytes taken from the network by this agent so far, over
    /// all its downloads, failed ones included.
    pub fn bytes_fetched(&self) -> u64 {
        self.fetched.load(Ordering::SeqCst)
    }

    /// Downloads and installs the package at `job.pkg_url` (or the one its
    /// descriptor names), resuming a previous run of the same URL from the
    /// state directory and the installer's checkpoint. Posts installNotify
    /// when a descriptor asked for it. On success and on final errors the
    /// resume record is removed; on a cancel or a deadline it stays, so that
    /// the same job started again resumes.
    pub fn download(
        &self,
        job: &DownloadJob<'_>,
        installer: &Installer,
        progress: &mut dyn FnMut(DownloadProgress),
    ) -> Result<DownloadReport, DownloadError> {
        if !url::is_http(job.pkg_url) {
            return Err(DownloadError::BadUrl { url: url::redact(job.pkg_url) });
        }
        let stored = ResumeState::load(job.state_dir, job.pkg_url)?;
        let stale = match stored {
            Some(_) => None,
            None => installer.checkpoint().map_err(|source| install_error(job.pkg_url, source))?.map(|cp| cp.package),
        };
        let mut transfer = Transfer {
            agent: &self.agent,
            settings: &self.settings,
            installer,
            state_dir: job.state_dir,
            descriptor_allowed: stored.is_none(),
            state: stored.unwrap_or_else(|| fresh_state(job.pkg_url, stale)),
            expected_size: None,
            started: Instant::now(),
            fetched: 0,
            total_fetched: &self.fetched,
            attempts: 0,
        };
        let mut descriptor = None;
        let result = self.drive(&mut transfer, &mut descriptor, job, progress);
        self.finish(&transfer.state, job.state_dir, &result);
        let installed = result?;
        Ok(DownloadReport { installed, bytes_fetched: transfer.fetched, attempts: transfer.attempts, descriptor })
    }

    fn drive<'a>(
        &'a self,
        transfer: &mut Transfer<'a>,
        descriptor: &mut Option<Descriptor>,
        job: &DownloadJob<'_>,
        progress: &mut dyn FnMut(DownloadProgress),
    ) -> Result<Installed, DownloadError> {
        loop {
            match transfer.run(progress)? {
                Ended::Installed(installed) => return Ok(installed),
                Ended::Descriptor(body) => {
                    let shown = url::redact(job.pkg_url);
                    let dd = descriptor::choose(&body.body, &body.content_type, job.language, &shown)?;
                    let object = url::resolve(job.pkg_url, &dd.object_uri);
                    if !url::is_http(&object) {
                        return Err(DownloadError::BadUrl { url: url::redact(&object) });
                    }
                    transfer.state.object_url = object;
                    transfer.state.install_notify =
                        dd.install_notify_uri.as_deref().map(|u| url::resolve(job.pkg_url, u));
                    transfer.state.save(job.state_dir)?;
                    transfer.descriptor_allowed = false;
                    transfer.expected_size = Some(dd.size);
                    *descriptor = Some(dd);
                }
            }
        }
    }

    /// Posts installNotify and forgets the resume record, as the outcome asks.
    fn finish(&self, state: &ResumeState, state_dir: &Path, result: &Result<Installed, DownloadError>) {
        let keep = matches!(result, Err(DownloadError::Cancelled { .. } | DownloadError::Deadline { .. }));
        if let Some(uri) = &state.install_notify {
            let status = result.as_ref().map_or_else(DownloadError::install_status, |_| InstallStatus::Success);
            if let Err(e) = notify::post(&self.agent, uri, status) {
                tracing::warn!(error = %e, "download: installNotify not posted");
            }
        }
        if !keep {
            if let Err(e) = ResumeState::clear(state_dir) {
                tracing::warn!(error = %crate::logging::chain(&e), "download: resume record not removed");
            }
        }
    }
}

fn install_error(url: &str, source: fotad_updater::InstallError) -> DownloadError {
    DownloadError::Install { url: url::redact(url), source }
}

fn fresh_state(pkg_url: &str, stale_checkpoint: Option<String>) -> ResumeState {
    ResumeState {
        pkg_url: pkg_url.to_string(),
        object_url: pkg_url.to_string(),
        validator: None,
        total: None,
        install_notify: None,
        stale_checkpoint,
    }
}
