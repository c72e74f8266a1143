//! The session loop: send a message, check the reply's authentication, take
//! the Statuses on our commands, execute the server's commands, decide
//! whether the session goes on.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use super::commands::{Executor, ALERT_NEXT_MESSAGE, ALERT_SESSION_ABORT};
use super::large::LargeObjects;
use super::outbox::{HeaderInfo, Outbox};
use super::{
    Phase, SessionContext, SessionError, SessionReport, Trigger, ALERT_CLIENT_INITIATED, ALERT_SERVER_INITIATED,
};
use crate::dm::auth::{self, fresh_nonce, Nonces, Scheme};
use crate::dm::status::StatusCode;
use crate::dm::syncml::{Alert, Chal, Codec, Command, Item, ItemCmd, Loc, Message, Meta, Status, SyncHdr};
use crate::dm::transport::{check_url, Request, Response, TransportError};

/// Time allowed for the Alert 1223 that tells the server a limit ended the session.
const ABORT_GRACE: Duration = Duration::from_secs(5);

enum Next {
    Continue,
    Done,
}

pub(super) struct Engine<'a> {
    ctx: SessionContext<'a>,
    phase: Phase,
    hdr: HeaderInfo,
    codec: Codec,
    msg_id: u32,
    outbox: Outbox,
    client_scheme: Scheme,
    nonces: Nonces,
    client_accepted: bool,
    server_authenticated: bool,
    auth_attempts: u32,
    hdr_status: Option<Status>,
    /// Queued alert ids in the order their commands were queued.
    alert_ids: VecDeque<u64>,
    /// (MsgID, CmdID) of sent queued alerts → their queue ids.
    sent_alerts: HashMap<(u32, u32), u64>,
    /// A new nonce for the server's credentials, in a Chal of the message
    /// being built: stored once that message reached the server (a Chal that
    /// never left must not replace the nonce the server knows).
    pending_server_nonce: Option<Vec<u8>>,
    server_limit: usize,
    initial_alert: u32,
    lo: LargeObjects,
    report: SessionReport,
    /// Messages counted against `max_messages` (large-object chunks are not).
    counted_messages: u32,
    /// Large-result chunks sent in this session.
    chunks_sent: u64,
    started: Instant,
}

impl<'a> Engine<'a> {
    pub(super) fn new(ctx: SessionContext<'a>, trigger: &Trigger) -> Result<Self, SessionError> {
        let acc = &ctx.account;
        if acc.address.is_empty() || acc.client.name.is_empty() {
            return Err(SessionError::Account { server_id: acc.server_id.clone() });
        }
        check_url(&acc.address, &acc.address)?;
        let (session_id, alert) = match trigger {
            Trigger::Server { session_id } => (session_id.clone(), ALERT_SERVER_INITIATED),
            Trigger::Client => {
                let n = fresh_nonce();
                (format!("{:X}", u16::from_be_bytes([n[0], n[1]]).max(1)), ALERT_CLIENT_INITIATED)
            }
        };
        let mut nonces = ctx.nonces.get(&acc.server_id);
        if nonces.client.is_empty() {
            nonces.client = acc.client.nonce.clone();
        }
        if nonces.server.is_empty() {
            nonces.server = acc.server.nonce.clone();
        }
        let hdr = HeaderInfo {
            session_id,
            server_url: acc.address.clone(),
            device_id: ctx.options.device_id.clone(),
            client_name: acc.client.name.clone(),
            max_msg_size: ctx.options.max_msg_size,
            max_obj_size: ctx.options.max_obj_size,
        };
        let mut e = Engine {
            phase: Phase::Idle,
            codec: ctx.options.codec,
            msg_id: 0,
            outbox: Outbox::default(),
            client_scheme: acc.client.scheme.or(acc.auth_pref).unwrap_or(Scheme::Md5),
            nonces,
            client_accepted: false,
            server_authenticated: false,
            auth_attempts: 0,
            hdr_status: None,
            alert_ids: VecDeque::new(),
            sent_alerts: HashMap::new(),
            pending_server_nonce: None,
            server_limit: ctx.options.max_msg_size as usize,
            initial_alert: alert,
            lo: LargeObjects::new(&ctx.options.objects_dir, ctx.options.max_obj_size),
            report: SessionReport { session_id: hdr.session_id.clone(), ..SessionReport::default() },
            counted_messages: 0,
            chunks_sent: 0,
            started: Instant::now(),
            hdr,
            ctx,
        };
        e.queue_package1(alert);
        Ok(e)
    }

    /// Package 1: the session alert, DevInfo, and the queued alerts.
    fn queue_package1(&mut self, alert: u32) {
        self.outbox = Outbox::default();
        self.outbox.push(Command::Alert(Alert { data: alert, ..Alert::default() }));
        let items = ["DevId", "Man", "Mod", "DmV", "Lang"]
            .iter()
            .map(|n| {
                let uri = format!("./DevInfo/{n}");
                Item {
                    source: Some(Loc::uri(uri.clone())),
                    meta: Some(Meta { format: Some("chr".into()), ..Meta::default() }),
                    data: Some(self.ctx.tree.leaf_text(&uri).unwrap_or_default().into_bytes()),
                    ..Item::default()
                }
            })
            .collect();
        self.outbox.push(Command::Replace(ItemCmd { items, ..ItemCmd::default() }));
        self.alert_ids.clear();
        for a in self.ctx.alerts.pending(&self.ctx.account.server_id) {
            self.alert_ids.push_back(a.id);
            self.outbox.push(Command::Alert(a.to_command()));
        }
    }

    pub(super) fn run(mut self) -> Result<SessionReport, SessionError> {
        self.phase.go(Phase::Setup)?;
        let result = self.run_loop();
        if result.is_err() {
            let _ = self.phase.go(Phase::Aborted);
        }
        result.map(|()| self.report)
    }

    fn run_loop(&mut self) -> Result<(), SessionError> {
        self.ctx.transport.set_deadline(self.started + self.ctx.options.max_duration);
        loop {
            if self.counted_messages >= self.ctx.options.max_messages {
                let max = self.ctx.options.max_messages;
                return Err(self.abort(SessionError::TooManyMessages { server_id: self.server_id(), max }));
            }
            let chunks_before = self.chunks_moved();
            let resp = match self.send() {
                Err(SessionError::Transport(TransportError::Deadline { .. })) => {
                    let max = self.ctx.options.max_duration;
                    return Err(self.abort(SessionError::TooLong { server_id: self.server_id(), max }));
                }
                other => other?,
            };
            let next = self.handle(&resp)?;
            if self.chunks_moved() == chunks_before {
                self.counted_messages += 1;
            }
            match next {
                Next::Continue => {}
                Next::Done => return Ok(()),
            }
        }
    }

    /// Large-object chunks sent and received so far.
    fn chunks_moved(&self) -> u64 {
        self.chunks_sent + self.lo.chunks_received()
    }

    /// Tells the server (Alert 1223, within [`ABORT_GRACE`]) that a limit
    /// ended the session, and returns `why`.
    fn abort(&mut self, why: SessionError) -> SessionError {
        self.outbox = Outbox::default();
        self.outbox.push(Command::Alert(Alert { data: ALERT_SESSION_ABORT, ..Alert::default() }));
        self.ctx.transport.set_deadline(Instant::now() + ABORT_GRACE);
        let _ = self.send();
        why
    }

    /// A server message we cannot read is answered as the protocol allows,
    /// not with silence: a SyncHdr Status 400 (bad request) when its header
    /// could be read and belongs to this session, and Alert 1223 (we end the
    /// session), within [`ABORT_GRACE`]. Nothing in it is executed. Returns `why`.
    fn answer_unreadable(&mut self, hdr: Option<SyncHdr>, why: SessionError) -> SessionError {
        let ours = hdr.filter(|h| h.session_id.trim().eq_ignore_ascii_case(&self.hdr.session_id));
        self.hdr_status = ours.map(|h| hdr_status_on(&h, StatusCode::BadRequest, None));
        self.outbox = Outbox::default();
        self.outbox.push(Command::Alert(Alert { data: ALERT_SESSION_ABORT, ..Alert::default() }));
        self.ctx.transport.set_deadline(Instant::now() + ABORT_GRACE);
        let _ = self.send();
        why
    }

    fn server_id(&self) -> String {
        self.ctx.account.server_id.clone()
    }

    fn send(&mut self) -> Result<Response, SessionError> {
        self.msg_id += 1;
        let acc = &self.ctx.account;
        let cred = match self.client_scheme {
            Scheme::Basic | Scheme::Md5 if !self.client_accepted => {
                auth::make_cred(self.client_scheme, &acc.client.name, &acc.client.secret, &self.nonces.client)
            }
            _ => None,
        };
        let limit = self.server_limit.min(self.ctx.options.max_msg_size as usize);
        let chunks_before = self.outbox.chunks_sent;
        let (msg, sent) = self
            .outbox
            .build(self.codec, &self.hdr, self.msg_id, cred, self.hdr_status.take(), limit)
            .map_err(SessionError::Encode)?;
        self.chunks_sent += self.outbox.chunks_sent - chunks_before;
        for (cmd_id, c) in sent {
            if let Command::Alert(a) = c {
                if a.data == super::ALERT_GENERIC || a.data == super::ALERT_CLIENT_EVENT {
                    if let Some(id) = self.alert_ids.pop_front() {
                        self.sent_alerts.insert((self.msg_id, cmd_id), id);
                    }
                }
            }
        }
        let body = self.codec.encode(&msg).map_err(SessionError::Encode)?;
        if body.len() > limit {
            return Err(SessionError::MessageTooLarge { size: body.len(), limit });
        }
        let hmac = (self.client_scheme == Scheme::Hmac)
            .then(|| auth::hmac_header(&acc.client.name, &acc.client.secret, &self.nonces.client, &body));
        let req = Request { url: self.hdr.server_url.clone(), content_type: self.codec.mime().to_string(), body, hmac };
        let pending = self.pending_server_nonce.take();
        let resp = self.ctx.transport.exchange(&req)?;
        self.report.messages_sent += 1;
        if let Some(next) = pending {
            let mut stored = self.ctx.nonces.get(&self.ctx.account.server_id);
            stored.server = next;
            self.ctx.nonces.set(&self.ctx.account.server_id, stored)?;
        }
        Ok(resp)
    }

    fn handle(&mut self, resp: &Response) -> Result<Next, SessionError> {
        let url = self.hdr.server_url.clone();
        if resp.status != 200 {
            return Err(SessionError::HttpStatus { url, status: resp.status });
        }
        let codec = match Codec::from_content_type(&resp.content_type) {
            Ok(c) => c,
            Err(source) => return Err(self.answer_unreadable(None, SessionError::Malformed { url, source })),
        };
        let msg = match codec.decode(&resp.body) {
            Ok(m) => m,
            Err(source) => {
                let hdr = codec.decode_header(&resp.body);
                return Err(self.answer_unreadable(hdr, SessionError::Malformed { url, source }));
            }
        };
        let (proto, dtd) = (&msg.hdr.ver_proto, &msg.hdr.ver_dtd);
        if !proto.starts_with("DM/1.") || !(dtd == "1.2" || dtd == "1.1") {
            return Err(SessionError::Protocol { url, ver_proto: proto.clone(), ver_dtd: dtd.clone() });
        }
        self.check_bound(&msg).map_err(|reason| SessionError::Unbound { url: url.clone(), reason })?;
        self.codec = codec;
        if let Some(n) = msg.hdr.meta.as_ref().and_then(|m| m.max_msg_size) {
            self.server_limit = n.clamp(1024, usize::MAX as u64) as usize;
        }
        if let Some(r) = &msg.hdr.resp_uri {
            check_url(&self.hdr.server_url, r)?;
            self.hdr.server_url = r.clone();
        }
        let hdr_code = match self.check_server(&msg, resp) {
            Ok(code) => code,
            Err(code) => return self.refuse_server(&msg, code),
        };
        if self.take_statuses(&msg)? {
            self.queue_package1_again();
            return Ok(Next::Continue);
        }
        self.client_accepted = true;
        self.phase.go(Phase::Management)?;
        self.execute(&msg, hdr_code)
    }

    /// Whether `msg` answers this session: our SessionID, and every Status
    /// and Results refers to a message we sent. Checked before anything in
    /// the message is acted on.
    fn check_bound(&self, msg: &Message) -> Result<(), String> {
        let theirs = msg.hdr.session_id.trim();
        if !theirs.eq_ignore_ascii_case(&self.hdr.session_id) {
            return Err(format!("SessionID {theirs:?} is not {:?}", self.hdr.session_id));
        }
        for c in &msg.body.commands {
            let (name, msg_ref) = match c {
                Command::Status(s) => ("Status", s.msg_ref),
                Command::Results(r) => ("Results", r.msg_ref),
                _ => continue,
            };
            if msg_ref == 0 || msg_ref > self.msg_id {
                return Err(format!(
                    "{name} {} refers to message {msg_ref}, but this session has sent messages 1 to {}",
                    c.cmd_id(),
                    self.msg_id
                ));
            }
        }
        Ok(())
    }

    /// Checks the server's credentials: Ok(212/200) or Err(401/407).
    fn check_server(&mut self, msg: &Message, resp: &Response) -> Result<StatusCode, StatusCode> {
        let acc = &self.ctx.account;
        let secret = &acc.server.secret;
        if secret.is_empty() {
            return Ok(StatusCode::Ok);
        }
        let name = if acc.server.name.is_empty() { &acc.server_id } else { &acc.server.name };
        if acc.server.scheme == Some(Scheme::Hmac) {
            let header = resp.hmac.as_deref().ok_or(StatusCode::MissingCredentials)?;
            return if auth::verify_hmac(header, name, secret, &self.nonces.server, &resp.body) {
                Ok(self.first_auth())
            } else {
                Err(StatusCode::InvalidCredentials)
            };
        }
        if self.server_authenticated {
            return Ok(StatusCode::Ok);
        }
        let cred = msg.hdr.cred.as_ref().ok_or(StatusCode::MissingCredentials)?;
        if auth::verify_cred(cred, name, secret, &self.nonces.server) {
            Ok(self.first_auth())
        } else {
            Err(StatusCode::InvalidCredentials)
        }
    }

    fn first_auth(&mut self) -> StatusCode {
        if std::mem::replace(&mut self.server_authenticated, true) {
            StatusCode::Ok
        } else {
            StatusCode::Authenticated
        }
    }

    /// Tells the server its credentials failed (with a fresh challenge) and
    /// ends the session without executing anything.
    fn refuse_server(&mut self, msg: &Message, code: StatusCode) -> Result<Next, SessionError> {
        let chal = self.new_server_challenge()?;
        self.hdr_status = Some(hdr_status_on(&msg.hdr, code, Some(chal)));
        self.outbox = Outbox::default();
        let _ = self.send();
        Err(SessionError::ServerAuthFailed { server_id: self.ctx.account.server_id.clone() })
    }

    /// A fresh nonce for the server's next credentials, as a Chal; stored
    /// when the message carrying it was sent.
    fn new_server_challenge(&mut self) -> Result<Chal, SessionError> {
        let next = fresh_nonce();
        self.pending_server_nonce = Some(next.clone());
        // HMAC signs every message: the server uses the new nonce from its
        // next message on. Digest and basic are checked once per session.
        self.nonces.server = next.clone();
        let scheme = self.ctx.account.server.scheme.unwrap_or(Scheme::Md5);
        Ok(Chal {
            meta: Meta {
                type_: Some(scheme.meta_type().into()),
                format: Some("b64".into()),
                next_nonce: Some(B64.encode(next)),
                ..Meta::default()
            },
        })
    }

    /// Takes the server's Statuses on our commands. True when our
    /// credentials were refused and package 1 must go again.
    fn take_statuses(&mut self, msg: &Message) -> Result<bool, SessionError> {
        let mut retry = false;
        for c in &msg.body.commands {
            let Command::Status(s) = c else { continue };
            if s.cmd_ref == 0 && s.cmd == "SyncHdr" {
                retry = self.hdr_status_received(s)?;
            } else if s.cmd == "Results" && s.code >= 400 {
                // The server refused a chunk: stop sending that object.
                self.outbox.queue.retain(|o| !matches!(o, super::commands::Outgoing::LargeResult(_)));
            } else if (200..300).contains(&s.code) {
                if let Some(id) = self.sent_alerts.remove(&(s.msg_ref, s.cmd_ref)) {
                    self.ctx.alerts.ack(id)?;
                    self.report.alerts_acked.push(id);
                }
            }
        }
        Ok(retry)
    }

    fn hdr_status_received(&mut self, s: &Status) -> Result<bool, SessionError> {
        if let Some(chal) = &s.chal {
            if let Some(scheme) = chal.meta.type_.as_deref().and_then(Scheme::from_meta_type) {
                self.client_scheme = scheme;
            }
            if let Some(n) = chal.meta.next_nonce.as_deref().and_then(|n| B64.decode(n.trim()).ok()) {
                self.nonces.client = n;
                let mut stored = self.ctx.nonces.get(&self.ctx.account.server_id);
                stored.client = self.nonces.client.clone();
                self.ctx.nonces.set(&self.ctx.account.server_id, stored)?;
            }
        }
        match s.code {
            401 | 407 if !self.client_accepted => {
                self.auth_attempts += 1;
                if self.auth_attempts > 2 || s.chal.is_none() && self.auth_attempts > 1 {
                    return Err(SessionError::ClientAuthFailed { server_id: self.ctx.account.server_id.clone() });
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn queue_package1_again(&mut self) {
        self.sent_alerts.clear();
        self.queue_package1(self.initial_alert);
    }

    /// Executes the server's commands, queues our replies and decides
    /// whether the session continues.
    fn execute(&mut self, msg: &Message, hdr_code: StatusCode) -> Result<Next, SessionError> {
        let chal = if hdr_code == StatusCode::Authenticated { Some(self.new_server_challenge()?) } else { None };
        self.hdr_status = Some(hdr_status_on(&msg.hdr, hdr_code, chal));
        let limit = self.server_limit.min(self.ctx.options.max_msg_size as usize);
        let mut x = Executor {
            tree: self.ctx.tree,
            server_id: &self.ctx.account.server_id,
            ui: self.ctx.ui,
            default_answers: self.ctx.options.default_answers,
            exec: self.ctx.exec,
            lo: &mut self.lo,
            msg_ref: msg.hdr.msg_id,
            large_threshold: limit / 2,
            out: Vec::new(),
            next_message_requested: false,
            abort_requested: false,
            in_atomic: false,
        };
        let mut operations = false;
        for c in &msg.body.commands {
            if !matches!(c, Command::Status(_) | Command::Results(_)) {
                operations = true;
                x.run(c);
                if x.abort_requested {
                    break;
                }
            }
        }
        let (out, next_requested, abort) = (std::mem::take(&mut x.out), x.next_message_requested, x.abort_requested);
        self.ctx.tree.save()?;
        if abort {
            self.report.aborted_by_server = true;
            self.phase.go(Phase::Finished)?;
            return Ok(Next::Done);
        }
        // Replies go before what was still queued from our own package.
        for o in out.into_iter().rev() {
            self.outbox.queue.push_front(o);
        }
        if !msg.body.final_flag && !next_requested {
            self.outbox.push(Command::Alert(Alert { data: ALERT_NEXT_MESSAGE, ..Alert::default() }));
        }
        if msg.body.final_flag && !operations && self.outbox.is_empty() {
            self.hdr_status = None;
            self.phase.go(Phase::Finished)?;
            return Ok(Next::Done);
        }
        Ok(Next::Continue)
    }
}

/// Our Status on a server message's header.
fn hdr_status_on(h: &SyncHdr, code: StatusCode, chal: Option<Chal>) -> Status {
    Status {
        msg_ref: h.msg_id,
        cmd_ref: 0,
        cmd: "SyncHdr".into(),
        target_ref: vec![h.target.uri.clone()],
        source_ref: vec![h.source.uri.clone()],
        chal,
        code: code.code(),
        ..Status::default()
    }
}
