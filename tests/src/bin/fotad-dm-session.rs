//! `fotad-dm-session CONFIG.toml`: runs one client-initiated DM session with
//! the first account of a `[dm]`/`[[accounts]]` configuration, then prints
//! the session report and the process's peak resident memory
//! (`peak_rss_kib=`), for tests that bound the agent's memory.

use anyhow::Context;
use fotad::dm::client::DmClient;
use fotad::dm::config::Settings;
use fotad::dm::mo::Versions;
use fotad::dm::session::{NoExec, NoUi, Trigger};

fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).context("usage: fotad-dm-session CONFIG.toml")?;
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let settings = Settings::from_toml_str(&text).with_context(|| format!("parsing {path}"))?;
    let mut client = DmClient::open(settings, Versions::fixed("fw", "sw")).context("opening the DM client")?;
    let report = client.session(None, &Trigger::Client, &NoUi, &mut NoExec).context("DM session")?;
    println!("messages_sent={}", report.messages_sent);
    let status = std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let hwm = status.lines().find(|l| l.starts_with("VmHWM:")).context("no VmHWM")?;
    let kib: u64 = hwm.split_whitespace().nth(1).unwrap_or("0").parse()?;
    println!("peak_rss_kib={kib}");
    Ok(())
}
