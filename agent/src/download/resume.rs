//! What a resume needs besides the installer's checkpoint, persisted in
//! `<state>/download.json` (atomically): the URL being downloaded, the
//! validator (ETag or Last-Modified) of the first response for `If-Range`,
//! the package length, the descriptor's installNotifyURI when there was one,
//! and which installer checkpoint predates the download (not to be resumed).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::DownloadError;
use crate::state_file::{read_optional, write_atomic};

/// The file name inside the state directory.
pub const FILE: &str = "download.json";

/// The resume record of one download.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeState {
    /// The URL the server (the DM PkgURL) gave.
    pub pkg_url: String,
    /// The package URL (the PkgURL itself, or a descriptor's objectURI).
    pub object_url: String,
    /// `ETag` (preferred) or `Last-Modified` of the package response.
    pub validator: Option<String>,
    /// Package length from the first full response.
    pub total: Option<u64>,
    /// The descriptor's installNotifyURI, to post the outcome to.
    pub install_notify: Option<String>,
    /// Package (manifest hash) of an installer checkpoint that was already
    /// there when this download began: not ours, never resumed with a range.
    #[serde(default)]
    pub stale_checkpoint: Option<String>,
}

impl ResumeState {
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join(FILE)
    }

    /// The stored record for `pkg_url`; `None` when absent, unreadable as JSON,
    /// or for another URL (a new download starts from scratch).
    pub fn load(state_dir: &Path, pkg_url: &str) -> Result<Option<ResumeState>, DownloadError> {
        let path = Self::path(state_dir);
        let bytes = read_optional(&path).map_err(DownloadError::State)?;
        let state = bytes.and_then(|b| serde_json::from_slice::<ResumeState>(&b).ok());
        Ok(state.filter(|s| s.pkg_url == pkg_url))
    }

    pub fn save(&self, state_dir: &Path) -> Result<(), DownloadError> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| DownloadError::State(json_error(state_dir, e)))?;
        write_atomic(&Self::path(state_dir), &json).map_err(DownloadError::State)
    }

    /// Forgets the download (after success or a final failure).
    pub fn clear(state_dir: &Path) -> Result<(), DownloadError> {
        let path = Self::path(state_dir);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(DownloadError::State(crate::state_file::StateError { path, source: e }))
            }
            _ => Ok(()),
        }
    }
}

fn json_error(state_dir: &Path, e: serde_json::Error) -> crate::state_file::StateError {
    crate::state_file::StateError { path: ResumeState::path(state_dir), source: std::io::Error::other(e) }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn state_round_trips_is_keyed_by_url_and_clears() {
        let dir = tempfile::tempdir().unwrap();
        let s = ResumeState {
            pkg_url: "http://h/dd".into(),
            object_url: "http://h/p.fota".into(),
            validator: Some("\"abc\"".into()),
            total: Some(42),
            install_notify: None,
            stale_checkpoint: None,
        };
        assert_eq!(ResumeState::load(dir.path(), "http://h/dd").unwrap(), None);
        s.save(dir.path()).unwrap();
        assert_eq!(ResumeState::load(dir.path(), "http://h/dd").unwrap(), Some(s));
        assert_eq!(ResumeState::load(dir.path(), "http://other").unwrap(), None);
        ResumeState::clear(dir.path()).unwrap();
        ResumeState::clear(dir.path()).unwrap();
        assert_eq!(ResumeState::load(dir.path(), "http://h/dd").unwrap(), None);
    }
}
