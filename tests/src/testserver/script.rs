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
//! ```

use fotad::syncml::{Alert, Command, Item, ItemCmd, Loc, Meta};

use super::{LargeObject, Payload, Queued};

/// Parses a script; errors name the line.
pub fn parse(text: &str) -> Result<Vec<Queued>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(parse_line(line).map_err(|e| format!("line {}: {e}: {line}", n + 1))?);
    }
    Ok(out)
}

fn parse_line(line: &str) -> Result<Queued, String> {
    let mut words = line.splitn(4, ' ');
    let verb = words.next().unwrap_or("");
    let a = words.next().ok_or("missing argument")?;
    let b = words.next();
    let rest = words.next();
    let target = |uri: &str, format: Option<&str>, data: Option<String>| Item {
        target: Some(Loc::uri(uri)),
        meta: format.map(|f| Meta { format: Some(f.into()), ..Meta::default() }),
        data: data.map(String::into_bytes),
        ..Item::default()
    };
    let cmd = |items| ItemCmd { items, ..ItemCmd::default() };
    let c = match verb {
        "get" => Command::Get(cmd(vec![target(a, None, None)])),
        "delete" => Command::Delete(cmd(vec![target(a, None, None)])),
        "add" => Command::Add(cmd(vec![target(a, b, Some(rest.unwrap_or("").to_string()))])),
        "replace" => Command::Replace(cmd(vec![target(a, b, Some(rest.unwrap_or("").to_string()))])),
        "exec" => Command::Exec(ItemCmd { correlator: b.map(str::to_string), ..cmd(vec![target(a, None, None)]) }),
        "alert" => {
            let data: u32 = a.parse().map_err(|_| "alert code is not a number")?;
            let items = [b, rest]
                .iter()
                .flatten()
                .map(|t| Item { data: Some(t.as_bytes().to_vec()), ..Item::default() })
                .collect();
            Command::Alert(Alert { data, items, ..Alert::default() })
        }
        "large" => {
            let size: u64 = b.ok_or("missing size")?.parse().map_err(|_| "size is not a number")?;
            let payload = Payload::Pattern { size, seed: 7 };
            return Ok(Queued::Large(LargeObject {
                replace: true,
                uri: a.into(),
                format: "bin".into(),
                payload,
                offset: 0,
            }));
        }
        other => return Err(format!("unknown command {other:?}")),
    };
    Ok(Queued::Cmd(c))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn parses_every_verb_and_reports_bad_lines() {
        let q =
            parse("# x\nget ./A\nadd ./B chr two words\nexec ./C corr\nalert 1101 DR=1 Sure?\nlarge ./D 10\n").unwrap();
        assert_eq!(q.len(), 5);
        let Queued::Cmd(Command::Add(a)) = &q[1] else { panic!() };
        assert_eq!(a.items[0].data.as_deref(), Some(&b"two words"[..]));
        let Queued::Cmd(Command::Exec(e)) = &q[2] else { panic!() };
        assert_eq!(e.correlator.as_deref(), Some("corr"));
        let Queued::Cmd(Command::Alert(al)) = &q[3] else { panic!() };
        assert_eq!((al.data, al.items.len()), (1101, 2));
        assert!(parse("fly ./A").unwrap_err().contains("line 1"));
    }
}
