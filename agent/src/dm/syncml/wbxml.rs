//! WBXML codec (`application/vnd.syncml.dm+wbxml`) between bytes and element
//! trees: WBXML 1.2 with the SyncML 1.2 and MetInf code pages. The decoder does
//! not look at the public id (real messages carry SyncML 1.1's id with VerDTD
//! 1.2); it accepts inline strings, string-table references and opaque data.

use super::element::{Element, Node, MAX_DEPTH};
use super::tokens;
use super::SyncmlError;

const SWITCH_PAGE: u8 = 0x00;
const END: u8 = 0x01;
const ENTITY: u8 = 0x02;
const STR_I: u8 = 0x03;
const STR_T: u8 = 0x83;
const OPAQUE: u8 = 0xC3;
const HAS_CONTENT: u8 = 0x40;
const HAS_ATTRS: u8 = 0x80;
/// WBXML version 1.2.
const VERSION: u8 = 0x02;
/// `-//SYNCML//DTD SyncML 1.2//EN`.
pub const PUBLIC_ID_SYNCML12: u32 = 0x1201;
const UTF8_MIB: u32 = 106;

/// Encodes a tree as WBXML.
pub fn write(root: &Element) -> Result<Vec<u8>, SyncmlError> {
    let mut out = vec![VERSION];
    put_mb(&mut out, PUBLIC_ID_SYNCML12);
    put_mb(&mut out, UTF8_MIB);
    put_mb(&mut out, 0); // empty string table
    let mut page = 0u8;
    write_element(&mut out, root, &mut page)?;
    Ok(out)
}

/// Encodes one element (page state carried by the caller).
pub fn write_element(out: &mut Vec<u8>, e: &Element, page: &mut u8) -> Result<(), SyncmlError> {
    let (p, tok) = tokens::token(&e.name).ok_or_else(|| SyncmlError::UnknownElement(e.name.clone()))?;
    if p != *page {
        out.extend_from_slice(&[SWITCH_PAGE, p]);
        *page = p;
    }
    if e.children.is_empty() {
        out.push(tok);
        return Ok(());
    }
    out.push(tok | HAS_CONTENT);
    for c in &e.children {
        match c {
            Node::Elem(child) => write_element(out, child, page)?,
            Node::Data { bytes, opaque } => put_data(out, bytes, *opaque),
        }
    }
    out.push(END);
    Ok(())
}

fn put_data(out: &mut Vec<u8>, bytes: &[u8], opaque: bool) {
    if opaque || bytes.contains(&0) {
        out.push(OPAQUE);
        put_mb(out, bytes.len() as u32);
        out.extend_from_slice(bytes);
    } else {
        out.push(STR_I);
        out.extend_from_slice(bytes);
        out.push(0);
    }
}

fn put_mb(out: &mut Vec<u8>, mut v: u32) {
    let mut tmp = [0u8; 5];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = (v & 0x7F) as u8 | if i == tmp.len() - 1 { 0 } else { 0x80 };
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

/// Decodes WBXML into a tree.
pub fn read(bytes: &[u8]) -> Result<Element, SyncmlError> {
    let mut d = Decoder { bytes, pos: 0, page: 0, strtbl: &[] };
    d.header()?;
    let tok = d.byte()?;
    d.element(tok, 0)
}

/// Decodes as far as the bytes allow and returns the root with the children
/// it completed, or `None` when not even the root's tag could be read (for
/// reading the header of a message whose body is broken).
pub fn read_partial(bytes: &[u8]) -> Option<Element> {
    let mut d = Decoder { bytes, pos: 0, page: 0, strtbl: &[] };
    d.header().ok()?;
    let tok = d.byte().ok()?;
    let (mut root, content) = d.open(tok, 0).ok()?;
    if content {
        let _ = d.content(&mut root, 0);
    }
    Some(root)
}

struct Decoder<'a> {
    bytes: &'a [u8],
    pos: usize,
    page: u8,
    strtbl: &'a [u8],
}

impl<'a> Decoder<'a> {
    fn header(&mut self) -> Result<(), SyncmlError> {
        let _version = self.byte()?;
        if self.mb()? == 0 {
            let _public_id_index = self.mb()?;
        }
        let charset = self.mb()?;
        if charset != UTF8_MIB && charset != 0 && charset != 3 && charset != 4 {
            return Err(self.err("unsupported charset (need UTF-8)"));
        }
        let len = self.mb()? as usize;
        self.strtbl = self.take(len)?;
        Ok(())
    }

    fn element(&mut self, tok: u8, depth: usize) -> Result<Element, SyncmlError> {
        let (mut e, content) = self.open(tok, depth)?;
        if content {
            self.content(&mut e, depth)?;
        }
        Ok(e)
    }

    /// Reads an element's tag: the element, and whether content follows.
    fn open(&mut self, mut tok: u8, depth: usize) -> Result<(Element, bool), SyncmlError> {
        while tok == SWITCH_PAGE {
            self.page = self.byte()?;
            tok = self.byte()?;
        }
        if depth >= MAX_DEPTH {
            return Err(SyncmlError::TooDeep);
        }
        if tok & HAS_ATTRS != 0 {
            return Err(self.err("attributes are not used in SyncML"));
        }
        let name = tokens::name(self.page, tok & 0x3F).ok_or(SyncmlError::UnknownToken {
            page: self.page,
            token: tok,
            offset: self.pos - 1,
        })?;
        Ok((Element::new(name), tok & HAS_CONTENT != 0))
    }

    /// Reads an element's content up to its END into `e`; children are added
    /// as they are completed.
    fn content(&mut self, e: &mut Element, depth: usize) -> Result<(), SyncmlError> {
        loop {
            let t = self.byte()?;
            match t {
                END => return Ok(()),
                STR_I => {
                    let s = self.cstr()?;
                    push_data(e, s, false);
                }
                STR_T => {
                    let off = self.mb()? as usize;
                    let s = self.table_str(off)?;
                    push_data(e, s, false);
                }
                OPAQUE => {
                    let len = self.mb()? as usize;
                    let s = self.take(len)?;
                    push_data(e, s, true);
                }
                ENTITY => {
                    let cp = self.mb()?;
                    let c = char::from_u32(cp).ok_or_else(|| self.err("bad entity"))?;
                    push_data(e, c.to_string().as_bytes(), false);
                }
                _ => {
                    let child = self.element(t, depth + 1)?;
                    e.children.push(Node::Elem(child));
                }
            }
        }
    }

    fn byte(&mut self) -> Result<u8, SyncmlError> {
        let b = *self.bytes.get(self.pos).ok_or(SyncmlError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], SyncmlError> {
        let end = self.pos.checked_add(len).ok_or(SyncmlError::Truncated)?;
        let s = self.bytes.get(self.pos..end).ok_or(SyncmlError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn mb(&mut self) -> Result<u32, SyncmlError> {
        let mut v: u32 = 0;
        for _ in 0..5 {
            let b = self.byte()?;
            v = (v << 7) | u32::from(b & 0x7F);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.err("multi-byte integer too long"))
    }

    fn cstr(&mut self) -> Result<&'a [u8], SyncmlError> {
        let rest = &self.bytes[self.pos..];
        let n = rest.iter().position(|&b| b == 0).ok_or(SyncmlError::Truncated)?;
        self.pos += n + 1;
        Ok(&rest[..n])
    }

    fn table_str(&self, off: usize) -> Result<&'a [u8], SyncmlError> {
        let rest = self.strtbl.get(off..).ok_or_else(|| self.err("string table offset out of range"))?;
        let n = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        Ok(&rest[..n])
    }

    fn err(&self, reason: &str) -> SyncmlError {
        SyncmlError::Wbxml { offset: self.pos, reason: reason.to_string() }
    }
}

fn push_data(e: &mut Element, bytes: &[u8], opaque: bool) {
    if let Some(Node::Data { bytes: prev, opaque: o }) = e.children.last_mut() {
        prev.extend_from_slice(bytes);
        *o |= opaque;
    } else {
        e.children.push(Node::Data { bytes: bytes.to_vec(), opaque });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn multibyte_integers_round_trip() {
        for v in [0u32, 1, 127, 128, 0x1201, 300_000, u32::MAX] {
            let mut out = Vec::new();
            put_mb(&mut out, v);
            let mut d = Decoder { bytes: &out, pos: 0, page: 0, strtbl: &[] };
            assert_eq!(d.mb().unwrap(), v);
            assert_eq!(d.pos, out.len());
        }
        let mut out = Vec::new();
        put_mb(&mut out, 0x1201);
        assert_eq!(out, [0xA4, 0x01]);
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        let mut root = Element::new("SyncML");
        root.push_text("VerDTD", "1.2");
        let full = write(&root).unwrap();
        for n in 0..full.len() {
            assert!(read(&full[..n]).is_err(), "prefix of {n} bytes accepted");
        }
        assert_eq!(read(&full).unwrap(), root);
    }
}
