//! Helpers for tests and the demo: a device configuration pointing at a test
//! server, and test certificates made with the real `openssl` tool.

use std::path::{Path, PathBuf};
use std::process::Command as Proc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use fotad::auth::Scheme;
use fotad::syncml::Codec;

use super::ServerConfig;

/// The device side of a test setup, as a `[dm]` + `[[accounts]]` document.
pub fn device_toml(
    state_dir: &Path,
    url: &str,
    server: &ServerConfig,
    codec: Codec,
    max_msg_size: u64,
    ca: Option<&Path>,
) -> String {
    let auth = match server.client_auth {
        Scheme::Basic => "basic",
        Scheme::Md5 => "digest",
        Scheme::Hmac => "hmac",
    };
    let encoding = if codec == Codec::Xml { "xml" } else { "wbxml" };
    let ca = ca.map(|p| format!("ca_bundle = {:?}\n", p.display().to_string())).unwrap_or_default();
    format!(
        r#"[dm]
device_id = "IMEI:490154203237518"
manufacturer = "fotad-test"
model = "qemu-x86_64"
state_dir = {state:?}
encoding = "{encoding}"
max_msg_size = {max_msg_size}

[[accounts]]
server_id = {sid:?}
address = {url:?}
auth = "{auth}"
client_name = {name:?}
client_secret = {secret:?}
server_secret = {ssecret:?}
client_nonce = {cnonce:?}
server_nonce = {snonce:?}
{ca}"#,
        state = state_dir.display().to_string(),
        cnonce = B64.encode(&server.client_nonce),
        snonce = B64.encode(&server.device_nonce),
        sid = server.server_id,
        name = server.client_name,
        secret = server.client_secret,
        ssecret = if server.server_auth.is_some() { server.server_secret.as_str() } else { "" },
    )
}

/// A CA and a server certificate for 127.0.0.1/localhost, made by `openssl`.
/// Returns (ca.pem, server.pem, server.key). Panics when openssl is missing.
pub fn make_certs(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let p = |n: &str| dir.join(n);
    let run = |args: &[&str]| {
        let out = Proc::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| panic!("openssl is required (apt-get install openssl): {e}"));
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    std::fs::write(p("ext.cnf"), "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n").unwrap_or_else(|e| panic!("{e}"));
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-subj",
        "/CN=fotad test CA",
        "-days",
        "2",
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    (p("ca.pem"), p("server.pem"), p("server.key"))
}
