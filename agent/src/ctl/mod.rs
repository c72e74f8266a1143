//! `fotactl`, the reference client of `org.fotad.Agent1`: arguments, the bus
//! connection, one command per call. The binary is a thin `main` over [`main`].

mod proxy;
mod status;
mod watch;

pub use proxy::Agent1Proxy;
pub use status::Status;
pub use watch::{bar, describe_prompt};

use std::ffi::OsString;
use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{bail, Context};
use zbus::connection::Builder;
use zbus::Connection;

pub const USAGE: &str = "usage: fotactl [--system | --session | --address ADDR] COMMAND\n\
commands:\n\
  status [--json]              show the agent's state\n\
  check [--no-wait]            check for updates (waits for the result)\n\
  install FILE [--no-wait]     install a local package (root), with a progress bar\n\
  accept                       consent to the pending update\n\
  defer [SECONDS]              postpone the pending update\n\
  cancel                       stop the running job at its next checkpoint\n\
  watch [--once]               follow progress and prompts (--once: until a job ends)\n\
  respond ID ACTION [VALUE..]  answer a prompt: accept, reject, cancel, text V, choose N.., defer S\n\
  set-language LANG            set the device language (en, de, fr, es, zh-CN, ...)\n\
  pin                          read the SIM PIN from stdin and verify it";

/// Which bus to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bus {
    System,
    Session,
    Address(String),
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cli {
    pub bus: Bus,
    pub command: Command,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Status { json: bool },
    Check { wait: bool },
    Install { file: PathBuf, wait: bool },
    Accept,
    Defer { seconds: u32 },
    Cancel,
    Watch { once: bool },
    Respond { id: u32, action: String, values: Vec<String> },
    SetLanguage { language: String },
    Pin,
}

pub fn parse(args: impl IntoIterator<Item = OsString>) -> anyhow::Result<Cli> {
    let mut bus = Bus::System;
    let mut words: Vec<String> = Vec::new();
    let mut args = args.into_iter();
    while let Some(a) = args.next() {
        let a = a.into_string().map_err(|a| anyhow::anyhow!("argument {a:?} is not UTF-8"))?;
        match a.as_str() {
            "--system" => bus = Bus::System,
            "--session" => bus = Bus::Session,
            "--address" => {
                let addr = args.next().context("--address needs a D-Bus address")?;
                bus = Bus::Address(addr.to_string_lossy().into_owned());
            }
            "-h" | "--help" => bail!("{USAGE}"),
            _ => words.push(a),
        }
    }
    let flag = |words: &mut Vec<String>, f: &str| {
        let had = words.iter().any(|w| w == f);
        words.retain(|w| w != f);
        had
    };
    let json = flag(&mut words, "--json");
    let no_wait = flag(&mut words, "--no-wait");
    let once = flag(&mut words, "--once");
    let command = command(&words, json, !no_wait, once)?;
    Ok(Cli { bus, command })
}

fn command(words: &[String], json: bool, wait: bool, once: bool) -> anyhow::Result<Command> {
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    Ok(match w.as_slice() {
        ["status"] => Command::Status { json },
        ["check"] => Command::Check { wait },
        ["install", file] => Command::Install { file: PathBuf::from(file), wait },
        ["accept"] => Command::Accept,
        ["defer"] => Command::Defer { seconds: 0 },
        ["defer", s] => Command::Defer { seconds: s.parse().with_context(|| format!("{s:?} is not seconds"))? },
        ["cancel"] => Command::Cancel,
        ["watch"] => Command::Watch { once },
        ["respond", id, action, values @ ..] => Command::Respond {
            id: id.parse().with_context(|| format!("prompt id {id:?} is not a number"))?,
            action: action.to_string(),
            values: values.iter().map(|v| v.to_string()).collect(),
        },
        ["set-language", lang] => Command::SetLanguage { language: lang.to_string() },
        ["pin"] => Command::Pin,
        [] => bail!("no command given\n{USAGE}"),
        other => bail!("unknown command {:?}\n{USAGE}", other.join(" ")),
    })
}

async fn connect(bus: &Bus) -> anyhow::Result<Connection> {
    let builder = match bus {
        Bus::System => Builder::system()?,
        Bus::Session => Builder::session()?,
        Bus::Address(a) => Builder::address(a.as_str())?,
    };
    builder.build().await.with_context(|| format!("connecting to the {bus:?} bus"))
}

/// Runs one command; the exit code is 0 on success, 1 when a job failed.
pub fn main(args: impl IntoIterator<Item = OsString>) -> anyhow::Result<u8> {
    let cli = parse(args)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the runtime")?;
    rt.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<u8> {
    let conn = connect(&cli.bus).await?;
    let agent = Agent1Proxy::new(&conn).await?;
    let ctx = || "calling org.fotad.Agent1 (is fotad running? are you root or in group fotad-ui?)";
    match cli.command {
        Command::Status { json } => {
            let s = Status::read(&agent).await.with_context(ctx)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                print!("{}", s.human());
            }
        }
        Command::Check { wait } => return job(&agent, wait, agent.check_for_update()).await,
        Command::Install { file, wait } => {
            let file = std::fs::canonicalize(&file).with_context(|| format!("finding {}", file.display()))?;
            let path = file.to_str().context("the package path is not UTF-8")?.to_string();
            return job(&agent, wait, agent.install_file(&path)).await;
        }
        Command::Accept => agent.accept().await.with_context(ctx)?,
        Command::Defer { seconds } => agent.defer(seconds).await.with_context(ctx)?,
        Command::Cancel => agent.cancel().await.with_context(ctx)?,
        Command::Watch { once } => {
            let code = watch::Subscriptions::new(&agent).await?.follow(once).await?;
            return Ok(u8::from(code.is_some_and(|c| c >= 300)));
        }
        Command::Respond { id, action, values } => {
            let v: Vec<&str> = values.iter().map(String::as_str).collect();
            agent.respond_to_prompt(id, &action, &v).await.with_context(ctx)?
        }
        Command::SetLanguage { language } => agent.set_language(&language).await.with_context(ctx)?,
        Command::Pin => {
            let mut pin = String::new();
            std::io::stdin().lock().read_line(&mut pin).context("reading the PIN from stdin")?;
            let left = agent.enter_pin(pin.trim()).await.context("verifying the PIN")?;
            println!("PIN accepted ({left} tries left)");
        }
    }
    Ok(0)
}

/// Starts a job; with `wait`, follows it to `Completed` (subscribed before
/// the call so the end is never missed) and returns 1 when it failed.
async fn job(
    agent: &Agent1Proxy<'static>,
    wait: bool,
    call: impl std::future::Future<Output = zbus::Result<()>>,
) -> anyhow::Result<u8> {
    let subs = if wait { Some(watch::Subscriptions::new(agent).await?) } else { None };
    call.await.context("starting the job")?;
    let Some(subs) = subs else { return Ok(0) };
    let code = subs.follow(true).await?.context("the agent's signals ended before the job completed")?;
    Ok(u8::from(code >= 300))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn p(args: &[&str]) -> anyhow::Result<Cli> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn parses_commands_and_flags() {
        let c = p(&["--address", "unix:path=/b", "status", "--json"]).unwrap();
        assert_eq!(c.bus, Bus::Address("unix:path=/b".into()));
        assert_eq!(c.command, Command::Status { json: true });
        assert_eq!(p(&["check", "--no-wait"]).unwrap().command, Command::Check { wait: false });
        assert_eq!(
            p(&["respond", "3", "choose", "1", "2"]).unwrap().command,
            Command::Respond { id: 3, action: "choose".into(), values: vec!["1".into(), "2".into()] }
        );
        assert_eq!(p(&["defer", "60"]).unwrap().command, Command::Defer { seconds: 60 });
        assert!(p(&["respond", "x", "accept"]).is_err());
        assert!(p(&["frobnicate"]).is_err());
        assert!(p(&[]).is_err());
    }
}
