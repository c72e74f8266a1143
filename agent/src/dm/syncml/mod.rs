//! SyncML DM messages: the model, the XML and WBXML codecs, and message size
//! accounting against the peer's MaxMsgSize.

mod element;
mod from_tree;
pub mod model;
mod size;
mod to_tree;
mod tokens;
mod wbxml;
mod xml;

pub use element::{Element, Node};
pub use model::*;
pub use size::MessageBudget;

/// MIME type of XML SyncML DM.
pub const MIME_XML: &str = "application/vnd.syncml.dm+xml";
/// MIME type of WBXML SyncML DM.
pub const MIME_WBXML: &str = "application/vnd.syncml.dm+wbxml";

/// Errors of the codecs. Each says which element or byte offset is at fault.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SyncmlError {
    #[error("malformed XML: {0}")]
    Xml(String),
    #[error("malformed WBXML at byte {offset}: {reason}")]
    Wbxml { offset: usize, reason: String },
    #[error("unknown WBXML token 0x{token:02x} on code page {page} at byte {offset}")]
    UnknownToken { page: u8, token: u8, offset: usize },
    #[error("element <{0}> has no WBXML token in the SyncML or MetInf code pages")]
    UnknownElement(String),
    #[error("message is truncated")]
    Truncated,
    #[error("elements nested too deeply")]
    TooDeep,
    #[error("<{element}> missing in <{parent}>")]
    Missing { element: &'static str, parent: &'static str },
    #[error("<{element}> is not a number: {value:?}")]
    BadNumber { element: &'static str, value: String },
    #[error("unknown command <{0}>")]
    UnknownCommand(String),
    #[error("binary data in <{0}> cannot be written as XML")]
    BinaryInXml(String),
    #[error("unsupported content type {0:?}")]
    ContentType(String),
}

/// The two encodings of SyncML DM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Xml,
    Wbxml,
}

impl Codec {
    pub fn mime(self) -> &'static str {
        match self {
            Codec::Xml => MIME_XML,
            Codec::Wbxml => MIME_WBXML,
        }
    }

    /// The codec for a Content-Type header value (parameters ignored).
    pub fn from_content_type(ct: &str) -> Result<Codec, SyncmlError> {
        let base = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match base.as_str() {
            MIME_XML | "application/vnd.syncml+xml" => Ok(Codec::Xml),
            MIME_WBXML | "application/vnd.syncml+wbxml" => Ok(Codec::Wbxml),
            _ => Err(SyncmlError::ContentType(ct.to_string())),
        }
    }

    /// Encodes an element tree.
    pub fn encode_tree(self, root: &Element) -> Result<Vec<u8>, SyncmlError> {
        match self {
            Codec::Xml => xml::write(root),
            Codec::Wbxml => wbxml::write(root),
        }
    }

    /// Decodes bytes into an element tree.
    pub fn decode_tree(self, bytes: &[u8]) -> Result<Element, SyncmlError> {
        match self {
            Codec::Xml => xml::read(bytes),
            Codec::Wbxml => wbxml::read(bytes),
        }
    }

    pub fn encode(self, m: &Message) -> Result<Vec<u8>, SyncmlError> {
        self.encode_tree(&to_tree::message(m))
    }

    pub fn decode(self, bytes: &[u8]) -> Result<Message, SyncmlError> {
        from_tree::message(&self.decode_tree(bytes)?)
    }

    /// The header of a message that [`Codec::decode`] refused, when its
    /// `SyncHdr` could be read whole before what is broken; lets the session
    /// answer with a Status on it.
    pub fn decode_header(self, bytes: &[u8]) -> Option<SyncHdr> {
        let root = match self {
            Codec::Xml => xml::read_partial(bytes),
            Codec::Wbxml => wbxml::read_partial(bytes),
        }?;
        from_tree::header(&root)
    }

    /// Encoded size of one command inside a body.
    pub fn command_size(self, c: &Command) -> Result<usize, SyncmlError> {
        let tree = to_tree::command(c);
        match self {
            Codec::Xml => {
                let mut s = String::new();
                xml::write_element(&mut s, &tree, Some(0))?;
                Ok(s.len())
            }
            Codec::Wbxml => {
                let mut out = Vec::new();
                let mut page = 0;
                wbxml::write_element(&mut out, &tree, &mut page)?;
                // A command may end on the MetInf page: one switch back.
                Ok(out.len() + 2)
            }
        }
    }
}

#[cfg(test)]
mod tests;
