//! Building outgoing messages: the header (with credentials), the SyncHdr
//! status first, then queued commands while they fit MaxMsgSize, large results
//! one chunk per message.

use std::collections::VecDeque;

use super::execute::{OutChunk, Outgoing};
use super::large::read_range;
use crate::syncml::{
    Codec, Command, Cred, Item, Loc, Message, MessageBudget, Meta, Results, Status, SyncBody, SyncHdr, SyncmlError,
};

/// Room kept for the Results/Item wrapping of a chunk.
const CHUNK_OVERHEAD: usize = 256;
/// Smallest chunk worth sending next to other commands.
const MIN_CHUNK: usize = 128;
/// Room kept beside any one command for a SyncHdr Status without references.
const HDR_STATUS_RESERVE: usize = 256;

/// Outgoing commands not sent yet.
#[derive(Debug, Default)]
pub struct Outbox {
    pub queue: VecDeque<Outgoing>,
    next_cmd_id: u32,
    /// Large-result chunks put into messages so far.
    pub chunks_sent: u64,
}

/// The header fields of every message of a session.
#[derive(Debug, Clone)]
pub struct HeaderInfo {
    pub session_id: String,
    pub server_url: String,
    pub device_id: String,
    pub client_name: String,
    pub max_msg_size: u64,
    pub max_obj_size: u64,
}

impl Outbox {
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn push(&mut self, c: Command) {
        self.queue.push_back(Outgoing::Cmd(c));
    }

    fn next_id(&mut self) -> u32 {
        self.next_cmd_id += 1;
        self.next_cmd_id
    }

    /// Builds the next message. Returns it and the CmdIDs given to each sent
    /// queued Alert (so their Statuses can be matched).
    pub fn build(
        &mut self,
        codec: Codec,
        h: &HeaderInfo,
        msg_id: u32,
        cred: Option<Cred>,
        hdr_status: Option<Status>,
        limit: usize,
    ) -> Result<(Message, Vec<(u32, Command)>), SyncmlError> {
        let hdr = SyncHdr {
            ver_dtd: "1.2".into(),
            ver_proto: "DM/1.2".into(),
            session_id: h.session_id.clone(),
            msg_id,
            target: Loc::uri(h.server_url.clone()),
            source: Loc { uri: h.device_id.clone(), name: Some(h.client_name.clone()).filter(|n| !n.is_empty()) },
            cred,
            meta: Some(Meta {
                max_msg_size: Some(h.max_msg_size),
                max_obj_size: Some(h.max_obj_size),
                ..Meta::default()
            }),
            ..SyncHdr::default()
        };
        let mut msg = Message { hdr, body: SyncBody::default() };
        let mut budget = MessageBudget::new(codec, limit, &msg)?;
        let mut sent = Vec::new();
        if let Some(mut s) = hdr_status {
            s.cmd_id = self.next_id();
            let mut c = Command::Status(s);
            if !budget.fits_alone(&c, 0)? {
                c = without_references(c);
            }
            budget.force_add(&c)?;
            msg.body.commands.push(c);
        }
        while let Some(next) = self.queue.pop_front() {
            match next {
                Outgoing::Cmd(mut c) => {
                    c.set_cmd_id(self.next_cmd_id + 1);
                    if !budget.fits_alone(&c, HDR_STATUS_RESERVE)? {
                        if let Some((a, b)) = split_results(&c) {
                            self.queue.push_front(Outgoing::Cmd(b));
                            self.queue.push_front(Outgoing::Cmd(a));
                            continue;
                        }
                        // A Status echoing a huge target: the references are optional.
                        c = without_references(c);
                        if !budget.fits_alone(&c, HDR_STATUS_RESERVE)? {
                            eprintln!(
                                "fotad: session: dropping a {} that cannot fit any message of {limit} bytes",
                                c.name()
                            );
                            continue;
                        }
                    }
                    if !budget.try_add(&c)? {
                        if let Some((a, b)) = split_results(&c) {
                            self.queue.push_front(Outgoing::Cmd(b));
                            self.queue.push_front(Outgoing::Cmd(a));
                            continue;
                        }
                        self.queue.push_front(Outgoing::Cmd(c));
                        break;
                    }
                    self.next_id();
                    sent.push((c.cmd_id(), c.clone()));
                    msg.body.commands.push(c);
                }
                Outgoing::LargeResult(chunk) => {
                    // One chunk per message; the server answers 213 + 1222.
                    let only = sent.is_empty();
                    self.chunk_into(&mut msg, &mut budget, chunk, only)?;
                    break;
                }
            }
        }
        msg.body.final_flag = self.queue.is_empty();
        Ok((msg, sent))
    }

    /// Puts the next chunk of a large result in the message, or leaves it
    /// queued when there is no room next to other commands.
    fn chunk_into(
        &mut self,
        msg: &mut Message,
        budget: &mut MessageBudget,
        mut ch: Box<OutChunk>,
        only: bool,
    ) -> Result<(), SyncmlError> {
        let total = ch.value.size();
        let room = budget.remaining().saturating_sub(CHUNK_OVERHEAD + ch.uri.len());
        if room < MIN_CHUNK && !only {
            self.queue.push_front(Outgoing::LargeResult(ch));
            return Ok(());
        }
        let len = room.max(MIN_CHUNK).min((total - ch.offset) as usize);
        let data =
            read_range(&ch.value, ch.offset, len).map_err(|e| SyncmlError::Xml(format!("reading {}: {e}", ch.uri)))?;
        let more = ch.offset + (len as u64) < total;
        let meta = Meta {
            format: Some(ch.format.clone()),
            type_: Some(ch.type_.clone()).filter(|t| !t.is_empty()),
            size: (ch.offset == 0).then_some(total),
            ..Meta::default()
        };
        let item = Item {
            source: Some(Loc::uri(ch.uri.clone())),
            meta: Some(meta),
            data: Some(data),
            more_data: more,
            ..Item::default()
        };
        let c = Command::Results(Results {
            cmd_id: self.next_id(),
            msg_ref: ch.msg_ref,
            cmd_ref: ch.cmd_ref,
            items: vec![item],
            ..Results::default()
        });
        budget.force_add(&c)?;
        msg.body.commands.push(c);
        self.chunks_sent += 1;
        if more {
            ch.offset += len as u64;
            self.queue.push_front(Outgoing::LargeResult(ch));
        }
        Ok(())
    }
}

/// A Status without its Target/SourceRefs and Items (all optional), for a
/// server that made them too large to echo; other commands as they are.
fn without_references(c: Command) -> Command {
    match c {
        Command::Status(s) => Command::Status(Status { target_ref: vec![], source_ref: vec![], items: vec![], ..s }),
        other => other,
    }
}

/// Splits a Results with several items into two halves.
fn split_results(c: &Command) -> Option<(Command, Command)> {
    let Command::Results(r) = c else { return None };
    if r.items.len() < 2 {
        return None;
    }
    let mut a = r.clone();
    let b_items = a.items.split_off(r.items.len() / 2);
    let b = Results { items: b_items, ..r.clone() };
    Some((Command::Results(a), Command::Results(b)))
}
