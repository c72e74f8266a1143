//! installNotify: the status line posted to a descriptor's installNotifyURI
//! after the install (OMA Download 1.0).

use super::url::redact;

/// The installNotify status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallStatus {
    Success,
    InsufficientMemory,
    UserCancelled,
    LossOfService,
    AttributeMismatch,
    InvalidDescriptor,
    InvalidDdVersion,
    DeviceAborted,
    NonAcceptableContent,
    LoaderError,
}

impl InstallStatus {
    pub fn code(self) -> u16 {
        match self {
            InstallStatus::Success => 900,
            InstallStatus::InsufficientMemory => 901,
            InstallStatus::UserCancelled => 902,
            InstallStatus::LossOfService => 903,
            InstallStatus::AttributeMismatch => 905,
            InstallStatus::InvalidDescriptor => 906,
            InstallStatus::InvalidDdVersion => 951,
            InstallStatus::DeviceAborted => 952,
            InstallStatus::NonAcceptableContent => 953,
            InstallStatus::LoaderError => 954,
        }
    }

    /// The body posted: `<code> <text>`.
    pub fn line(self) -> String {
        let text = match self {
            InstallStatus::Success => "Success",
            InstallStatus::InsufficientMemory => "Insufficient memory",
            InstallStatus::UserCancelled => "User Cancelled",
            InstallStatus::LossOfService => "Loss of Service",
            InstallStatus::AttributeMismatch => "Attribute mismatch",
            InstallStatus::InvalidDescriptor => "Invalid descriptor",
            InstallStatus::InvalidDdVersion => "Invalid DDVersion",
            InstallStatus::DeviceAborted => "Device Aborted",
            InstallStatus::NonAcceptableContent => "Non-Acceptable Content",
            InstallStatus::LoaderError => "Loader Error",
        };
        format!("{} {text}", self.code())
    }
}

/// POSTs the status line to `uri`, once, following no redirect; a failure is
/// returned for logging only (the install outcome does not depend on it).
pub fn post(agent: &ureq::Agent, uri: &str, status: InstallStatus) -> Result<(), String> {
    if !super::url::is_http(uri) {
        return Err(format!("installNotify URI {} is not http:// or https://; not posted", redact(uri)));
    }
    match agent.post(uri).header("Content-Type", "text/plain").send(status.line()) {
        Ok(r) if r.status().as_u16() < 300 => Ok(()),
        Ok(r) => Err(format!(
            "installNotify to {} answered HTTP {} (redirects are not followed)",
            redact(uri),
            r.status().as_u16()
        )),
        Err(e) => Err(format!("installNotify to {} failed: {}", redact(uri), crate::dm::http_client::describe(&e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_carry_code_and_text() {
        assert_eq!(InstallStatus::Success.line(), "900 Success");
        assert_eq!(InstallStatus::InvalidDdVersion.line(), "951 Invalid DDVersion");
        assert_eq!(InstallStatus::LoaderError.code(), 954);
    }
}
