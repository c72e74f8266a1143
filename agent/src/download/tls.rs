//! The rustls client configuration of the download agent: the configured CA
//! bundle (PEM) or the built-in web roots; verification is never turned off.
//!
//! `transport::client_config` builds the DM session's configuration (with client
//! certificates) but is private to that module; this one only needs the roots.

use std::path::Path;
use std::sync::Arc;

use super::DownloadError;

/// A rustls configuration trusting `ca_bundle`, or the web roots when `None`.
pub fn client_config(ca_bundle: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, DownloadError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_bundle {
        Some(path) => add_bundle(&mut roots, path)?,
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ca_error(Path::new("(built-in)"), &e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn add_bundle(roots: &mut rustls::RootCertStore, path: &Path) -> Result<(), DownloadError> {
    let pem = std::fs::read(path).map_err(|e| ca_error(path, &e))?;
    let mut count = 0;
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|e| ca_error(path, &e))?;
        roots.add(cert).map_err(|e| ca_error(path, &e))?;
        count += 1;
    }
    if count == 0 {
        return Err(ca_error(path, &"no PEM certificate in the file"));
    }
    Ok(())
}

fn ca_error(path: &Path, e: &dyn std::fmt::Display) -> DownloadError {
    DownloadError::CaBundle { path: path.to_path_buf(), message: e.to_string() }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_missing_or_empty_bundle_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("ca.pem");
        std::fs::write(&empty, "").unwrap();
        let e = client_config(Some(&empty)).unwrap_err();
        assert!(e.to_string().contains("ca.pem") && e.to_string().contains("no PEM"), "{e}");
        assert!(client_config(Some(&dir.path().join("absent.pem"))).is_err());
        assert!(client_config(None).is_ok());
    }
}
