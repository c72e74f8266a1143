//! Exec commands, and the legacy firmware-update commands, are carried out by
//! other modules (FUMO) through this trait.

use super::ui::UserInteraction;
use crate::dm::status::StatusCode;
use crate::dm::syncml::FirmwareCmd;
use crate::dm::tree::Tree;

/// An Exec the server sent, after the ACL check passed.
#[derive(Debug, Clone)]
pub struct ExecRequest<'a> {
    pub server_id: &'a str,
    /// Canonical URI of the node (`./FUMO/x/DownloadAndUpdate`).
    pub uri: &'a str,
    pub data: Option<&'a [u8]>,
    pub correlator: Option<&'a str>,
    /// The tree as it is when the Exec runs (read-only): FUMO reads the
    /// PkgURL that the same session may just have replaced.
    pub tree: &'a Tree,
}

/// One item of a legacy firmware-update command (`GetFirmwareUpdate`, ...).
/// The handler checks the ACL itself: the Target may not exist yet.
pub struct FirmwareRequest<'a> {
    pub server_id: &'a str,
    pub cmd: FirmwareCmd,
    /// The item's Target LocURI, as sent.
    pub target: &'a str,
    /// The item's Source LocURI (the package URL of a `GetFirmwareUpdate`).
    pub source: Option<&'a str>,
    pub data: Option<&'a [u8]>,
    pub correlator: Option<&'a str>,
    /// The handler creates the Target node when it takes the package.
    pub tree: &'a mut Tree,
    /// For `DL_Prompt=1`: the user confirms the download.
    pub ui: &'a dyn UserInteraction,
}

impl std::fmt::Debug for FirmwareRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirmwareRequest")
            .field("server_id", &self.server_id)
            .field("cmd", &self.cmd)
            .field("target", &self.target)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// The answer to a [`FirmwareRequest`]: its Status, and a value that goes
/// back in a Results item whose Source is the Target (a confirmed result).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareReply {
    pub status: StatusCode,
    pub result: Option<String>,
}

impl From<StatusCode> for FirmwareReply {
    fn from(status: StatusCode) -> Self {
        FirmwareReply { status, result: None }
    }
}

/// Carries out Execs. Return `AcceptedForProcessing` (202) for work that
/// continues after the session; its result then goes out as a generic alert
/// through the [`super::AlertQueue`].
pub trait ExecHandler {
    fn exec(&mut self, req: &ExecRequest<'_>) -> StatusCode;

    /// A legacy firmware-update command; by default not supported (406).
    fn firmware(&mut self, _req: &mut FirmwareRequest<'_>) -> FirmwareReply {
        StatusCode::OptionalFeatureNotSupported.into()
    }
}

/// No executable nodes: every Exec gets 406 (optional feature not supported).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoExec;

impl ExecHandler for NoExec {
    fn exec(&mut self, _: &ExecRequest<'_>) -> StatusCode {
        StatusCode::OptionalFeatureNotSupported
    }
}
