//! The reboot into an activated slot: `[fumo] reboot_command` (default
//! `systemctl reboot`), run once consent allows it (`jobs.rs`).

use std::process::Command;

use anyhow::Context;

/// Runs `command`; an empty one leaves the reboot to someone else.
pub fn run(command: &[String]) -> anyhow::Result<()> {
    let Some((program, args)) = command.split_first() else {
        tracing::info!("fumo: no reboot_command configured; the new slot boots at the next reboot");
        return Ok(());
    };
    let status =
        Command::new(program).args(args).status().with_context(|| format!("running the reboot command {program}"))?;
    anyhow::ensure!(status.success(), "the reboot command {program} failed: {status}");
    Ok(())
}
