//! Whatever a download server answers (status line, headers, redirects,
//! body), the download agent ends with a result and never panics: each input
//! is served as the raw HTTP answer to every request, on loopback, to the
//! real download agent streaming into the real installer.
#![no_main]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use fotad::download::{DownloadJob, DownloadSettings, Downloader};
use fotad_updater::install::{ImageTarget, InstallOptions, Installer};
use libfuzzer_sys::fuzz_target;

struct Rig {
    addr: SocketAddr,
    answer: Arc<Mutex<Vec<u8>>>,
    dir: PathBuf,
    agent: Downloader,
}

/// Answers each connection, one after another, with the current answer.
fn serve(listener: TcpListener, answer: Arc<Mutex<Vec<u8>>>) {
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
        let mut rd = BufReader::new(match conn.try_clone() {
            Ok(c) => c,
            Err(_) => continue,
        });
        let mut line = String::new();
        while rd.read_line(&mut line).is_ok_and(|n| n > 2) {
            line.clear();
        }
        let bytes = answer.lock().map(|a| a.clone()).unwrap_or_default();
        let _ = conn.write_all(&bytes);
    }
}

fn rig() -> &'static Rig {
    static RIG: OnceLock<Rig> = OnceLock::new();
    RIG.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("loopback");
        let addr = listener.local_addr().expect("address");
        let answer = Arc::new(Mutex::new(Vec::new()));
        let served = Arc::clone(&answer);
        std::thread::spawn(move || serve(listener, served));
        let dir = std::env::temp_dir().join(format!("fotad-fuzz-http-{}", std::process::id()));
        for sub in ["keys", "state"] {
            std::fs::create_dir_all(dir.join(sub)).expect("temp dir");
        }
        let settings = DownloadSettings {
            connect_timeout: Duration::from_millis(500),
            read_timeout: Duration::from_millis(300),
            deadline: Duration::ZERO,
            ..DownloadSettings::default()
        };
        Rig { addr, answer, dir, agent: Downloader::new(settings).expect("downloader") }
    })
}

fuzz_target!(|data: &[u8]| {
    let rig = rig();
    *rig.answer.lock().expect("answer") = data.to_vec();
    let installer = Installer::new(InstallOptions {
        keys_dir: rig.dir.join("keys"),
        state_dir: rig.dir.join("state"),
        compatible: "acme,gw-1".into(),
        installed_security_version: 0,
        images: BTreeMap::from([("rootfs".into(), ImageTarget { target: rig.dir.join("slot"), source: None })]),
    });
    let url = format!("http://{}/p.fota", rig.addr);
    let job = DownloadJob { pkg_url: &url, state_dir: &rig.dir.join("state"), language: "en" };
    // No key is trusted: nothing can install.
    assert!(rig.agent.download(&job, &installer, &mut |_| {}).is_err());
});
