//! The real nginx, started by a test on a loopback port with its own config in
//! a temporary directory (static files from a root directory, Range and ETag on,
//! as nginx has them by default; optionally TLS). Killed when dropped.

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Certificate and key files for an https server.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A running nginx.
#[derive(Debug)]
pub struct Nginx {
    child: Child,
    addr: SocketAddr,
    scheme: &'static str,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// Serves `root` over http (or https with `tls`). Panics, naming the Debian
    /// package, when nginx is not installed, and with its error log when it
    /// does not come up.
    pub fn start(root: &Path, tls: Option<&TlsFiles>) -> Result<Nginx, String> {
        Nginx::start_limited(root, tls, None)
    }

    /// [`Nginx::start`], sending each response at most `rate` bytes per second
    /// (nginx's `limit_rate`), so that a test can act in the middle of a transfer.
    pub fn start_limited(root: &Path, tls: Option<&TlsFiles>, rate: Option<u64>) -> Result<Nginx, String> {
        workers_can_read(root)?;
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let addr = free_port()?;
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, config(dir.path(), root, addr, tls, rate))
            .map_err(|e| format!("{}: {e}", conf.display()))?;
        let child = Command::new("nginx")
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run nginx ({e}): install the Debian package nginx (scripts/test does)"))?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut nginx = Nginx { child, addr, scheme, dir };
        nginx.wait_ready()?;
        Ok(nginx)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http(s)://127.0.0.1:port` + `path` (`localhost` for https, to match the certificate).
    pub fn url(&self, path: &str) -> String {
        match self.scheme {
            "https" => format!("https://localhost:{}{path}", self.addr.port()),
            _ => format!("http://{}{path}", self.addr),
        }
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("nginx exited with {status}: {}", self.error_log()));
            }
            if TcpStream::connect(self.addr).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("nginx did not listen on {} within 10 s: {}", self.addr, self.error_log()))
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether nginx's workers can serve files below `root`: started by root,
/// they run as `nobody`, so every directory on the way must be searchable by
/// others. Says which one is not and what to do, before anything is served.
pub fn workers_can_read(root: &Path) -> Result<(), String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if std::fs::metadata("/proc/self").map_or(true, |m| m.uid() != 0) {
        return Ok(()); // the workers run as the caller
    }
    let root = std::path::absolute(root).map_err(|e| format!("{}: {e}", root.display()))?;
    for dir in root.ancestors() {
        let Ok(meta) = std::fs::metadata(dir) else { continue };
        if meta.is_dir() && meta.permissions().mode() & 0o001 == 0 {
            return Err(format!(
                "nginx's workers (user nobody) cannot enter {} (mode {:o}), so they could not serve the packages \
                 below it: use a directory that others may enter, or `chmod o+x {}`",
                dir.display(),
                meta.permissions().mode() & 0o7777,
                dir.display()
            ));
        }
    }
    Ok(())
}

fn free_port() -> Result<SocketAddr, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("binding a loopback port: {e}"))?;
    listener.local_addr().map_err(|e| e.to_string())
}

fn config(dir: &Path, root: &Path, addr: SocketAddr, tls: Option<&TlsFiles>, rate: Option<u64>) -> String {
    let d = dir.display();
    let mut server =
        format!("    listen {addr}{};\n    root {};\n", if tls.is_some() { " ssl" } else { "" }, root.display());
    if let Some(r) = rate {
        let _ = writeln!(server, "    limit_rate {r};");
    }
    if let Some(t) = tls {
        let _ =
            write!(server, "    ssl_certificate {};\n    ssl_certificate_key {};\n", t.cert.display(), t.key.display());
    }
    format!(
        "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n  log_format fotad '$remote_addr [$time_local] \"$request\" $status $body_bytes_sent \"$http_range\"';\n  access_log {d}/access.log fotad;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
           fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
           types {{ application/vnd.oma.dd+xml dd; application/vnd.fotad.package fota; }}\n\
           default_type application/octet-stream;\n  server {{\n{server}  }}\n}}\n"
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use super::*;

    #[test]
    fn a_root_below_a_private_directory_is_refused_at_once_when_workers_drop_to_nobody() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let private = dir.path().join("mktemp-d");
        std::fs::create_dir_all(private.join("www")).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
        let root = private.join("www");
        let as_root = std::fs::metadata("/proc/self").unwrap().uid() == 0;
        match Nginx::start(&root, None) {
            Err(e) if as_root => assert!(e.contains("mktemp-d") && e.contains("chmod o+x"), "{e}"),
            Ok(_) if !as_root => {} // the workers run as the caller, who can read it
            other => panic!("as root: {as_root}, got {:?}", other.map(|n| n.addr())),
        }
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o711)).unwrap();
        let nginx = Nginx::start(&root, None).unwrap();
        std::fs::write(root.join("a"), "x").unwrap();
        std::fs::set_permissions(root.join("a"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut conn = TcpStream::connect(nginx.addr()).unwrap();
        use std::io::{Read, Write};
        conn.write_all(b"GET /a HTTP/1.0\r\n\r\n").unwrap();
        let mut text = String::new();
        conn.read_to_string(&mut text).unwrap();
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    }
}
