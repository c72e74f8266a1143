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
    pub pin_tries_left: u32,
    /// `None` (JSON null) when the caller may not see it (not root, not in
    /// group fotad-ui).
    pub identity: Option<SimIdentityView>,
}

/// The SIM's identity, for root and group fotad-ui (`GetSimIdentity`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimIdentityView {
    pub iccid: String,
    pub imsi: String,
    pub msisdn: String,
    pub operator: String,
}

/// The identity when the daemon gives it to this caller; `None` when it
/// refuses (or is too old to have the method).
async fn sim_identity(agent: &Agent1Proxy<'_>) -> zbus::Result<Option<SimIdentityView>> {
    match agent.get_sim_identity().await {
        Ok((iccid, imsi, msisdn, operator)) => Ok(Some(SimIdentityView { iccid, imsi, msisdn, operator })),
        Err(zbus::Error::MethodError(name, _, _))
            if name.ends_with(".AccessDenied") || name.as_str() == "org.freedesktop.DBus.Error.UnknownMethod" =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

impl Status {
    pub async fn read(agent: &Agent1Proxy<'_>) -> zbus::Result<Status> {
        let (percent, bytes_done, bytes_total, message) = agent.progress().await?;
        let (code, result) = agent.last_result().await?;
        let (sim_state, pin_tries_left) = agent.sim().await?;
        let identity = sim_identity(agent).await?;
        Ok(Status {
            state: agent.state().await?,
            fumo_state: agent.fumo_state().await?,
            progress: ProgressView { percent, bytes_done, bytes_total, message },
            current_version: agent.current_version().await?,
            booted_slot: agent.booted_slot().await?,
            slots: agent.slots().await?.into_iter().collect(),
            last_result: ResultView { code, message: result },
            language: agent.language().await?,
            sim: SimView { state: sim_state, pin_tries_left, identity },
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
        let identity = match &s.identity {
            Some(i) => format!("operator {} ICCID {}", dash(&i.operator), dash(&i.iccid)),
            None => "(identity: root and group fotad-ui only)".to_string(),
        };
        let _ = writeln!(out, "SIM:              {} {identity}", s.state);
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
            sim: SimView { state: "absent".into(), pin_tries_left: 0, identity: None },
        };
        let h = s.human();
        assert!(h.contains("progress:         42% Writing"), "{h}");
        assert!(h.contains("slots:            A=good B=bad"), "{h}");
        assert!(h.contains("last result:      -"), "{h}");
        assert!(h.contains("SIM:              absent (identity: root and group fotad-ui only)"), "{h}");
        let j: serde_json::Value = serde_json::to_value(&s).unwrap();
        assert_eq!(j["progress"]["percent"], 42);
        assert_eq!(j["slots"]["B"], "bad");
        assert!(j["sim"]["identity"].is_null());
        let id = SimIdentityView {
            iccid: "8949".into(),
            imsi: "262011234567890".into(),
            msisdn: String::new(),
            operator: "26201".into(),
        };
        let with = Status { sim: SimView { identity: Some(id), ..s.sim.clone() }, ..s };
        assert!(with.human().contains("SIM:              absent operator 26201 ICCID 8949"), "{}", with.human());
        assert_eq!(serde_json::to_value(&with).unwrap()["sim"]["identity"]["imsi"], "262011234567890");
    }
}
