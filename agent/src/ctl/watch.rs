//! Live view: a progress bar from `Progress`/`State` changes, prompts with the
//! command that answers them, and the end of each job.

use std::io::Write;

use futures_lite::StreamExt;

use super::proxy::Agent1Proxy;

/// A text progress bar: `[#########...........]  45% message`.
pub fn bar(percent: u32, message: &str) -> String {
    let width = 30usize;
    let filled = (percent.min(100) as usize * width) / 100;
    format!("[{}{}] {:>3}% {}", "#".repeat(filled), ".".repeat(width - filled), percent.min(100), message)
}

/// How the prompt reads in a terminal.
pub fn describe_prompt(id: u32, kind: &str, text: &str, choices: &[String]) -> String {
    let mut out = format!("prompt {id} ({kind}): {text}");
    for (n, c) in choices.iter().enumerate() {
        out.push_str(&format!("\n  {}) {c}", n + 1));
    }
    let how = match kind {
        "confirm" => format!("fotactl respond {id} accept|reject"),
        "text" => format!("fotactl respond {id} text VALUE"),
        "single-choice" | "multi-choice" => format!("fotactl respond {id} choose N..."),
        "consent" => "fotactl accept | fotactl defer [SECONDS]".to_string(),
        _ => format!("fotactl respond {id} accept"),
    };
    out.push_str(&format!("\n  answer: {how}"));
    out
}

/// The agent's signal streams, subscribed before a job starts so its end is never missed.
pub struct Subscriptions {
    progress: zbus::proxy::PropertyStream<'static, (u32, u64, u64, String)>,
    states: zbus::proxy::PropertyStream<'static, String>,
    prompts: super::proxy::PromptStream,
    completed: super::proxy::CompletedStream,
}

impl std::fmt::Debug for Subscriptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Subscriptions")
    }
}

impl Subscriptions {
    /// Subscribes, then registers as a UI (prompts come to a person here);
    /// a caller the daemon does not let answer prompts just watches.
    pub async fn new(agent: &Agent1Proxy<'static>) -> zbus::Result<Subscriptions> {
        let subs = Subscriptions {
            progress: agent.receive_progress_changed().await,
            states: agent.receive_state_changed().await,
            prompts: agent.receive_prompt().await?,
            completed: agent.receive_completed().await?,
        };
        match agent.register_ui().await {
            Ok(()) => println!("registered as a UI: prompts are shown here"),
            Err(e) => eprintln!("fotactl: not registered as a UI ({e}); prompts are answered without a person"),
        }
        Ok(subs)
    }

    /// Follows the agent until a job completes (`until_completed`) or forever.
    /// Returns the last completion's result code.
    pub async fn follow(mut self, until_completed: bool) -> zbus::Result<Option<u32>> {
        let mut stdout = std::io::stdout();
        loop {
            tokio::select! {
                Some(p) = self.progress.next() => {
                    if let Ok((pct, _, _, msg)) = p.get().await {
                        let _ = write!(stdout, "\r\x1b[2K{}", bar(pct, &msg));
                        let _ = stdout.flush();
                    }
                }
                Some(s) = self.states.next() => {
                    if let Ok(state) = s.get().await {
                        let _ = writeln!(stdout, "\r\x1b[2Kstate: {state}");
                    }
                }
                Some(p) = self.prompts.next() => {
                    if let Ok(a) = p.args() {
                        let _ = writeln!(stdout, "\r\x1b[2K{}", describe_prompt(a.id, &a.kind, &a.text, &a.choices));
                    }
                }
                Some(c) = self.completed.next() => {
                    if let Ok(a) = c.args() {
                        let _ = writeln!(stdout, "\r\x1b[2K{}: {} {}", a.job, a.code, a.message);
                        if until_completed {
                            return Ok(Some(a.code));
                        }
                    }
                }
                else => return Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_bar_and_prompt() {
        assert_eq!(bar(50, "x"), format!("[{}{}]  50% x", "#".repeat(15), ".".repeat(15)));
        assert_eq!(bar(150, ""), format!("[{}] 100% ", "#".repeat(30)));
        let p = describe_prompt(3, "single-choice", "Pick", &["a".into(), "b".into()]);
        assert_eq!(p, "prompt 3 (single-choice): Pick\n  1) a\n  2) b\n  answer: fotactl respond 3 choose N...");
    }
}
