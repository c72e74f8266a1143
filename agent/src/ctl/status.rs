//! `fotactl status`: every property, for people and as JSON for scripts.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::proxy::Agent1Proxy;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    pub state: String,
    pub fumo_state: u32,
    pub progress: ProgressView,
    pub current_version: String,
    pub booted_slot: String,
    pub slots: BTreeMap<String, String>,
    pub last_result: ResultView,
    pub language: String,
    pub sim: SimView,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProgressView {
    pub percent: u32,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResultView {
    pub code: u32,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimView {
    pub state: String,
    pub iccid: String,
    pub operator: String,
    pub pin_tries_left: u32,
}

impl Status {
    pub async fn read(agent: &Agent1Proxy<'_>) -> zbus::Result<Status> {
        let (percent, bytes_done, bytes_total, message) = agent.progress().await?;
        let (code, result) = agent.last_result().await?;
        let (sim_state, iccid, operator, pin_tries_left) = agent.sim().await?;
        Ok(Status {
            state: agent.state().await?,
            fumo_state: agent.fumo_state().await?,
            progress: ProgressView { percent, bytes_done, bytes_total, message },
            current_version: agent.current_version().await?,
            booted_slot: agent.booted_slot().await?,
            slots: agent.slots().await?.into_iter().collect(),
            last_result: ResultView { code, message: result },
            language: agent.language().await?,
            sim: SimView { state: sim_state, iccid, operator, pin_tries_left },
        })
    }

    /// The human form, one `key: value` line each.
    pub fn human(&self) -> String {
        let dash = |s: &str| if s.is_empty() { "-".to_string() } else { s.to_string() };
        let mut out = String::new();
        let _ = writeln!(out, "state:            {}", self.state);
        let p = &self.progress;
        if p.percent > 0 || !p.message.is_empty() {
            let _ = writeln!(out, "progress:         {}% {}", p.percent, p.message);
        }
        let _ = writeln!(out, "version:          {}", dash(&self.current_version));
        let _ = writeln!(out, "booted slot:      {}", dash(&self.booted_slot));
        let slots: Vec<String> = self.slots.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(out, "slots:            {}", dash(&slots.join(" ")));
        let _ = writeln!(out, "FUMO state:       {}", self.fumo_state);
        let r = &self.last_result;
        let last = if r.code == 0 { "-".to_string() } else { format!("{} {}", r.code, r.message) };
        let _ = writeln!(out, "last result:      {last}");
        let _ = writeln!(out, "language:         {}", self.language);
        let s = &self.sim;
        let _ = writeln!(out, "SIM:              {} {} {}", s.state, dash(&s.operator), dash(&s.iccid));
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn human_and_json_forms() {
        let s = Status {
            state: "installing".into(),
            fumo_state: 60,
            progress: ProgressView { percent: 42, bytes_done: 42, bytes_total: 100, message: "Writing".into() },
            current_version: "1.0".into(),
            booted_slot: "A".into(),
            slots: BTreeMap::from([("A".into(), "good".into()), ("B".into(), "bad".into())]),
            last_result: ResultView { code: 0, message: String::new() },
            language: "en".into(),
            sim: SimView { state: "absent".into(), iccid: String::new(), operator: String::new(), pin_tries_left: 0 },
        };
        let h = s.human();
        assert!(h.contains("progress:         42% Writing"), "{h}");
        assert!(h.contains("slots:            A=good B=bad"), "{h}");
        assert!(h.contains("last result:      -"), "{h}");
        let j: serde_json::Value = serde_json::to_value(&s).unwrap();
        assert_eq!(j["progress"]["percent"], 42);
        assert_eq!(j["slots"]["B"], "bad");
    }
}
