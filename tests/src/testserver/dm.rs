//! The DM server side of a session: client authentication, challenges,
//! queued commands sent in packages within the client's MaxMsgSize, large
//! objects in chunks, and the record of everything exchanged.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use fotad::dm::auth::{self, Scheme};
use fotad::dm::syncml::{
    Alert, Chal, Codec, Command, Item, ItemCmd, Loc, Message, MessageBudget, Meta, Status, SyncBody, SyncHdr,
};

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub server_id: String,
    /// Scheme required from the client.
    pub client_auth: Scheme,
    pub client_name: String,
    pub client_secret: String,
    /// Nonce the client must use for its next credentials.
    pub client_nonce: Vec<u8>,
    /// Authenticate to the device with this scheme (None: no server credentials).
    pub server_auth: Option<Scheme>,
    pub server_secret: String,
    /// Nonce the device gave us (updated from its challenges).
    pub device_nonce: Vec<u8>,
    /// Our MaxMsgSize, announced to the client.
    pub max_msg_size: u64,
    /// Largest large-object chunk.
    pub chunk_size: usize,
    /// Reply in this codec (None: the client's).
    pub reply_codec: Option<Codec>,
    /// VerDTD of our messages (tests of version checks change it).
    pub ver_dtd: String,
    /// Protocol violations on purpose (the security tests).
    pub hostile: Hostile,
}

/// Ways the server breaks the rules on purpose, to check that the device
/// holds: every one of them is set from a script line (see `script`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hostile {
    /// For this many replies, each carries one more command (a Get of
    /// `./DevInfo/Mod`), so the session never ends on its own.
    pub endless: Option<usize>,
    /// Replies carry this SessionID instead of the device's.
    pub session_id: Option<String>,
    /// Statuses in replies refer to this MsgRef instead of the device's message.
    pub msg_ref: Option<u32>,
    /// Replies are written one byte per this interval.
    pub drip: Option<Duration>,
    /// A command larger than the device's MaxMsgSize is sent anyway, alone.
    pub oversize: bool,
}

/// A fixed answer to a GET of a path (redirects, broken downloads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            server_id: "fotad-testserver".into(),
            client_auth: Scheme::Md5,
            client_name: "device".into(),
            client_secret: "device-secret".into(),
            client_nonce: b"initial-client-nonce".to_vec(),
            server_auth: None,
            server_secret: "server-secret".into(),
            device_nonce: Vec::new(),
            max_msg_size: 64 * 1024,
            chunk_size: 32 * 1024,
            reply_codec: None,
            ver_dtd: "1.2".into(),
            hostile: Hostile::default(),
        }
    }
}

/// Large object contents, generated on the fly so the server holds no copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    Bytes(Vec<u8>),
    /// `size` bytes of a deterministic pattern (see [`pattern_byte`]).
    Pattern {
        size: u64,
        seed: u8,
    },
}

impl Payload {
    pub fn size(&self) -> u64 {
        match self {
            Payload::Bytes(b) => b.len() as u64,
            Payload::Pattern { size, .. } => *size,
        }
    }

    pub fn slice(&self, offset: u64, len: usize) -> Vec<u8> {
        match self {
            Payload::Bytes(b) => b[offset as usize..(offset as usize + len).min(b.len())].to_vec(),
            Payload::Pattern { size, seed } => {
                let end = (offset + len as u64).min(*size);
                (offset..end).map(|i| pattern_byte(*seed, i)).collect()
            }
        }
    }
}

/// Byte `i` of pattern `seed`.
pub fn pattern_byte(seed: u8, i: u64) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8 ^ seed
}

/// Something queued for a device.
// Commands dominate the queue; boxing them buys nothing in a test server.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Queued {
    Cmd(Command),
    /// Add or Replace of a large value, sent in chunks.
    Large(LargeObject),
}

/// An Add or Replace of a large value and how far it has been sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LargeObject {
    pub replace: bool,
    pub uri: String,
    pub format: String,
    pub payload: Payload,
    pub offset: u64,
}

/// One request/response pair as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    pub request: Message,
    pub request_bytes: usize,
    pub response: Message,
    pub response_bytes: usize,
}

#[derive(Debug, Default)]
struct SessionState {
    authenticated: bool,
    msg_id: u32,
    cmd_id: u32,
    device_accepted_us: bool,
}

/// Server state shared by connection threads.
#[derive(Debug, Default)]
pub struct DmState {
    pub config: ServerConfig,
    queues: HashMap<String, VecDeque<Queued>>,
    sessions: HashMap<String, SessionState>,
    pub log: Vec<Exchange>,
    /// Statuses and Results the clients sent, in order.
    pub received: Vec<Command>,
    /// Replies to damage: (index of the reply, how).
    pub faults: HashMap<usize, Fault>,
    /// Replies to rewrite as text after encoding, for the mistakes and quirks
    /// of real servers that no encoder makes (a bare `&`, a CmdID used twice,
    /// elements out of order): (index of the reply, [(from, to)]). A `from`
    /// missing from the reply fails the exchange (HTTP 400), loudly.
    pub rewrites: HashMap<usize, Vec<(String, String)>>,
    /// Answers to GETs, by path.
    pub routes: HashMap<String, Route>,
}

/// Ways to damage a reply (malformed/truncated message tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Cut this many bytes off the end.
    Truncate(usize),
    Garbage,
}

/// A reply to send.
#[derive(Debug)]
pub struct Reply {
    pub content_type: String,
    pub body: Vec<u8>,
    pub hmac: Option<String>,
}

impl DmState {
    pub fn new(config: ServerConfig) -> Self {
        DmState { config, ..DmState::default() }
    }

    pub fn queue(&mut self, device: &str, q: Queued) {
        self.queues.entry(device.to_string()).or_default().push_back(q);
    }

    /// Handles one client message.
    pub fn handle(&mut self, content_type: &str, body: &[u8], hmac: Option<&str>) -> Result<Reply, String> {
        let codec = Codec::from_content_type(content_type).map_err(|e| e.to_string())?;
        let msg = codec.decode(body).map_err(|e| e.to_string())?;
        let reply_codec = self.config.reply_codec.unwrap_or(codec);
        let auth_code = self.authenticate(&msg, body, hmac);
        self.take_client_statuses(&msg);
        let response = self.respond(&msg, auth_code);
        let mut bytes = reply_codec.encode(&response).map_err(|e| e.to_string())?;
        self.log.push(Exchange {
            request: msg,
            request_bytes: body.len(),
            response: strip(&response),
            response_bytes: bytes.len(),
        });
        if let Some(rewrites) = self.rewrites.get(&(self.log.len() - 1)) {
            bytes = rewrite(&bytes, rewrites)?;
        }
        match self.faults.get(&(self.log.len() - 1)) {
            Some(Fault::Truncate(n)) => bytes.truncate(bytes.len().saturating_sub(*n)),
            Some(Fault::Garbage) => bytes = b"\x02\x00\x00garbage".to_vec(),
            None => {}
        }
        let hmac = (self.config.server_auth == Some(Scheme::Hmac)).then(|| {
            auth::hmac_header(&self.config.server_id, &self.config.server_secret, &self.config.device_nonce, &bytes)
        });
        Ok(Reply { content_type: reply_codec.mime().to_string(), body: bytes, hmac })
    }

    /// 212/200 when the client is authenticated, 401/407 otherwise.
    fn authenticate(&mut self, msg: &Message, body: &[u8], hmac: Option<&str>) -> u16 {
        let c = &self.config;
        let st = self.sessions.entry(msg.hdr.session_id.clone()).or_default();
        if st.authenticated && c.client_auth != Scheme::Hmac {
            return 200;
        }
        let ok = match c.client_auth {
            Scheme::Hmac => match hmac {
                Some(h) => auth::verify_hmac(h, &c.client_name, &c.client_secret, &c.client_nonce, body),
                None => return 407,
            },
            scheme => match &msg.hdr.cred {
                Some(cred) if cred.meta.type_.as_deref().and_then(Scheme::from_meta_type) == Some(scheme) => {
                    auth::verify_cred(cred, &c.client_name, &c.client_secret, &c.client_nonce)
                }
                Some(_) => false,
                None => return 407,
            },
        };
        match (ok, st.authenticated) {
            (true, true) => 200,
            (true, false) => {
                st.authenticated = true;
                212
            }
            (false, _) => 401,
        }
    }

    fn take_client_statuses(&mut self, msg: &Message) {
        for c in &msg.body.commands {
            match c {
                Command::Status(s) if s.cmd == "SyncHdr" => {
                    if let Some(n) = s.chal.as_ref().and_then(|ch| ch.meta.next_nonce.as_deref()) {
                        self.config.device_nonce = B64.decode(n).unwrap_or_default();
                    }
                    if (200..300).contains(&s.code) {
                        self.sessions.entry(msg.hdr.session_id.clone()).or_default().device_accepted_us = true;
                    }
                    self.received.push(c.clone());
                }
                Command::Status(_) | Command::Results(_) => self.received.push(c.clone()),
                _ => {}
            }
        }
    }

    fn respond(&mut self, msg: &Message, auth_code: u16) -> Message {
        let device = msg.hdr.source.uri.clone();
        let client_max = msg.hdr.meta.as_ref().and_then(|m| m.max_msg_size).unwrap_or(16 * 1024) as usize;
        let mut out = self.header(msg);
        let chal = self.challenge(auth_code);
        let hdr_status = self.status(msg, 0, "SyncHdr", auth_code, chal);
        out.body.commands.push(hdr_status);
        if !(200..300).contains(&auth_code) {
            out.body.final_flag = true;
            return out;
        }
        for c in &msg.body.commands {
            if !matches!(c, Command::Status(_)) {
                let code = match c {
                    Command::Results(r) if r.items.iter().any(|i| i.more_data) => 213,
                    _ => 200,
                };
                let s = self.status(msg, c.cmd_id(), c.name(), code, None);
                out.body.commands.push(s);
            }
        }
        if !msg.body.final_flag {
            let id = self.next_cmd_id(msg);
            out.body.commands.push(Command::Alert(Alert { cmd_id: id, data: 1222, ..Alert::default() }));
            return out;
        }
        self.fill(msg, &device, &mut out, client_max);
        if let Some(left) = self.config.hostile.endless.filter(|n| *n > 0) {
            self.config.hostile.endless = Some(left - 1);
            let item = Item { target: Some(Loc::uri("./DevInfo/Mod")), ..Item::default() };
            let id = self.next_cmd_id(msg);
            out.body.commands.push(Command::Get(ItemCmd { cmd_id: id, items: vec![item], ..ItemCmd::default() }));
        }
        out
    }

    fn header(&mut self, msg: &Message) -> Message {
        let c = &self.config;
        let st = self.sessions.entry(msg.hdr.session_id.clone()).or_default();
        st.msg_id += 1;
        let cred = match c.server_auth {
            Some(s @ (Scheme::Basic | Scheme::Md5)) if !st.device_accepted_us => {
                auth::make_cred(s, &c.server_id, &c.server_secret, &c.device_nonce)
            }
            _ => None,
        };
        let hdr = SyncHdr {
            ver_dtd: c.ver_dtd.clone(),
            ver_proto: "DM/1.2".into(),
            session_id: c.hostile.session_id.clone().unwrap_or_else(|| msg.hdr.session_id.clone()),
            msg_id: st.msg_id,
            target: Loc::uri(msg.hdr.source.uri.clone()),
            source: Loc::uri(c.server_id.clone()),
            cred,
            meta: Some(Meta { max_msg_size: Some(c.max_msg_size), ..Meta::default() }),
            ..SyncHdr::default()
        };
        Message { hdr, body: SyncBody::default() }
    }

    /// A new client nonce with every 212/401/407, as real servers do.
    fn challenge(&mut self, auth_code: u16) -> Option<Chal> {
        if auth_code == 200 && self.config.client_auth != Scheme::Hmac {
            return None;
        }
        let nonce = format!("n{}", self.log.len() + 1).into_bytes();
        self.config.client_nonce = nonce.clone();
        Some(Chal {
            meta: Meta {
                type_: Some(self.config.client_auth.meta_type().into()),
                format: Some("b64".into()),
                next_nonce: Some(B64.encode(nonce)),
                ..Meta::default()
            },
        })
    }

    fn next_cmd_id(&mut self, msg: &Message) -> u32 {
        let st = self.sessions.entry(msg.hdr.session_id.clone()).or_default();
        st.cmd_id += 1;
        st.cmd_id
    }

    fn status(&mut self, msg: &Message, cmd_ref: u32, cmd: &str, code: u16, chal: Option<Chal>) -> Command {
        Command::Status(Status {
            cmd_id: self.next_cmd_id(msg),
            msg_ref: self.config.hostile.msg_ref.unwrap_or(msg.hdr.msg_id),
            cmd_ref,
            cmd: cmd.into(),
            chal,
            code,
            ..Status::default()
        })
    }

    /// Adds queued commands while they fit; a large object contributes one
    /// chunk per message. Final only when the queue is empty.
    fn fill(&mut self, msg: &Message, device: &str, out: &mut Message, client_max: usize) {
        let Ok(mut budget) = MessageBudget::new(Codec::Xml, client_max, out) else {
            return;
        };
        for c in &out.body.commands {
            let _ = budget.force_add(c);
        }
        loop {
            let Some(next) = self.queues.get_mut(device).and_then(VecDeque::pop_front) else {
                out.body.final_flag = true;
                return;
            };
            match next {
                Queued::Cmd(mut c) => {
                    c.set_cmd_id(self.next_cmd_id(msg));
                    if !budget.try_add(&c).unwrap_or(false) {
                        let alone = !out.body.commands.iter().any(|c| !matches!(c, Command::Status(_)));
                        if !(self.config.hostile.oversize && alone) {
                            return self.requeue(device, Queued::Cmd(c));
                        }
                    }
                    out.body.commands.push(c);
                }
                Queued::Large(lo) => return self.chunk(msg, device, out, budget.remaining(), lo),
            }
        }
    }

    /// Sends the next chunk of `lo` if there is room, and queues the rest.
    fn chunk(&mut self, msg: &Message, device: &str, out: &mut Message, remaining: usize, mut lo: LargeObject) {
        let room = remaining.saturating_sub(1024).min(self.config.chunk_size);
        if room < 512 {
            return self.requeue(device, Queued::Large(lo));
        }
        let len = room.min((lo.payload.size() - lo.offset) as usize);
        let more = lo.offset + (len as u64) < lo.payload.size();
        let meta = Meta {
            format: Some(lo.format.clone()),
            size: (lo.offset == 0).then_some(lo.payload.size()),
            ..Meta::default()
        };
        let item = Item {
            target: Some(Loc::uri(lo.uri.clone())),
            meta: Some(meta),
            data: Some(lo.payload.slice(lo.offset, len)),
            more_data: more,
            ..Item::default()
        };
        let cmd = ItemCmd { cmd_id: self.next_cmd_id(msg), items: vec![item], ..ItemCmd::default() };
        out.body.commands.push(if lo.replace { Command::Replace(cmd) } else { Command::Add(cmd) });
        if more {
            lo.offset += len as u64;
            self.requeue(device, Queued::Large(lo));
        }
    }

    fn requeue(&mut self, device: &str, q: Queued) {
        self.queues.entry(device.to_string()).or_default().push_front(q);
    }
}

/// Applies `(from, to)` replacements to a reply's text, each at least once.
fn rewrite(bytes: &[u8], rewrites: &[(String, String)]) -> Result<Vec<u8>, String> {
    let mut text = String::from_utf8(bytes.to_vec()).map_err(|_| "only XML replies can be rewritten".to_string())?;
    for (from, to) in rewrites {
        if !text.contains(from.as_str()) {
            return Err(format!("rewrite: {from:?} is not in the reply: {text}"));
        }
        text = text.replace(from.as_str(), to);
    }
    Ok(text.into_bytes())
}

/// The recorded copy of a reply, with large data cut to keep the log small.
fn strip(m: &Message) -> Message {
    let mut m = m.clone();
    for c in &mut m.body.commands {
        if let Command::Add(i) | Command::Replace(i) = c {
            for it in &mut i.items {
                if let Some(d) = &mut it.data {
                    d.truncate(4096);
                }
            }
        }
    }
    m
}
