//! XML codec (`application/vnd.syncml.dm+xml`) between bytes and element trees.

use std::borrow::Cow;

use quick_xml::events::Event;
use quick_xml::Reader;

use super::element::{Element, Node, MAX_DEPTH};
use super::tokens;
use super::SyncmlError;

const SYNCML_NS: &str = "SYNCML:SYNCML1.2";
const METINF_NS: &str = "syncml:metinf";

/// Writes a tree as compact XML. Opaque data is written as text when it is
/// UTF-8, and refused otherwise (XML DM carries binary as b64 text).
pub fn write(root: &Element) -> Result<Vec<u8>, SyncmlError> {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    write_element(&mut out, root, None)?;
    Ok(out.into_bytes())
}

/// Writes one element without declaration (used for size estimates too).
pub fn write_element(out: &mut String, e: &Element, parent_page: Option<u8>) -> Result<(), SyncmlError> {
    let page = tokens::page_of(&e.name);
    out.push('<');
    out.push_str(&e.name);
    match (parent_page, page) {
        (None, _) => push_xmlns(out, SYNCML_NS),
        (Some(p), Some(1)) if p != 1 => push_xmlns(out, METINF_NS),
        _ => {}
    }
    if e.children.is_empty() {
        out.push_str("/>");
        return Ok(());
    }
    out.push('>');
    for c in &e.children {
        match c {
            Node::Elem(child) => write_element(out, child, page.or(parent_page))?,
            Node::Data { bytes, .. } => {
                let text = std::str::from_utf8(bytes).map_err(|_| SyncmlError::BinaryInXml(e.name.clone()))?;
                out.push_str(&quick_xml::escape::escape(text));
            }
        }
    }
    out.push_str("</");
    out.push_str(&e.name);
    out.push('>');
    Ok(())
}

fn push_xmlns(out: &mut String, ns: &str) {
    out.push_str(" xmlns=\"");
    out.push_str(ns);
    out.push('"');
}

/// Parses XML into a tree, ignoring namespaces, comments and processing
/// instructions; refuses nesting deeper than [`MAX_DEPTH`]. A document type
/// declaration is skipped, never read: no DTD, no entity of its own. Character
/// data is read leniently, as DM servers write it (see [`unescape`]).
pub fn read(bytes: &[u8]) -> Result<Element, SyncmlError> {
    read_into(bytes, &mut Vec::new())
}

/// Parses as far as the bytes allow and returns the root with the children
/// it completed, or `None` when no root element was opened (for reading the
/// header of a message whose body is broken).
pub fn read_partial(bytes: &[u8]) -> Option<Element> {
    let mut stack = Vec::new();
    match read_into(bytes, &mut stack) {
        Ok(root) => Some(root),
        Err(_) => stack.into_iter().next(),
    }
}

/// The parser; `stack` holds the open elements, so a caller can look at what
/// was read before an error.
fn read_into(bytes: &[u8], stack: &mut Vec<Element>) -> Result<Element, SyncmlError> {
    let mut reader = Reader::from_reader(bytes);
    let mut buf = Vec::new();
    loop {
        let event = reader.read_event_into(&mut buf).map_err(|e| xml_err(&reader, e))?;
        match event {
            Event::Start(s) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(SyncmlError::TooDeep);
                }
                stack.push(Element::new(&local_name(s.name().as_ref())));
            }
            Event::Empty(s) => {
                let e = Element::new(&local_name(s.name().as_ref()));
                if let Some(done) = attach(stack, e) {
                    return Ok(done);
                }
            }
            Event::End(_) => {
                let e = stack.pop().ok_or_else(|| SyncmlError::Xml("unbalanced end tag".into()))?;
                if let Some(done) = attach(stack, e) {
                    return Ok(done);
                }
            }
            Event::Text(t) => {
                let raw = reader.decoder().decode(&t).map_err(|e| xml_err(&reader, e))?;
                push_text(stack, unescape(&raw).as_bytes());
            }
            Event::CData(c) => push_text(stack, &c.into_inner()),
            Event::Eof => return Err(SyncmlError::Truncated),
            // Declarations, comments, processing instructions and a DOCTYPE
            // (with its internal subset) are skipped unread.
            _ => {}
        }
        buf.clear();
    }
}

/// Character data as DM servers write it. The five predefined entity
/// references (`&lt;` `&gt;` `&amp;` `&apos;` `&quot;`) and character
/// references (`&#38;`, `&#x26;`) are replaced; any other `&` is text: a bare
/// `&` (`MAXDT=15&DR=1`, which servers send unescaped) and references to
/// entities we do not know (`&co;`, no DTD ever defines one here) stay as
/// they are, so nothing is ever expanded from outside the message.
pub fn unescape(raw: &str) -> Cow<'_, str> {
    if !raw.contains('&') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match reference(rest) {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The character a reference at the start of `s` (which starts with `&`)
/// stands for, and its length; `None` when it is not one we read.
fn reference(s: &str) -> Option<(char, usize)> {
    // The longest we read is `&#x10FFFF;` (10 bytes); look a little further.
    let end = s.char_indices().take(12).find(|&(_, c)| c == ';').map(|(i, _)| i)?;
    let name = &s[1..end];
    let c = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => {
            let code = match name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    u32::from_str_radix(hex, 16).ok()?
                }
                Some(_) => return None,
                None => {
                    let dec = name.strip_prefix('#')?;
                    if dec.is_empty() || !dec.bytes().all(|b| b.is_ascii_digit()) {
                        return None;
                    }
                    dec.parse().ok()?
                }
            };
            char::from_u32(code).filter(|c| is_xml_char(*c))?
        }
    };
    Some((c, end + 1))
}

/// XML 1.0 `Char`: what a character reference may stand for.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Adds a finished element to its parent; returns it when it was the root.
fn attach(stack: &mut [Element], e: Element) -> Option<Element> {
    match stack.last_mut() {
        Some(parent) => {
            parent.children.push(Node::Elem(e));
            None
        }
        None => Some(e),
    }
}

fn push_text(stack: &mut [Element], bytes: &[u8]) {
    if let Some(top) = stack.last_mut() {
        if let Some(Node::Data { bytes: prev, .. }) = top.children.last_mut() {
            prev.extend_from_slice(bytes);
        } else {
            top.children.push(Node::Data { bytes: bytes.to_vec(), opaque: false });
        }
    }
}

fn local_name(qname: &[u8]) -> String {
    let s = String::from_utf8_lossy(qname);
    match s.rsplit_once(':') {
        Some((_, local)) => local.to_string(),
        None => s.into_owned(),
    }
}

fn xml_err(reader: &Reader<&[u8]>, e: impl std::fmt::Display) -> SyncmlError {
    SyncmlError::Xml(format!("at byte {}: {e}", reader.buffer_position()))
}
