//! PIN (CHV1): querying the state and tries left, verifying, and reading the
//! PIN from a root-only file. A PIN is never logged or put in an error.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::apdu::{Channel, Dialect};
use super::error::SimError;

/// The PIN state of the card in the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum PinState {
    /// PIN disabled on the card.
    NotRequired,
    /// Enabled and not verified yet.
    Required {
        tries: u32,
    },
    Verified,
    Blocked,
}

/// Asks the card for the PIN state without spending a try. 3G: VERIFY with
/// no data (63Cx = tries left); 2G: the DF_GSM response (byte 13 bit 8 =
/// CHV1 disabled, byte 18 low nibble = tries left).
pub fn query(ch: &mut Channel<'_>, gsm_df: u16) -> Result<PinState, SimError> {
    match ch.dialect {
        Dialect::Uicc => {
            let r = ch.command(&[0x00, 0x20, 0x00, 0x01], "VERIFY (query tries)")?;
            match r.sw {
                0x9000 => Ok(PinState::NotRequired),
                0x6983 => Ok(PinState::Blocked),
                sw if sw & 0xFFF0 == 0x63C0 => Ok(PinState::Required { tries: u32::from(sw & 0x0F) }),
                sw => Err(SimError::Status { reader: ch.reader(), command: "VERIFY (query tries)".into(), sw }),
            }
        }
        Dialect::Gsm => {
            let mut a = vec![0xA0, 0xA4, 0x00, 0x00, 0x02, 0x3F, 0x00];
            ch.command_ok(&a, "SELECT MF")?;
            a[5..7].copy_from_slice(&gsm_df.to_be_bytes());
            let resp = ch.command_ok(&a, "SELECT DF_GSM")?;
            gsm_pin_state(&resp).ok_or_else(|| SimError::Malformed {
                reader: ch.reader(),
                file: "DF_GSM response".into(),
                reason: "shorter than 19 bytes".into(),
            })
        }
    }
}

fn gsm_pin_state(resp: &[u8]) -> Option<PinState> {
    let (chars, status) = (*resp.get(13)?, *resp.get(18)?);
    let tries = u32::from(status & 0x0F);
    Some(if chars & 0x80 != 0 {
        PinState::NotRequired
    } else if tries == 0 {
        PinState::Blocked
    } else {
        PinState::Required { tries }
    })
}

/// VERIFY CHV1 with `pin` (4–8 digits, padded with FF). `Ok` = verified;
/// a wrong PIN is `WrongPin` with the tries left.
pub fn verify(ch: &mut Channel<'_>, pin: &str, gsm_df: u16) -> Result<(), SimError> {
    let digits = pin.trim();
    if !(4..=8).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SimError::Malformed {
            reader: ch.reader(),
            file: "PIN".into(),
            reason: "a PIN is 4 to 8 digits".into(),
        });
    }
    let mut apdu = vec![ch.dialect.cla(), 0x20, 0x00, 0x01, 0x08];
    apdu.extend(digits.bytes());
    apdu.resize(13, 0xFF);
    let r = ch.command(&apdu, "VERIFY CHV1")?;
    match r.sw {
        0x9000 => Ok(()),
        0x6983 | 0x9840 => Err(SimError::PinBlocked { reader: ch.reader() }),
        sw if sw & 0xFFF0 == 0x63C0 => Err(SimError::WrongPin { reader: ch.reader(), tries: u32::from(sw & 0x0F) }),
        0x9804 => match query(ch, gsm_df)? {
            PinState::Required { tries } => Err(SimError::WrongPin { reader: ch.reader(), tries }),
            _ => Err(SimError::PinBlocked { reader: ch.reader() }),
        },
        sw => Err(SimError::Status { reader: ch.reader(), command: "VERIFY CHV1".into(), sw }),
    }
}

/// Reads the PIN file: owned by root, not readable by group or others.
pub fn read_pin_file(path: &Path) -> Result<String, SimError> {
    let err = |reason: String| SimError::PinFile { path: path.to_path_buf(), reason };
    let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
    if meta.mode() & 0o077 != 0 {
        return Err(err(format!("mode {:o} lets group or others access it; chmod 600 it", meta.mode() & 0o777)));
    }
    if meta.uid() != 0 {
        return Err(err(format!("owned by uid {}, not root; chown root it", meta.uid())));
    }
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    Ok(text.trim().to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn pin_file_readable_by_group_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pin");
        std::fs::write(&p, "1234\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = read_pin_file(&p).unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
        assert!(!e.contains("1234"), "the PIN must not appear in errors: {e}");
    }

    #[test]
    fn gsm_response_gives_disabled_required_and_blocked() {
        let mut r = vec![0u8; 22];
        r[13] = 0x80;
        assert_eq!(gsm_pin_state(&r), Some(PinState::NotRequired));
        r[13] = 0;
        r[18] = 0x82;
        assert_eq!(gsm_pin_state(&r), Some(PinState::Required { tries: 2 }));
        r[18] = 0x80;
        assert_eq!(gsm_pin_state(&r), Some(PinState::Blocked));
    }
}
