//! Carrying out the server's commands on the tree: one Status per item (and
//! one Results per Get), Atomic with rollback, Sequence, Exec and UI alerts.

use super::handler::{ExecHandler, ExecRequest, FirmwareRequest};
use super::large::{read_range, Chunk, ChunkIn, LargeObjects};
use super::ui::{answer_status, unanswered, DefaultAnswers, Prompt, PromptKind, UiAnswer, UiOptions, UserInteraction};
use crate::dm::status::StatusCode;
use crate::dm::syncml::{Alert, Command, Container, FirmwareCmd, Item, ItemCmd, Loc, Meta, Results, Status};
use crate::dm::tree::{GetItem, NewValue, Tree, Value, Who};

/// Something to send back.
#[derive(Debug, Clone, PartialEq, Eq)]
// Commands dominate the queue; boxing each would cost more than it saves.
#[allow(clippy::large_enum_variant)]
pub enum Outgoing {
    Cmd(Command),
    /// A Results value too large for one message, sent in chunks.
    LargeResult(Box<OutChunk>),
}

/// State of an outgoing large object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutChunk {
    pub msg_ref: u32,
    pub cmd_ref: u32,
    pub uri: String,
    pub format: String,
    pub type_: String,
    pub value: Value,
    pub offset: u64,
}

/// Alert codes the executor handles itself.
pub const ALERT_NEXT_MESSAGE: u32 = 1222;
pub const ALERT_SESSION_ABORT: u32 = 1223;
pub const ALERT_NO_END_OF_DATA: u32 = 1225;

/// Executes one server message's commands.
pub struct Executor<'a> {
    pub tree: &'a mut Tree,
    pub server_id: &'a str,
    pub ui: &'a dyn UserInteraction,
    /// Alert types whose default response answers when no person did.
    pub default_answers: DefaultAnswers,
    pub exec: &'a mut dyn ExecHandler,
    pub lo: &'a mut LargeObjects,
    pub msg_ref: u32,
    /// Values at least this large go out as large objects.
    pub large_threshold: usize,
    pub out: Vec<Outgoing>,
    /// The server sent Alert 1222 (it wants our next message).
    pub next_message_requested: bool,
    /// The server sent Alert 1223.
    pub abort_requested: bool,
    /// Running the commands of an Atomic (see [`Executor::atomic`]).
    pub in_atomic: bool,
}

impl std::fmt::Debug for Executor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("server_id", &self.server_id)
            .field("msg_ref", &self.msg_ref)
            .finish_non_exhaustive()
    }
}

impl Executor<'_> {
    /// Runs a top-level command; returns the worst status code it produced.
    pub fn run(&mut self, c: &Command) -> StatusCode {
        if let Some(uri) = self.lo.pending_uri().map(str::to_string) {
            if !continues_object(c, &uri) {
                self.lo.abandon();
                self.alert_no_end_of_data(&uri);
            }
        }
        if self.in_atomic && !allowed_in_atomic(c) {
            return self.status(c.name(), c.cmd_id(), c.no_resp(), StatusCode::CommandFailed, None, None);
        }
        match c {
            Command::Add(i) => self.items(c.name(), i, |x, it| x.add_or_replace("Add", i, it)),
            Command::Replace(i) => self.items(c.name(), i, |x, it| x.add_or_replace("Replace", i, it)),
            Command::Delete(i) => self.items(c.name(), i, |x, it| x.delete(it)),
            Command::Copy(i) => self.items(c.name(), i, |x, it| x.copy(it)),
            Command::Exec(i) => self.items(c.name(), i, |x, it| x.exec(i, it)),
            Command::Firmware(f, i) => self.firmware(*f, i),
            Command::Get(i) => self.get(i),
            Command::Alert(a) => self.alert(a),
            Command::Atomic(a) => self.atomic(a),
            Command::Sequence(s) => self.sequence(s),
            Command::Status(_) | Command::Results(_) => StatusCode::Ok,
        }
    }

    fn items(&mut self, name: &str, cmd: &ItemCmd, mut f: impl FnMut(&mut Self, &Item) -> StatusCode) -> StatusCode {
        if cmd.items.is_empty() {
            return self.status(name, cmd.cmd_id, cmd.no_resp, StatusCode::IncompleteCommand, None, None);
        }
        let mut worst = StatusCode::Ok;
        for item in &cmd.items {
            let code = f(self, item);
            worst = worse(worst, code);
            self.status(name, cmd.cmd_id, cmd.no_resp, code, item.target_uri(), item.source_uri());
        }
        worst
    }

    fn status(
        &mut self,
        name: &str,
        cmd_id: u32,
        no_resp: bool,
        code: StatusCode,
        target: Option<&str>,
        source: Option<&str>,
    ) -> StatusCode {
        if !no_resp {
            self.out.push(Outgoing::Cmd(Command::Status(Status {
                msg_ref: self.msg_ref,
                cmd_ref: cmd_id,
                cmd: name.to_string(),
                target_ref: target.map(str::to_string).into_iter().collect(),
                source_ref: source.map(str::to_string).into_iter().collect(),
                code: code.code(),
                ..Status::default()
            })));
        }
        code
    }

    fn add_or_replace(&mut self, cmd: &'static str, c: &ItemCmd, item: &Item) -> StatusCode {
        let Some(uri) = item.target_uri() else {
            return StatusCode::IncompleteCommand;
        };
        let meta = item.meta.as_ref().or(c.meta.as_ref());
        let (format, type_) = (meta.and_then(|m| m.format.clone()), meta.and_then(|m| m.type_.clone()));
        let data = item.data.as_deref().unwrap_or_default();
        let chunked = item.more_data || self.lo.pending_uri() == Some(uri);
        if chunked && self.lo.pending_uri() != Some(uri) {
            // The ACL before the first chunk: a server without rights stores nothing.
            if let Err(e) = self.tree.check_write(Who::Server(self.server_id), cmd == "Add", uri) {
                return StatusCode::from(&e);
            }
        }
        let value = if chunked {
            let size = meta.and_then(|m| m.size);
            match self.lo.chunk(&ChunkIn { cmd, uri, size, data, more: item.more_data, format, type_ }) {
                Chunk::More => return StatusCode::ChunkAccepted,
                Chunk::Failed(code) => return code,
                Chunk::Complete { value, format, type_ } => NewValue { format, type_, value },
            }
        } else {
            NewValue { format, type_, value: Value::Inline(data.to_vec()) }
        };
        let who = Who::Server(self.server_id);
        let file = match &value.value {
            Value::File { path, .. } => Some(path.clone()),
            Value::Inline(_) => None,
        };
        let r = if cmd == "Add" { self.tree.add(who, uri, value) } else { self.tree.replace(who, uri, value) };
        if let (Err(_), Some(path)) = (&r, file) {
            // The assembled object was refused (ACL, format...): drop it.
            let _ = std::fs::remove_file(path);
        }
        code_of(r)
    }

    fn delete(&mut self, item: &Item) -> StatusCode {
        match item.target_uri() {
            Some(uri) => code_of(self.tree.delete(Who::Server(self.server_id), uri)),
            None => StatusCode::IncompleteCommand,
        }
    }

    fn copy(&mut self, item: &Item) -> StatusCode {
        match (item.source_uri(), item.target_uri()) {
            (Some(s), Some(t)) => code_of(self.tree.copy(Who::Server(self.server_id), s, t)),
            _ => StatusCode::IncompleteCommand,
        }
    }

    fn exec(&mut self, c: &ItemCmd, item: &Item) -> StatusCode {
        let Some(raw) = item.target_uri() else {
            return StatusCode::IncompleteCommand;
        };
        let uri = match self.tree.check_exec(Who::Server(self.server_id), raw) {
            Ok(u) => u.path(),
            Err(e) => return StatusCode::from(&e),
        };
        let req = ExecRequest {
            server_id: self.server_id,
            uri: &uri,
            data: item.data.as_deref(),
            correlator: c.correlator.as_deref(),
            tree: self.tree,
        };
        self.exec.exec(&req)
    }

    /// A legacy firmware-update command: a Status per item, and Results
    /// (Source = the Target) for an item whose reply carries a value.
    fn firmware(&mut self, f: FirmwareCmd, c: &ItemCmd) -> StatusCode {
        if c.items.is_empty() {
            return self.status(f.name(), c.cmd_id, c.no_resp, StatusCode::IncompleteCommand, None, None);
        }
        let mut worst = StatusCode::Ok;
        for item in &c.items {
            let Some(target) = item.target_uri() else {
                worst = worse(worst, StatusCode::IncompleteCommand);
                self.status(f.name(), c.cmd_id, c.no_resp, StatusCode::IncompleteCommand, None, item.source_uri());
                continue;
            };
            let mut req = FirmwareRequest {
                server_id: self.server_id,
                cmd: f,
                target,
                source: item.source_uri(),
                data: item.data.as_deref(),
                correlator: c.correlator.as_deref(),
                tree: self.tree,
                ui: self.ui,
            };
            let reply = self.exec.firmware(&mut req);
            worst = worse(worst, reply.status);
            self.status(f.name(), c.cmd_id, c.no_resp, reply.status, Some(target), item.source_uri());
            if let Some(value) = reply.result {
                let data = Some(Value::Inline(value.into_bytes()));
                let item = GetItem { uri: target.to_string(), format: "int".into(), type_: String::new(), data };
                self.push_results(c.cmd_id, vec![result_item(item)]);
            }
        }
        worst
    }

    /// A Status per item, and one Results with every item read (values too
    /// large for one message go after it as chunked objects); the outbox
    /// splits the Results only when no message can hold it whole.
    fn get(&mut self, c: &ItemCmd) -> StatusCode {
        let mut worst = StatusCode::Ok;
        let mut read = Vec::new();
        for item in &c.items {
            let Some(uri) = item.target_uri() else {
                worst = worse(worst, StatusCode::IncompleteCommand);
                continue;
            };
            match self.tree.get(Who::Server(self.server_id), uri) {
                Ok(items) => {
                    self.status("Get", c.cmd_id, c.no_resp, StatusCode::Ok, Some(uri), None);
                    read.extend(items);
                }
                Err(e) => {
                    let code = StatusCode::from(&e);
                    worst = worse(worst, code);
                    self.status("Get", c.cmd_id, c.no_resp, code, Some(uri), None);
                }
            }
        }
        self.results(c.cmd_id, read);
        worst
    }

    /// One Results for the small values; a large one goes out as a chunked object.
    fn results(&mut self, cmd_ref: u32, items: Vec<GetItem>) {
        let mut small: Vec<Item> = Vec::new();
        let mut large = Vec::new();
        for gi in items {
            let size = gi.data.as_ref().map_or(0, |v| v.size() as usize);
            match gi.data {
                Some(value) if size >= self.large_threshold => large.push(Outgoing::LargeResult(Box::new(OutChunk {
                    msg_ref: self.msg_ref,
                    cmd_ref,
                    uri: gi.uri,
                    format: gi.format,
                    type_: gi.type_,
                    value,
                    offset: 0,
                }))),
                data => small.push(result_item(GetItem { data, ..gi })),
            }
        }
        if !small.is_empty() {
            self.push_results(cmd_ref, small);
        }
        self.out.extend(large);
    }

    fn push_results(&mut self, cmd_ref: u32, items: Vec<Item>) {
        self.out.push(Outgoing::Cmd(Command::Results(Results {
            msg_ref: self.msg_ref,
            cmd_ref,
            items,
            ..Results::default()
        })));
    }

    fn alert(&mut self, a: &Alert) -> StatusCode {
        let code = match a.data {
            ALERT_NEXT_MESSAGE => {
                self.next_message_requested = true;
                StatusCode::Ok
            }
            ALERT_SESSION_ABORT => {
                self.abort_requested = true;
                StatusCode::Ok
            }
            code => match PromptKind::from_code(code) {
                Some(kind) => return self.prompt(kind, a),
                None => StatusCode::OptionalFeatureNotSupported,
            },
        };
        self.status("Alert", a.cmd_id, a.no_resp, code, None, None)
    }

    fn prompt(&mut self, kind: PromptKind, a: &Alert) -> StatusCode {
        let text = |i: usize| {
            a.items.get(i).and_then(|it| it.data.as_deref()).map(|d| String::from_utf8_lossy(d).into_owned())
        };
        let mut prompt = Prompt {
            kind,
            options: UiOptions::parse(&text(0).unwrap_or_default()),
            text: text(1).unwrap_or_default(),
            choices: (2..a.items.len()).filter_map(text).collect(),
            server_id: self.server_id.to_string(),
        };
        prompt.drop_unusable_default();
        // No UI, or nobody answered within MAXDT: no person answered.
        let answer = match self.ui.prompt(&prompt) {
            None | Some(UiAnswer::TimedOut) => unanswered(&prompt, self.default_answers),
            Some(a) => a,
        };
        let (code, replies) = answer_status(kind, &answer);
        if !a.no_resp {
            let items = replies.into_iter().map(|r| Item { data: Some(r.into_bytes()), ..Item::default() }).collect();
            self.out.push(Outgoing::Cmd(Command::Status(Status {
                msg_ref: self.msg_ref,
                cmd_ref: a.cmd_id,
                cmd: "Alert".into(),
                code: code.code(),
                items,
                ..Status::default()
            })));
        }
        code
    }

    /// Atomic (DM-RepPro "Atomic"): its commands run in order until one
    /// fails; then the rest are not executed (215), the tree is rolled back —
    /// in memory, the files of large objects stored meanwhile, and so on disk
    /// at the end of the message — the commands that had succeeded get 216,
    /// the failed one keeps its code, and the Atomic gets 507. An Alert was
    /// shown to a person and cannot be rolled back: it keeps its own code
    /// (and a confirmation answered No or not at all fails the Atomic).
    /// Get, Exec, the legacy firmware commands and a nested Atomic are not
    /// allowed inside: 500, and the Atomic fails.
    fn atomic(&mut self, a: &Container) -> StatusCode {
        let checkpoint = self.tree.checkpoint();
        let object_before = self.lo.pending_uri().map(str::to_string);
        let mark = self.out.len();
        let outer = std::mem::replace(&mut self.in_atomic, true);
        let mut failed = false;
        for c in &a.commands {
            if failed {
                self.not_executed(c);
                continue;
            }
            let code = self.run(c);
            failed = !code.is_success() || code == StatusCode::ChunkAccepted;
        }
        self.in_atomic = outer;
        if !failed {
            return self.status("Atomic", a.cmd_id, a.no_resp, StatusCode::Ok, None, None);
        }
        self.tree.rollback(checkpoint);
        if self.lo.pending_uri().is_some() && self.lo.pending_uri() != object_before.as_deref() {
            // A large object begun inside: its chunks so far are dropped.
            self.lo.abandon();
        }
        for o in &mut self.out[mark..] {
            if let Outgoing::Cmd(Command::Status(s)) = o {
                let rolled_back = s.cmd != "Alert" && (200..300).contains(&s.code) && s.code != 215;
                if rolled_back {
                    s.code = StatusCode::AtomicRollbackOk.code();
                }
            }
        }
        self.status("Atomic", a.cmd_id, a.no_resp, StatusCode::AtomicFailed, None, None)
    }

    /// 215 for a command (and, in a container, each of its commands) that a
    /// failed Atomic did not reach.
    fn not_executed(&mut self, c: &Command) {
        if let Command::Sequence(s) | Command::Atomic(s) = c {
            for inner in &s.commands {
                self.not_executed(inner);
            }
        }
        self.status(c.name(), c.cmd_id(), c.no_resp(), StatusCode::NotExecuted, None, None);
    }

    fn sequence(&mut self, s: &Container) -> StatusCode {
        let mut worst = StatusCode::Ok;
        for c in &s.commands {
            worst = worse(worst, self.run(c));
        }
        self.status("Sequence", s.cmd_id, s.no_resp, StatusCode::Ok, None, None);
        worst
    }

    fn alert_no_end_of_data(&mut self, uri: &str) {
        self.out.push(Outgoing::Cmd(Command::Alert(Alert {
            data: ALERT_NO_END_OF_DATA,
            items: vec![Item { target: Some(Loc::uri(uri)), ..Item::default() }],
            ..Alert::default()
        })));
    }
}

/// Whether `c` may run inside an Atomic (DM-RepPro "Atomic": Add, Alert,
/// Delete, Copy, Replace; we also take a Sequence of those). A Get or a
/// nested Atomic is an error (500) by the same clause; an Exec (DM-RepPro
/// "Exec": only in a Sequence or the SyncBody) and the legacy firmware
/// commands, which start work that cannot be rolled back, are refused alike.
fn allowed_in_atomic(c: &Command) -> bool {
    !matches!(c, Command::Get(_) | Command::Atomic(_) | Command::Exec(_) | Command::Firmware(..))
}

/// True when `c` carries the next chunk of the object at `uri`.
fn continues_object(c: &Command, uri: &str) -> bool {
    match c {
        Command::Add(i) | Command::Replace(i) => i.items.first().and_then(Item::target_uri) == Some(uri),
        Command::Status(_) | Command::Results(_) => true,
        Command::Alert(a) => a.data == ALERT_NEXT_MESSAGE,
        _ => false,
    }
}

fn result_item(gi: GetItem) -> Item {
    let data = gi.data.map(|v| read_range(&v, 0, v.size() as usize).unwrap_or_default());
    Item {
        source: Some(Loc::uri(gi.uri)),
        meta: Some(Meta {
            format: Some(gi.format),
            type_: Some(gi.type_).filter(|t| !t.is_empty()),
            ..Meta::default()
        }),
        data,
        ..Item::default()
    }
}

fn code_of(r: Result<(), crate::dm::tree::TreeError>) -> StatusCode {
    match r {
        Ok(()) => StatusCode::Ok,
        Err(e) => StatusCode::from(&e),
    }
}

/// The more severe of two codes (errors beat successes; 213 beats 200).
fn worse(a: StatusCode, b: StatusCode) -> StatusCode {
    match (a.is_success(), b.is_success()) {
        (true, false) => b,
        (false, _) => a,
        (true, true) if b != StatusCode::Ok => b,
        _ => a,
    }
}
