//! `fotad-testserver`: runs the scriptable DM 1.2 test server on loopback and
//! prints every exchanged message as XML.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use fotad::dm::auth::Scheme;
use fotad::dm::notification::UiMode;
use fotad::dm::syncml::Codec;
use fotad_tests::testserver::{script, ServerConfig, TestServer, TlsFiles};

const USAGE: &str = "usage: fotad-testserver [--port N] [--tls CERT KEY] [--client-ca PEM] [--server-id ID]
  [--auth basic|digest|hmac] [--client-name NAME] [--client-secret S]
  [--server-auth basic|digest|hmac] [--server-secret S] [--reply xml|wbxml]
  [--chunk-size N] [--device DEVID --script FILE] [--notify FILE SESSIONID UIMODE]";

struct Args {
    cfg: ServerConfig,
    port: u16,
    tls: Option<(PathBuf, PathBuf)>,
    client_ca: Option<PathBuf>,
    device: Option<String>,
    script: Option<PathBuf>,
    notify: Option<(PathBuf, u16, UiMode)>,
}

fn scheme(v: &str) -> anyhow::Result<Scheme> {
    Scheme::from_dmacc(v).with_context(|| format!("unknown auth scheme {v:?}"))
}

fn parse_args() -> anyhow::Result<Args> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_env();
    let mut a = Args {
        cfg: ServerConfig::default(),
        port: 0,
        tls: None,
        client_ca: None,
        device: None,
        script: None,
        notify: None,
    };
    while let Some(arg) = p.next()? {
        match arg {
            Long("port") => a.port = p.value()?.parse()?,
            Long("tls") => a.tls = Some((p.value()?.into(), p.value()?.into())),
            Long("client-ca") => a.client_ca = Some(p.value()?.into()),
            Long("server-id") => a.cfg.server_id = p.value()?.string()?,
            Long("auth") => a.cfg.client_auth = scheme(&p.value()?.string()?)?,
            Long("client-name") => a.cfg.client_name = p.value()?.string()?,
            Long("client-secret") => a.cfg.client_secret = p.value()?.string()?,
            Long("server-auth") => a.cfg.server_auth = Some(scheme(&p.value()?.string()?)?),
            Long("server-secret") => a.cfg.server_secret = p.value()?.string()?,
            Long("reply") => {
                a.cfg.reply_codec = Some(if p.value()?.string()? == "xml" { Codec::Xml } else { Codec::Wbxml })
            }
            Long("chunk-size") => a.cfg.chunk_size = p.value()?.parse()?,
            Long("device") => a.device = Some(p.value()?.string()?),
            Long("script") => a.script = Some(p.value()?.into()),
            Long("notify") => {
                let file: PathBuf = p.value()?.into();
                let sid = u16::from_str_radix(&p.value()?.string()?, 16)?;
                let mode = match p.value()?.parse::<u8>()? {
                    1 => UiMode::Background,
                    2 => UiMode::Informative,
                    3 => UiMode::UserInteraction,
                    _ => UiMode::NotSpecified,
                };
                a.notify = Some((file, sid, mode));
            }
            Long("help") | Short('h') => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => bail!("{}\n{USAGE}", arg.unexpected()),
        }
    }
    Ok(a)
}

fn main() -> anyhow::Result<()> {
    let a = parse_args()?;
    let tls = a.tls.as_ref().map(|(c, k)| TlsFiles { cert: c, key: k, client_ca: a.client_ca.as_deref() });
    let server = TestServer::start(a.cfg, a.port, tls).context("starting the test server")?;
    if let (Some(dev), Some(file)) = (&a.device, &a.script) {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        server.apply(dev, script::parse(&text).map_err(anyhow::Error::msg)?);
    }
    if let Some((file, sid, mode)) = &a.notify {
        std::fs::write(file, server.notification(*sid, *mode))
            .with_context(|| format!("writing {}", file.display()))?;
    }
    println!("listening on {}", server.url());
    let mut shown = 0;
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let log = server.log();
        for e in &log[shown..] {
            for (dir, m) in [("device -> server", &e.request), ("server -> device", &e.response)] {
                let xml = Codec::Xml.encode(m).map(|b| String::from_utf8_lossy(&b).into_owned());
                println!("--- {dir}\n{}", xml.unwrap_or_else(|e| format!("(not printable: {e})")));
            }
        }
        shown = log.len();
    }
}
