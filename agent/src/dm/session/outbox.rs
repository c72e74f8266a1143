//! Building outgoing messages: the header (with credentials), the SyncHdr
//! status first, then queued commands while they fit MaxMsgSize, large results
//! one chunk per message.

use std::collections::VecDeque;

use super::commands::{OutChunk, Outgoing};
use super::large::read_range;
use crate::dm::syncml::{
    Codec, Command, Cred, Item, Loc, Message, MessageBudget, Meta, Results, Status, SyncBody, SyncHdr, SyncmlError,
};

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
                        // No message holds it whole: a Results goes out in
                        // parts, as many items in each as fit.
                        if let Some(parts) = split_results(&c, &budget)? {
                            match parts {
                                Some((a, b)) => {
                                    self.queue.push_front(Outgoing::Cmd(b));
                                    self.queue.push_front(Outgoing::Cmd(a));
                                    continue;
                                }
                                None => {
                                    // Not one more item fits here: the next message.
                                    self.queue.push_front(Outgoing::Cmd(c));
                                    break;
                                }
                            }
                        }
                        // A Status echoing a huge target: the references are optional.
                        c = without_references(c);
                        if !budget.fits_alone(&c, HDR_STATUS_RESERVE)? {
                            tracing::warn!("dropping a {} that cannot fit any message of {limit} bytes", c.name());
                            continue;
                        }
                    }
                    if !budget.try_add(&c)? {
                        // It fits a message of its own: the next one, whole.
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
        let left = (total - ch.offset) as usize;
        let cmd_id = self.next_cmd_id + 1;
        // The Results around the data, measured: what is left is for the data.
        let overhead = budget.size_of(&chunk_command(&ch, cmd_id, Vec::new(), true))?;
        let room = budget.remaining().saturating_sub(overhead);
        if room < MIN_CHUNK && !only {
            self.queue.push_front(Outgoing::LargeResult(ch));
            return Ok(());
        }
        let mut len = room.max(MIN_CHUNK).min(left);
        let c = loop {
            let data = read_range(&ch.value, ch.offset, len)
                .map_err(|e| SyncmlError::Xml(format!("reading {}: {e}", ch.uri)))?;
            let c = chunk_command(&ch, cmd_id, data, len < left);
            // Escaped characters (XML) take more room than the bytes they stand for.
            let over = budget.size_of(&c)?.saturating_sub(budget.remaining());
            if over == 0 || len <= MIN_CHUNK {
                break c;
            }
            len = len.saturating_sub(over).max(MIN_CHUNK);
        };
        self.next_id();
        let more = len < left;
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

/// The Results carrying one chunk of a large value (Meta Size on the first).
fn chunk_command(ch: &OutChunk, cmd_id: u32, data: Vec<u8>, more: bool) -> Command {
    let meta = Meta {
        format: Some(ch.format.clone()),
        type_: Some(ch.type_.clone()).filter(|t| !t.is_empty()),
        size: (ch.offset == 0).then_some(ch.value.size()),
        ..Meta::default()
    };
    let item = Item {
        source: Some(Loc::uri(ch.uri.clone())),
        meta: Some(meta),
        data: Some(data),
        more_data: more,
        ..Item::default()
    };
    Command::Results(Results {
        cmd_id,
        msg_ref: ch.msg_ref,
        cmd_ref: ch.cmd_ref,
        items: vec![item],
        ..Results::default()
    })
}

/// A Status without its Target/SourceRefs and Items (all optional), for a
/// server that made them too large to echo; other commands as they are.
fn without_references(c: Command) -> Command {
    match c {
        Command::Status(s) => Command::Status(Status { target_ref: vec![], source_ref: vec![], items: vec![], ..s }),
        other => other,
    }
}

/// For a Results with more than one item: `Some(Some((a, b)))` with `a` as
/// many of its items as fit in what is left of `budget` and `b` the rest,
/// `Some(None)` when not even the first item fits there; `None` for other
/// commands and single items.
#[allow(clippy::type_complexity)]
fn split_results(c: &Command, budget: &MessageBudget) -> Result<Option<Option<(Command, Command)>>, SyncmlError> {
    let Command::Results(r) = c else { return Ok(None) };
    if r.items.len() < 2 {
        return Ok(None);
    }
    let part = |n: usize| Command::Results(Results { items: r.items[..n].to_vec(), ..r.clone() });
    // The most items that fit: binary search over 1..len (all of them do not).
    let (mut fits, mut fails) = (0, r.items.len());
    while fails - fits > 1 {
        let mid = (fits + fails) / 2;
        if budget.fits(&part(mid))? {
            fits = mid;
        } else {
            fails = mid;
        }
    }
    if fits == 0 {
        return Ok(Some(None));
    }
    let rest = Command::Results(Results { items: r.items[fits..].to_vec(), ..r.clone() });
    Ok(Some(Some((part(fits), rest))))
}
