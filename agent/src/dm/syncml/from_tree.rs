//! Element tree → message model. Strict where the meaning depends on it (numbers,
//! required elements), tolerant of unknown elements.

use base64::Engine;

use super::element::Element;
use super::model::*;
use super::SyncmlError;

type Result<T> = std::result::Result<T, SyncmlError>;

pub fn message(root: &Element) -> Result<Message> {
    if root.name != "SyncML" {
        return Err(SyncmlError::Missing { element: "SyncML", parent: "document" });
    }
    let h = root.child("SyncHdr").ok_or(SyncmlError::Missing { element: "SyncHdr", parent: "SyncML" })?;
    let b = root.child("SyncBody").ok_or(SyncmlError::Missing { element: "SyncBody", parent: "SyncML" })?;
    Ok(Message { hdr: hdr(h)?, body: body(b)? })
}

/// The header alone, from a `SyncML` root whose `SyncHdr` was read whole.
pub fn header(root: &Element) -> Option<SyncHdr> {
    if root.name != "SyncML" {
        return None;
    }
    hdr(root.child("SyncHdr")?).ok()
}

fn hdr(e: &Element) -> Result<SyncHdr> {
    Ok(SyncHdr {
        ver_dtd: required_text(e, "VerDTD", "SyncHdr")?,
        ver_proto: required_text(e, "VerProto", "SyncHdr")?,
        session_id: required_text(e, "SessionID", "SyncHdr")?,
        msg_id: number(e, "MsgID", "SyncHdr")?,
        target: loc(required(e, "Target", "SyncHdr")?),
        source: loc(required(e, "Source", "SyncHdr")?),
        resp_uri: e.child_text("RespURI"),
        no_resp: e.has("NoResp"),
        cred: e.child("Cred").map(cred).transpose()?,
        meta: opt_meta(e)?,
    })
}

fn body(e: &Element) -> Result<SyncBody> {
    let mut commands = Vec::new();
    for c in e.elements() {
        if let Some(cmd) = command(c)? {
            commands.push(cmd);
        }
    }
    Ok(SyncBody { commands, final_flag: e.has("Final") })
}

/// Parses one command element; `None` for elements that are not commands
/// (`Final`) — unknown commands are errors so the session can answer 406.
pub fn command(e: &Element) -> Result<Option<Command>> {
    let cmd = match e.name.as_str() {
        "Add" => Command::Add(item_cmd(e)?),
        "Replace" => Command::Replace(item_cmd(e)?),
        "Delete" => Command::Delete(item_cmd(e)?),
        "Get" => Command::Get(item_cmd(e)?),
        "Copy" => Command::Copy(item_cmd(e)?),
        "Exec" => Command::Exec(item_cmd(e)?),
        "Alert" => Command::Alert(alert(e)?),
        "Sequence" => Command::Sequence(container(e)?),
        "Atomic" => Command::Atomic(container(e)?),
        "Status" => Command::Status(status(e)?),
        "Results" => Command::Results(results(e)?),
        "Final" => return Ok(None),
        other => match FirmwareCmd::from_name(other) {
            Some(f) => Command::Firmware(f, item_cmd(e)?),
            None => return Err(SyncmlError::UnknownCommand(other.to_string())),
        },
    };
    Ok(Some(cmd))
}

fn item_cmd(e: &Element) -> Result<ItemCmd> {
    Ok(ItemCmd {
        cmd_id: number(e, "CmdID", "command")?,
        no_resp: e.has("NoResp"),
        cred: e.child("Cred").map(cred).transpose()?,
        meta: opt_meta(e)?,
        correlator: e.child_text("Correlator"),
        items: items(e)?,
    })
}

fn alert(e: &Element) -> Result<Alert> {
    Ok(Alert {
        cmd_id: number(e, "CmdID", "Alert")?,
        no_resp: e.has("NoResp"),
        cred: e.child("Cred").map(cred).transpose()?,
        correlator: e.child_text("Correlator"),
        data: number(e, "Data", "Alert")?,
        items: items(e)?,
    })
}

fn container(e: &Element) -> Result<Container> {
    let mut commands = Vec::new();
    for c in e.elements() {
        if matches!(c.name.as_str(), "CmdID" | "NoResp" | "Meta") {
            continue;
        }
        if let Some(cmd) = command(c)? {
            commands.push(cmd);
        }
    }
    Ok(Container { cmd_id: number(e, "CmdID", "container")?, no_resp: e.has("NoResp"), meta: opt_meta(e)?, commands })
}

fn status(e: &Element) -> Result<Status> {
    let code: u32 = number(e, "Data", "Status")?;
    Ok(Status {
        cmd_id: number(e, "CmdID", "Status")?,
        msg_ref: optional_number(e, "MsgRef")?.unwrap_or(0),
        cmd_ref: number(e, "CmdRef", "Status")?,
        cmd: required_text(e, "Cmd", "Status")?,
        target_ref: e.children_named("TargetRef").map(Element::text).collect(),
        source_ref: e.children_named("SourceRef").map(Element::text).collect(),
        cred: e.child("Cred").map(cred).transpose()?,
        chal: match e.child("Chal") {
            Some(c) => Some(Chal { meta: c.child("Meta").map(meta).transpose()?.unwrap_or_default() }),
            None => None,
        },
        code: u16::try_from(code).map_err(|_| bad_number("Data", code.to_string()))?,
        items: items(e)?,
    })
}

fn results(e: &Element) -> Result<Results> {
    Ok(Results {
        cmd_id: number(e, "CmdID", "Results")?,
        msg_ref: optional_number(e, "MsgRef")?.unwrap_or(0),
        cmd_ref: number(e, "CmdRef", "Results")?,
        meta: opt_meta(e)?,
        target_ref: e.children_named("TargetRef").map(Element::text).collect(),
        source_ref: e.children_named("SourceRef").map(Element::text).collect(),
        items: items(e)?,
    })
}

fn items(e: &Element) -> Result<Vec<Item>> {
    e.children_named("Item").map(item).collect()
}

fn item(e: &Element) -> Result<Item> {
    Ok(Item {
        target: e.child("Target").map(loc),
        source: e.child("Source").map(loc),
        meta: opt_meta(e)?,
        data: e.child("Data").map(Element::data),
        more_data: e.has("MoreData"),
    })
}

fn loc(e: &Element) -> Loc {
    Loc { uri: e.child_text("LocURI").unwrap_or_default(), name: e.child_text("LocName") }
}

fn cred(e: &Element) -> Result<Cred> {
    Ok(Cred {
        meta: e.child("Meta").map(meta).transpose()?.unwrap_or_default(),
        data: e.child("Data").map(trimmed_data).unwrap_or_default(),
    })
}

/// An optional `<Meta>`; an empty one counts as absent (it encodes to nothing).
fn opt_meta(e: &Element) -> Result<Option<Meta>> {
    Ok(e.child("Meta").map(meta).transpose()?.filter(|m| !m.is_empty()))
}

/// Reads `<Meta>`, whose children may also be wrapped in `<MetInf>`.
fn meta(e: &Element) -> Result<Meta> {
    let e = e.child("MetInf").unwrap_or(e);
    Ok(Meta {
        format: e.child_text("Format"),
        type_: e.child_text("Type"),
        mark: e.child_text("Mark"),
        size: optional_number(e, "Size")?,
        next_nonce: e.child("NextNonce").map(nonce_text),
        version: e.child_text("Version"),
        max_msg_size: optional_number(e, "MaxMsgSize")?,
        max_obj_size: optional_number(e, "MaxObjSize")?,
        emi: e.child_text("EMI"),
    })
}

/// NextNonce as base64 text; WBXML peers may send the raw nonce as opaque.
fn nonce_text(e: &Element) -> String {
    if e.data_is_opaque() {
        base64::engine::general_purpose::STANDARD.encode(e.data())
    } else {
        e.text()
    }
}

/// Character data with surrounding whitespace removed when it is text.
fn trimmed_data(e: &Element) -> Vec<u8> {
    if e.data_is_opaque() {
        e.data()
    } else {
        e.text().into_bytes()
    }
}

fn required<'a>(e: &'a Element, name: &'static str, parent: &'static str) -> Result<&'a Element> {
    e.child(name).ok_or(SyncmlError::Missing { element: name, parent })
}

fn required_text(e: &Element, name: &'static str, parent: &'static str) -> Result<String> {
    required(e, name, parent).map(Element::text)
}

fn number<T: std::str::FromStr>(e: &Element, name: &'static str, parent: &'static str) -> Result<T> {
    let text = required_text(e, name, parent)?;
    text.parse().map_err(|_| bad_number(name, text))
}

fn optional_number<T: std::str::FromStr>(e: &Element, name: &'static str) -> Result<Option<T>> {
    match e.child_text(name) {
        None => Ok(None),
        Some(t) => t.parse().map(Some).map_err(|_| bad_number(name, t)),
    }
}

fn bad_number(element: &'static str, value: String) -> SyncmlError {
    SyncmlError::BadNumber { element, value }
}
