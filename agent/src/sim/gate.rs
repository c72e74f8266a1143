//! The operator update gate: EF_FOTA on the SIM (condition byte + 16-byte
//! validation string) decides whether a package may be downloaded and
//! installed, per the table in docs/sim.md. `decide` is the whole table.

use serde::Serialize;

/// Condition byte bit: firmware updates allowed.
pub const COND_UPDATE_ALLOWED: u8 = 0x01;
/// Condition byte bit: the operator secures updates (only its packages).
pub const COND_OPERATOR_SECURED: u8 = 0x02;
/// EF_FOTA length: condition byte + validation string.
pub const EF_FOTA_LEN: usize = 17;

/// What the SIM says, or why it says nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum GateState {
    /// No SIM in the reader (or no reader).
    NoSim,
    /// A SIM without EF_FOTA.
    NoFile,
    /// EF_FOTA could not be read or parsed.
    Unreadable { reason: String },
    /// EF_FOTA's content.
    Operator {
        update_allowed: bool,
        secured: bool,
        #[serde(serialize_with = "hex_tag")]
        validation: [u8; 16],
    },
}

fn hex_tag<S: serde::Serializer>(tag: &[u8; 16], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&tag.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

impl GateState {
    /// Parses EF_FOTA: byte 0 condition, bytes 1..17 validation string.
    pub fn from_ef_fota(bytes: &[u8]) -> GateState {
        let (Some(&cond), Some(v)) = (bytes.first(), bytes.get(1..EF_FOTA_LEN)) else {
            return GateState::Unreadable {
                reason: format!("EF_FOTA has {} bytes, expected {EF_FOTA_LEN}", bytes.len()),
            };
        };
        let mut validation = [0u8; 16];
        validation.copy_from_slice(v);
        GateState::Operator {
            update_allowed: cond & COND_UPDATE_ALLOWED != 0,
            secured: cond & COND_OPERATOR_SECURED != 0,
            validation,
        }
    }
}

/// What to do without a SIM or without EF_FOTA (`[sim] no_sim_policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoSimPolicy {
    /// As a SIM that does not secure updates: every package may install.
    #[default]
    NotSecured,
    /// Refuse every package.
    Refuse,
}

/// Why a package is refused (FUMO result 405, not acceptable: `fumo::result`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateRefusal {
    #[error("the operator's SIM does not allow firmware updates now (EF_FOTA condition: updates not allowed)")]
    UpdatesNotAllowed,
    #[error("the operator secures updates and this package carries no operator tag")]
    Untagged,
    #[error("the package is tagged for another operator than the SIM's (operator tag mismatch)")]
    OtherOperator,
    #[error("no SIM or no EF_FOTA, and the [sim] no_sim_policy is \"refuse\"")]
    NoSimPolicy,
    #[error("EF_FOTA on the SIM is unreadable ({0}); refusing to be safe")]
    Unreadable(String),
}

/// The decision table: may a package with `tag` (the manifest's
/// `operator_tag_bytes()`) be downloaded and installed?
pub fn decide(gate: &GateState, policy: NoSimPolicy, tag: Option<[u8; 16]>) -> Result<(), GateRefusal> {
    match gate {
        GateState::NoSim | GateState::NoFile => match policy {
            NoSimPolicy::NotSecured => Ok(()),
            NoSimPolicy::Refuse => Err(GateRefusal::NoSimPolicy),
        },
        GateState::Unreadable { reason } => Err(GateRefusal::Unreadable(reason.clone())),
        GateState::Operator { secured: false, .. } => Ok(()),
        GateState::Operator { update_allowed: false, .. } => Err(GateRefusal::UpdatesNotAllowed),
        GateState::Operator { validation, .. } => match tag {
            None => Err(GateRefusal::Untagged),
            Some(t) if t == *validation => Ok(()),
            Some(_) => Err(GateRefusal::OtherOperator),
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const A: [u8; 16] = *b"operator-A-tag-1";
    const B: [u8; 16] = *b"operator-B-tag-2";

    fn sim(cond: u8) -> GateState {
        let mut f = vec![cond];
        f.extend(A);
        GateState::from_ef_fota(&f)
    }

    /// Every cell: rows = package (tagged A, untagged, tagged B), columns =
    /// secured+allowed, not secured (allowed or not), secured+not allowed.
    #[test]
    fn decision_table_every_cell() {
        let secured_allowed = sim(COND_OPERATOR_SECURED | COND_UPDATE_ALLOWED);
        let not_secured = [sim(COND_UPDATE_ALLOWED), sim(0)];
        let secured_denied = sim(COND_OPERATOR_SECURED);
        let p = NoSimPolicy::NotSecured;
        assert_eq!(decide(&secured_allowed, p, Some(A)), Ok(()));
        assert_eq!(decide(&secured_allowed, p, None), Err(GateRefusal::Untagged));
        assert_eq!(decide(&secured_allowed, p, Some(B)), Err(GateRefusal::OtherOperator));
        for ns in &not_secured {
            for tag in [Some(A), None, Some(B)] {
                assert_eq!(decide(ns, p, tag), Ok(()), "{ns:?} {tag:?}");
            }
        }
        for tag in [Some(A), None, Some(B)] {
            assert_eq!(decide(&secured_denied, p, tag), Err(GateRefusal::UpdatesNotAllowed));
        }
    }

    #[test]
    fn no_sim_and_no_file_follow_the_policy() {
        for g in [GateState::NoSim, GateState::NoFile] {
            for tag in [Some(A), None, Some(B)] {
                assert_eq!(decide(&g, NoSimPolicy::NotSecured, tag), Ok(()));
                assert_eq!(decide(&g, NoSimPolicy::Refuse, tag), Err(GateRefusal::NoSimPolicy));
            }
        }
    }

    #[test]
    fn short_ef_fota_refuses() {
        let g = GateState::from_ef_fota(&[0x03, 1, 2]);
        let e = decide(&g, NoSimPolicy::NotSecured, Some(A)).unwrap_err();
        assert!(matches!(e, GateRefusal::Unreadable(_)), "{e:?}");
        assert!(e.to_string().contains("3 bytes"), "{e}");
    }
}
