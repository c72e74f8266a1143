//! Decoding of the identity files: swapped BCD digits (ICCID, dialling
//! numbers) and EF_IMSI with its length byte and parity nibble.

/// Digits of swapped BCD (low nibble first), stopping at the F filler.
pub fn swapped_bcd(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        for nibble in [b & 0x0F, b >> 4] {
            if nibble > 9 {
                return out;
            }
            out.push(char::from(b'0' + nibble));
        }
    }
    out
}

/// EF_ICCID (10 bytes) → up to 20 digits.
pub fn iccid(bytes: &[u8]) -> Option<String> {
    let digits = swapped_bcd(bytes);
    (!digits.is_empty()).then_some(digits)
}

/// EF_IMSI (TS 31.102 4.2.2): byte 0 = length of what follows; the first
/// digit sits in the high nibble of byte 1 (its low nibble is the parity:
/// 9 = odd number of digits, 1 = even).
pub fn imsi(bytes: &[u8]) -> Option<String> {
    let (&len, rest) = bytes.split_first()?;
    let body = rest.get(..len as usize).filter(|b| !b.is_empty())?;
    let parity = body[0] & 0x0F;
    if parity != 9 && parity != 1 {
        return None;
    }
    let digits = swapped_bcd(body);
    let imsi = digits.get(1..)?.to_string();
    (!imsi.is_empty()).then_some(imsi)
}

/// One EF_MSISDN record (TS 31.102 4.2.26): alpha id, then BCD length,
/// TON/NPI (0x91 = international), 10 bytes of number. `None` when empty.
pub fn msisdn(record: &[u8]) -> Option<String> {
    let alpha = record.len().checked_sub(14)?;
    let bcd_len = *record.get(alpha)? as usize;
    if bcd_len == 0 || bcd_len == 0xFF || bcd_len > 11 {
        return None;
    }
    let ton = record[alpha + 1];
    let number = swapped_bcd(record.get(alpha + 2..alpha + 1 + bcd_len)?);
    let plus = if ton & 0x70 == 0x10 { "+" } else { "" };
    (!number.is_empty()).then(|| format!("{plus}{number}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn iccid_swaps_nibbles_and_stops_at_padding() {
        let raw = [0x98, 0x94, 0x22, 0x06, 0x00, 0x10, 0x32, 0x54, 0x76, 0xF8];
        assert_eq!(iccid(&raw).unwrap(), "8949226000012345678");
    }

    #[test]
    fn imsi_odd_length_uses_parity_nine() {
        // 15 digits 262011234567890: parity 9 with first digit 2.
        let raw = [0x08, 0x29, 0x26, 0x10, 0x21, 0x43, 0x65, 0x87, 0x09];
        assert_eq!(imsi(&raw).unwrap(), "262011234567890");
    }

    #[test]
    fn imsi_even_length_uses_parity_one_and_filler() {
        // 14 digits 23410987654321: parity 1, last high nibble F.
        let raw = [0x08, 0x21, 0x43, 0x01, 0x89, 0x67, 0x45, 0x23, 0xF1];
        assert_eq!(imsi(&raw).unwrap(), "23410987654321");
    }

    #[test]
    fn imsi_with_bad_parity_nibble_is_refused() {
        assert_eq!(imsi(&[0x08, 0x25, 0x26, 0x10, 0x21, 0x43, 0x65, 0x87, 0x09]), None);
    }

    #[test]
    fn msisdn_international_gets_plus_and_empty_record_is_none() {
        let mut rec = vec![0xFF; 4];
        rec.extend([0x07, 0x91, 0x94, 0x71, 0x10, 0x32, 0x54, 0x76, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert_eq!(msisdn(&rec).unwrap(), "+491701234567");
        assert_eq!(msisdn(&[0xFF; 18]), None);
    }
}
