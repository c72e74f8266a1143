//! Helpers for tests and the demo: a device configuration pointing at a test
//! server, and test certificates made with the real `openssl` tool.

use std::path::{Path, PathBuf};
use std::process::Command as Proc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use fotad::dm::auth::Scheme;
use fotad::dm::syncml::Codec;

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

/// Test PKI files (PEM) made by [`make_certs`].
#[derive(Debug, Clone)]
pub struct Certs {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

/// A CA, a server certificate for 127.0.0.1/localhost and a client
/// certificate, made by the real `openssl`. Panics when openssl is missing.
pub fn make_certs(dir: &Path) -> Certs {
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
    // A new P-256 key and a request (or, with -x509, a self-signed CA).
    let req = |extra: &str, key: &str, out: &str, subj: &str| {
        let ec = "req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2";
        let mut args: Vec<&str> = ec.split(' ').collect();
        args.extend(extra.split(' ').filter(|a| !a.is_empty()));
        args.extend(["-keyout", key, "-out", out, "-subj", subj]);
        run(&args);
    };
    req("-x509", "ca.key", "ca.pem", "/CN=fotad test CA");
    req("", "server.key", "server.csr", "/CN=localhost");
    let client_ext = "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n";
    std::fs::write(p("client-ext.cnf"), client_ext).unwrap_or_else(|e| panic!("{e}"));
    req("", "client.key", "client.csr", "/CN=IMEI:490154203237518");
    for (who, ext) in [("server", "ext.cnf"), ("client", "client-ext.cnf")] {
        let (csr, pem) = (format!("{who}.csr"), format!("{who}.pem"));
        let sign = "x509 -req -CA ca.pem -CAkey ca.key -CAcreateserial -days 2";
        let mut args: Vec<&str> = sign.split(' ').collect();
        args.extend(["-in", &csr, "-out", &pem, "-extfile", ext]);
        run(&args);
    }
    Certs {
        ca: p("ca.pem"),
        server_cert: p("server.pem"),
        server_key: p("server.key"),
        client_cert: p("client.pem"),
        client_key: p("client.key"),
    }
}
