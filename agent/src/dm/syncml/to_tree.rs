//! Message model → element tree.

use super::element::Element;
use super::model::*;

pub fn message(m: &Message) -> Element {
    let mut root = Element::new("SyncML");
    root.push(hdr(&m.hdr));
    root.push(body(&m.body));
    root
}

fn hdr(h: &SyncHdr) -> Element {
    let mut e = Element::new("SyncHdr");
    e.push_text("VerDTD", &h.ver_dtd);
    e.push_text("VerProto", &h.ver_proto);
    e.push_text("SessionID", &h.session_id);
    e.push_text("MsgID", &h.msg_id.to_string());
    e.push(loc("Target", &h.target));
    e.push(loc("Source", &h.source));
    if let Some(r) = &h.resp_uri {
        e.push_text("RespURI", r);
    }
    if h.no_resp {
        e.push_empty("NoResp");
    }
    if let Some(c) = &h.cred {
        e.push(cred(c));
    }
    push_meta(&mut e, h.meta.as_ref());
    e
}

fn body(b: &SyncBody) -> Element {
    let mut e = Element::new("SyncBody");
    for c in &b.commands {
        e.push(command(c));
    }
    if b.final_flag {
        e.push_empty("Final");
    }
    e
}

/// One command as an element (also used to measure its encoded size).
pub fn command(c: &Command) -> Element {
    match c {
        Command::Add(i)
        | Command::Replace(i)
        | Command::Delete(i)
        | Command::Get(i)
        | Command::Copy(i)
        | Command::Exec(i)
        | Command::Firmware(_, i) => item_cmd(c.name(), i),
        Command::Alert(a) => alert(a),
        Command::Sequence(s) | Command::Atomic(s) => container(c.name(), s),
        Command::Status(s) => status(s),
        Command::Results(r) => results(r),
    }
}

fn item_cmd(name: &str, c: &ItemCmd) -> Element {
    let mut e = Element::new(name);
    e.push_text("CmdID", &c.cmd_id.to_string());
    if c.no_resp {
        e.push_empty("NoResp");
    }
    if let Some(cr) = &c.cred {
        e.push(cred(cr));
    }
    if let Some(corr) = &c.correlator {
        e.push_text("Correlator", corr);
    }
    push_meta(&mut e, c.meta.as_ref());
    push_items(&mut e, &c.items);
    e
}

fn alert(a: &Alert) -> Element {
    let mut e = Element::new("Alert");
    e.push_text("CmdID", &a.cmd_id.to_string());
    if a.no_resp {
        e.push_empty("NoResp");
    }
    if let Some(cr) = &a.cred {
        e.push(cred(cr));
    }
    e.push_text("Data", &a.data.to_string());
    if let Some(corr) = &a.correlator {
        e.push_text("Correlator", corr);
    }
    push_items(&mut e, &a.items);
    e
}

fn container(name: &str, c: &Container) -> Element {
    let mut e = Element::new(name);
    e.push_text("CmdID", &c.cmd_id.to_string());
    if c.no_resp {
        e.push_empty("NoResp");
    }
    push_meta(&mut e, c.meta.as_ref());
    for cmd in &c.commands {
        e.push(command(cmd));
    }
    e
}

fn status(s: &Status) -> Element {
    let mut e = Element::new("Status");
    e.push_text("CmdID", &s.cmd_id.to_string());
    e.push_text("MsgRef", &s.msg_ref.to_string());
    e.push_text("CmdRef", &s.cmd_ref.to_string());
    e.push_text("Cmd", &s.cmd);
    for t in &s.target_ref {
        e.push_text("TargetRef", t);
    }
    for t in &s.source_ref {
        e.push_text("SourceRef", t);
    }
    if let Some(c) = &s.cred {
        e.push(cred(c));
    }
    if let Some(ch) = &s.chal {
        let mut c = Element::new("Chal");
        push_meta(&mut c, Some(&ch.meta));
        e.push(c);
    }
    e.push_text("Data", &s.code.to_string());
    push_items(&mut e, &s.items);
    e
}

fn results(r: &Results) -> Element {
    let mut e = Element::new("Results");
    e.push_text("CmdID", &r.cmd_id.to_string());
    e.push_text("MsgRef", &r.msg_ref.to_string());
    e.push_text("CmdRef", &r.cmd_ref.to_string());
    push_meta(&mut e, r.meta.as_ref());
    for t in &r.target_ref {
        e.push_text("TargetRef", t);
    }
    for t in &r.source_ref {
        e.push_text("SourceRef", t);
    }
    push_items(&mut e, &r.items);
    e
}

fn push_items(e: &mut Element, items: &[Item]) {
    for i in items {
        e.push(item(i));
    }
}

fn item(i: &Item) -> Element {
    let mut e = Element::new("Item");
    if let Some(t) = &i.target {
        e.push(loc("Target", t));
    }
    if let Some(s) = &i.source {
        e.push(loc("Source", s));
    }
    push_meta(&mut e, i.meta.as_ref());
    if let Some(d) = &i.data {
        e.push_bytes("Data", d);
    }
    if i.more_data {
        e.push_empty("MoreData");
    }
    e
}

fn loc(name: &str, l: &Loc) -> Element {
    let mut e = Element::new(name);
    e.push_text("LocURI", &l.uri);
    if let Some(n) = &l.name {
        e.push_text("LocName", n);
    }
    e
}

fn cred(c: &Cred) -> Element {
    let mut e = Element::new("Cred");
    push_meta(&mut e, Some(&c.meta));
    e.push_bytes("Data", &c.data);
    e
}

fn push_meta(parent: &mut Element, m: Option<&Meta>) {
    let Some(m) = m else { return };
    if m.is_empty() {
        return;
    }
    let mut e = Element::new("Meta");
    let texts = [("Format", m.format.as_deref()), ("Type", m.type_.as_deref()), ("Mark", m.mark.as_deref())];
    for (name, v) in texts {
        if let Some(v) = v {
            e.push_text(name, v);
        }
    }
    if let Some(s) = m.size {
        e.push_text("Size", &s.to_string());
    }
    if let Some(v) = &m.version {
        e.push_text("Version", v);
    }
    if let Some(n) = &m.next_nonce {
        e.push_text("NextNonce", n);
    }
    if let Some(s) = m.max_msg_size {
        e.push_text("MaxMsgSize", &s.to_string());
    }
    if let Some(s) = m.max_obj_size {
        e.push_text("MaxObjSize", &s.to_string());
    }
    if let Some(v) = &m.emi {
        e.push_text("EMI", v);
    }
    parent.push(e);
}
