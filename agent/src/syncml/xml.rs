//! XML codec (`application/vnd.syncml.dm+xml`) between bytes and element trees.

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
/// instructions; refuses nesting deeper than [`MAX_DEPTH`].
pub fn read(bytes: &[u8]) -> Result<Element, SyncmlError> {
    let mut reader = Reader::from_reader(bytes);
    let mut stack: Vec<Element> = Vec::new();
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
                if let Some(done) = attach(&mut stack, e) {
                    return Ok(done);
                }
            }
            Event::End(_) => {
                let e = stack.pop().ok_or_else(|| SyncmlError::Xml("unbalanced end tag".into()))?;
                if let Some(done) = attach(&mut stack, e) {
                    return Ok(done);
                }
            }
            Event::Text(t) => {
                let text = t.unescape().map_err(|e| xml_err(&reader, e))?;
                push_text(&mut stack, text.as_bytes());
            }
            Event::CData(c) => push_text(&mut stack, &c.into_inner()),
            Event::Eof => return Err(SyncmlError::Truncated),
            _ => {}
        }
        buf.clear();
    }
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
