//! Exec commands are carried out by other modules (FUMO) through this trait.

use crate::status::StatusCode;
use crate::tree::Tree;

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

/// Carries out Execs. Return `AcceptedForProcessing` (202) for work that
/// continues after the session; its result then goes out as a generic alert
/// through the [`super::AlertQueue`].
pub trait ExecHandler {
    fn exec(&mut self, req: &ExecRequest<'_>) -> StatusCode;
}

/// No executable nodes: every Exec gets 406 (optional feature not supported).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoExec;

impl ExecHandler for NoExec {
    fn exec(&mut self, _: &ExecRequest<'_>) -> StatusCode {
        StatusCode::OptionalFeatureNotSupported
    }
}
