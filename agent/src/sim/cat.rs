//! Card Application Toolkit (TS 102 223) pieces for SIM-initiated sessions:
//! BER-TLV / COMPREHENSION-TLV parsing of proactive commands, the
//! "request synchronization" command (LAUNCH BROWSER with the DM server URL,
//! or fotad's private command), TERMINAL RESPONSE and the result ENVELOPE.
//! Layouts are documented in docs/sim.md.

/// TERMINAL PROFILE we send: a modest set (profile download, proactive
/// UICC, LAUNCH BROWSER, event download).
pub const TERMINAL_PROFILE: [u8; 20] = [
    0x01, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x01,
];

/// Private event (event list value) of the result ENVELOPE.
pub const EVENT_DM_RESULT: u8 = 0xF0;
/// Private tag carrying the DM session's status code in the ENVELOPE.
pub const TAG_DM_STATUS: u8 = 0x73;
/// Protocol byte of the private command: OMA DM 1.2.
pub const PROTOCOL_OMA_DM_12: u8 = 0x01;

/// General results of TERMINAL RESPONSE (TS 102 223 8.12).
pub const RESULT_OK: u8 = 0x00;
pub const RESULT_UNABLE_NOW: u8 = 0x20;
pub const RESULT_BEYOND_CAPABILITIES: u8 = 0x30;
pub const RESULT_NOT_UNDERSTOOD: u8 = 0x32;

/// Which proactive commands ask for a DM session, and where their data is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandLayout {
    /// The standard command (default LAUNCH BROWSER, 0x15).
    pub command_type: u8,
    /// Its TLV holding the server URL (default URL, 0x31).
    pub url_tag: u8,
    /// Whether the standard command wants the result in an ENVELOPE.
    pub want_result: bool,
    /// fotad's private command.
    pub private_command_type: u8,
    pub private_protocol_tag: u8,
    pub private_uri_tag: u8,
    pub private_result_tag: u8,
}

impl Default for CommandLayout {
    fn default() -> Self {
        CommandLayout {
            command_type: 0x15,
            url_tag: 0x31,
            want_result: false,
            private_command_type: 0xE0,
            private_protocol_tag: 0x70,
            private_uri_tag: 0x71,
            private_result_tag: 0x72,
        }
    }
}

/// One COMPREHENSION-TLV (tag without its CR bit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlv {
    pub tag: u8,
    pub value: Vec<u8>,
}

/// Command details of a proactive command (echoed in the response).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandDetails {
    pub number: u8,
    pub type_: u8,
    pub qualifier: u8,
}

/// A fetched proactive command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProactiveCommand {
    pub details: CommandDetails,
    pub tlvs: Vec<Tlv>,
}

/// What the card asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRequest {
    pub server_uri: String,
    pub protocol: u8,
    pub want_result: bool,
}

fn length(b: &[u8]) -> Option<(usize, usize)> {
    match b {
        [0x81, n, ..] => Some((*n as usize, 2)),
        [n, ..] if *n < 0x80 => Some((*n as usize, 1)),
        _ => None,
    }
}

/// Parses `D0 len TLV...`; `None` when malformed.
pub fn parse(cmd: &[u8]) -> Option<ProactiveCommand> {
    let (&tag, rest) = cmd.split_first()?;
    let (len, n) = length(rest)?;
    if tag != 0xD0 {
        return None;
    }
    let mut body = rest.get(n..n + len)?;
    let mut tlvs = Vec::new();
    while let Some((&t, rest)) = body.split_first() {
        let (len, n) = length(rest)?;
        tlvs.push(Tlv { tag: t & 0x7F, value: rest.get(n..n + len)?.to_vec() });
        body = &rest[n + len..];
    }
    let d = tlvs.iter().find(|t| t.tag == 0x01)?;
    let details = match d.value[..] {
        [number, type_, qualifier, ..] => CommandDetails { number, type_, qualifier },
        _ => return None,
    };
    Some(ProactiveCommand { details, tlvs })
}

impl ProactiveCommand {
    fn value(&self, tag: u8) -> Option<&[u8]> {
        self.tlvs.iter().find(|t| t.tag == tag & 0x7F).map(|t| t.value.as_slice())
    }

    /// The session request this command carries under `layout`, if it is
    /// one; `Err` = it is one but its data is unusable.
    pub fn sync_request(&self, layout: &CommandLayout) -> Option<Result<SyncRequest, String>> {
        let t = self.details.type_;
        let (uri_tag, protocol, want_result) = if t == layout.command_type {
            (layout.url_tag, Some(PROTOCOL_OMA_DM_12), layout.want_result)
        } else if t == layout.private_command_type {
            let p = self.value(layout.private_protocol_tag).and_then(|v| v.first().copied());
            let w = self.value(layout.private_result_tag).and_then(|v| v.first()).is_some_and(|&b| b != 0);
            (layout.private_uri_tag, p, w)
        } else {
            return None;
        };
        let uri = self.value(uri_tag).map(|v| String::from_utf8_lossy(v).into_owned());
        Some(match (uri, protocol) {
            (_, None) => Err("no protocol TLV".into()),
            (_, Some(p)) if p != PROTOCOL_OMA_DM_12 => Err(format!("protocol {p:#04x} is not OMA DM 1.2 (0x01)")),
            (Some(u), _) if u.starts_with("http://") || u.starts_with("https://") => {
                Ok(SyncRequest { server_uri: u, protocol: PROTOCOL_OMA_DM_12, want_result })
            }
            (u, _) => Err(format!("server URI {u:?} is missing or not http(s)")),
        })
    }
}

/// TERMINAL RESPONSE data: command details echoed, device identities
/// swapped (terminal → UICC), the general result.
pub fn terminal_response(d: CommandDetails, result: u8) -> Vec<u8> {
    vec![0x81, 0x03, d.number, d.type_, d.qualifier, 0x82, 0x02, 0x82, 0x81, 0x83, 0x01, result]
}

/// The ENVELOPE (event download) carrying a session's outcome: event list
/// with the private DM-result event, device identities, general result and
/// the DM status code (2 bytes, big-endian).
pub fn result_envelope(status: u16) -> Vec<u8> {
    let ok = if (200..300).contains(&status) { RESULT_OK } else { RESULT_UNABLE_NOW };
    let [hi, lo] = status.to_be_bytes();
    let body = [0x99, 0x01, EVENT_DM_RESULT, 0x82, 0x02, 0x82, 0x81, 0x83, 0x01, ok, TAG_DM_STATUS, 0x02, hi, lo];
    let mut out = vec![0xD6, body.len() as u8];
    out.extend(body);
    out
}

/// Builds a proactive command (for tests and docs examples).
pub fn build(details: CommandDetails, tlvs: &[(u8, &[u8])]) -> Vec<u8> {
    let mut body = vec![0x81, 0x03, details.number, details.type_, details.qualifier, 0x82, 0x02, 0x81, 0x82];
    for (tag, v) in tlvs {
        body.push(*tag);
        if v.len() >= 0x80 {
            body.push(0x81);
        }
        body.push(v.len() as u8);
        body.extend_from_slice(v);
    }
    let mut out = vec![0xD0];
    if body.len() >= 0x80 {
        out.push(0x81);
    }
    out.push(body.len() as u8);
    out.extend(body);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn details(type_: u8) -> CommandDetails {
        CommandDetails { number: 1, type_, qualifier: 0 }
    }

    #[test]
    fn launch_browser_with_url_is_a_sync_request() {
        let cmd = build(details(0x15), &[(0x31, b"https://dm.example.net/dm")]);
        let p = parse(&cmd).unwrap();
        let r = p.sync_request(&CommandLayout::default()).unwrap().unwrap();
        assert_eq!(r.server_uri, "https://dm.example.net/dm");
        assert!(!r.want_result);
    }

    #[test]
    fn private_command_carries_protocol_uri_and_result_flag() {
        let l = CommandLayout::default();
        let cmd = build(details(0xE0), &[(0xF0, &[1]), (0x71, b"http://127.0.0.1:1/dm"), (0x72, &[1])]);
        let r = parse(&cmd).unwrap().sync_request(&l).unwrap().unwrap();
        assert_eq!((r.server_uri.as_str(), r.want_result), ("http://127.0.0.1:1/dm", true));
        let other = build(details(0xE0), &[(0x70, &[2]), (0x71, b"http://x/")]);
        assert!(parse(&other).unwrap().sync_request(&l).unwrap().is_err());
    }

    #[test]
    fn other_commands_are_not_requests_and_long_lengths_parse() {
        let long = vec![b'a'; 200];
        let cmd = build(details(0x21), &[(0x8D, &long)]);
        let p = parse(&cmd).unwrap();
        assert_eq!(p.tlvs.last().unwrap().value.len(), 200);
        assert!(p.sync_request(&CommandLayout::default()).is_none());
    }

    #[test]
    fn terminal_response_echoes_details_and_swaps_identities() {
        let r = terminal_response(details(0x15), RESULT_OK);
        assert_eq!(r, [0x81, 3, 1, 0x15, 0, 0x82, 2, 0x82, 0x81, 0x83, 1, 0]);
    }

    #[test]
    fn result_envelope_carries_the_status() {
        let e = result_envelope(200);
        assert_eq!(&e[..5], &[0xD6, 14, 0x99, 1, EVENT_DM_RESULT]);
        assert_eq!(&e[e.len() - 2..], &[0x00, 0xC8]);
    }
}
