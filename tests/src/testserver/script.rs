//! A line-based script of commands to queue for a device, for the
//! `fotad-testserver` binary and the demo:
//!
//! ```text
//! # comment
//! get ./DevInfo/Mod
//! add ./Vendor/a chr hello world
//! replace ./Vendor/a int 5
//! delete ./Vendor/a
//! exec ./FUMO/x/Update correlator-1
//! alert 1101 MINDT=10&DR=1 Install the update?
//! large ./FUMO/x/Update/PkgData 1048576
//! firmware GetFirmwareUpdate ./FwUpdate/p1 http://h/u.fota DL_Prompt=1
//! firmware ApplyFirmwareUpdate ./FwUpdate/p1
//! # a hostile server (security tests):
//! hostile endless 500          # 500 replies each carry one more command
//! hostile session-id 7FFF      # replies carry another SessionID
//! hostile msg-ref 99           # Statuses refer to a message never sent
//! hostile drip 50              # replies written one byte per 50 ms
//! hostile oversize             # commands larger than the device's MaxMsgSize sent anyway
//! route /p.fota 302 Location: file:///etc/passwd   # answer to a GET
//! ```

use std::time::Duration;

use fotad::dm::syncml::{Alert, Command, FirmwareCmd, Item, ItemCmd, Loc, Meta};

use super::{Hostile, LargeObject, Payload, Queued, Route};

/// What a script asks of the server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Script {
    /// Commands for the device, in order.
    pub queued: Vec<Queued>,
    pub hostile: Hostile,
    /// Answers to GETs, by path.
    pub routes: Vec<(String, Route)>,
}

/// Parses a script; errors name the line.
pub fn parse(text: &str) -> Result<Script, String> {
    let mut out = Script::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |e: String| format!("line {}: {e}: {line}", n + 1);
        if let Some(rest) = line.strip_prefix("hostile ") {
            hostile(&mut out.hostile, rest).map_err(at)?;
        } else if let Some(rest) = line.strip_prefix("route ") {
            out.routes.push(route(rest).map_err(at)?);
        } else {
            out.queued.push(parse_line(line).map_err(at)?);
        }
    }
    Ok(out)
}

/// `hostile endless N | session-id ID | msg-ref N | drip MS | oversize`.
fn hostile(h: &mut Hostile, rest: &str) -> Result<(), String> {
    if rest.trim() == "oversize" {
        h.oversize = true;
        return Ok(());
    }
    let (what, value) = rest.split_once(' ').ok_or("missing value")?;
    let number = || value.trim().parse::<u64>().map_err(|_| format!("{value:?} is not a number"));
    match what {
        "endless" => h.endless = Some(number()? as usize),
        "session-id" => h.session_id = Some(value.trim().to_string()),
        "msg-ref" => h.msg_ref = Some(number()? as u32),
        "drip" => h.drip = Some(Duration::from_millis(number()?)),
        other => return Err(format!("unknown hostile behaviour {other:?}")),
    }
    Ok(())
}

/// `route PATH STATUS [NAME: VALUE]`: a GET answer with one optional header.
fn route(rest: &str) -> Result<(String, Route), String> {
    let mut words = rest.splitn(3, ' ');
    let path = words.next().filter(|p| p.starts_with('/')).ok_or("the path must start with /")?;
    let status = words.next().and_then(|s| s.parse().ok()).ok_or("missing status")?;
    let headers = match words.next() {
        Some(h) => {
            let (k, v) = h.split_once(':').ok_or("a header is NAME: VALUE")?;
            vec![(k.trim().to_string(), v.trim().to_string())]
        }
        None => vec![],
    };
    Ok((path.to_string(), Route { status, headers, body: vec![] }))
}

fn parse_line(line: &str) -> Result<Queued, String> {
    let mut words = line.splitn(4, ' ');
    let verb = words.next().unwrap_or("");
    let a = words.next().ok_or("missing argument")?;
    let (b, rest) = (words.next(), words.next());
    let value = || Some(rest.unwrap_or("").to_string());
    let c = match verb {
        "get" => Command::Get(one(target(a, None, None))),
        "delete" => Command::Delete(one(target(a, None, None))),
        "add" => Command::Add(one(target(a, b, value()))),
        "replace" => Command::Replace(one(target(a, b, value()))),
        "exec" => Command::Exec(ItemCmd { correlator: b.map(str::to_string), ..one(target(a, None, None)) }),
        "alert" => alert(a, &[b, rest])?,
        "large" => return large(a, b),
        "firmware" => firmware(a, b, rest)?,
        other => return Err(format!("unknown command {other:?}")),
    };
    Ok(Queued::Cmd(c))
}

/// `firmware <command> <target> [source URL] [data]`: a legacy firmware-update command.
fn firmware(name: &str, target_uri: Option<&str>, rest: Option<&str>) -> Result<Command, String> {
    let f = FirmwareCmd::from_name(name).ok_or_else(|| format!("unknown firmware command {name:?}"))?;
    let uri = target_uri.ok_or("missing target")?;
    let (source, data) = match rest.map(|r| r.split_once(' ').unwrap_or((r, ""))) {
        Some((s, d)) => (Some(s).filter(|s| !s.is_empty()), Some(d).filter(|d| !d.is_empty())),
        None => (None, None),
    };
    let mut item = target(uri, None, data.map(str::to_string));
    item.source = source.map(Loc::uri);
    Ok(Command::Firmware(f, one(item)))
}

fn target(uri: &str, format: Option<&str>, data: Option<String>) -> Item {
    Item {
        target: Some(Loc::uri(uri)),
        meta: format.map(|f| Meta { format: Some(f.into()), ..Meta::default() }),
        data: data.map(String::into_bytes),
        ..Item::default()
    }
}

fn one(item: Item) -> ItemCmd {
    ItemCmd { items: vec![item], ..ItemCmd::default() }
}

/// `alert CODE [OPTIONS [TEXT]]`.
fn alert(code: &str, texts: &[Option<&str>]) -> Result<Command, String> {
    let data: u32 = code.parse().map_err(|_| "alert code is not a number")?;
    let items = texts.iter().flatten().map(|t| Item { data: Some(t.as_bytes().to_vec()), ..Item::default() }).collect();
    Ok(Command::Alert(Alert { data, items, ..Alert::default() }))
}

/// `large URI SIZE`: a Replace of SIZE pattern bytes, sent in chunks.
fn large(uri: &str, size: Option<&str>) -> Result<Queued, String> {
    let size: u64 = size.ok_or("missing size")?.parse().map_err(|_| "size is not a number")?;
    let payload = Payload::Pattern { size, seed: 7 };
    Ok(Queued::Large(LargeObject { replace: true, uri: uri.into(), format: "bin".into(), payload, offset: 0 }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn parses_every_verb_and_reports_bad_lines() {
        let q = parse("# x\nget ./A\nadd ./B chr two words\nexec ./C corr\nalert 1101 DR=1 Sure?\nlarge ./D 10\n")
            .unwrap()
            .queued;
        assert_eq!(q.len(), 5);
        let Queued::Cmd(Command::Add(a)) = &q[1] else { panic!() };
        assert_eq!(a.items[0].data.as_deref(), Some(&b"two words"[..]));
        let Queued::Cmd(Command::Exec(e)) = &q[2] else { panic!() };
        assert_eq!(e.correlator.as_deref(), Some("corr"));
        let Queued::Cmd(Command::Alert(al)) = &q[3] else { panic!() };
        assert_eq!((al.data, al.items.len()), (1101, 2));
        assert!(parse("fly ./A").unwrap_err().contains("line 1"));
    }

    #[test]
    fn parses_legacy_firmware_commands() {
        let q = parse("firmware Download ./FwUpdate/p http://h/u.fota DL_Prompt=1\nfirmware Update ./FwUpdate/p\n")
            .unwrap()
            .queued;
        let Queued::Cmd(Command::Firmware(FirmwareCmd::Download, c)) = &q[0] else { panic!("{q:?}") };
        assert_eq!(c.items[0].source_uri(), Some("http://h/u.fota"));
        assert_eq!(c.items[0].data.as_deref(), Some(&b"DL_Prompt=1"[..]));
        let Queued::Cmd(Command::Firmware(FirmwareCmd::Update, c)) = &q[1] else { panic!("{q:?}") };
        assert_eq!((c.items[0].target_uri(), c.items[0].source_uri()), (Some("./FwUpdate/p"), None));
        assert!(parse("firmware Flash ./FwUpdate/p").unwrap_err().contains("Flash"));
    }

    #[test]
    fn parses_hostile_behaviours_and_routes() {
        let s = parse(
            "hostile endless 500\nhostile session-id 7FFF\nhostile msg-ref 99\nhostile drip 50\nhostile oversize\n\
             route /p.fota 302 Location: file:///etc/passwd\nget ./A\n",
        )
        .unwrap();
        let expected = Hostile {
            endless: Some(500),
            session_id: Some("7FFF".into()),
            msg_ref: Some(99),
            drip: Some(Duration::from_millis(50)),
            oversize: true,
        };
        assert_eq!(s.hostile, expected);
        assert_eq!(s.routes[0].0, "/p.fota");
        assert_eq!(s.routes[0].1.status, 302);
        assert_eq!(s.routes[0].1.headers, [("Location".to_string(), "file:///etc/passwd".to_string())]);
        assert_eq!(s.queued.len(), 1);
        assert!(parse("hostile fly 1").unwrap_err().contains("fly"));
        assert!(parse("route p.fota 302").unwrap_err().contains("line 1"));
    }
}
