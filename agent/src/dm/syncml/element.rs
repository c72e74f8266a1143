//! A small generic element tree shared by the XML and WBXML codecs, so that the
//! mapping between SyncML elements and the message model exists once.

/// Deepest element nesting accepted from a peer (SyncML DM needs about 10).
pub const MAX_DEPTH: usize = 40;

/// An element: name and children.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    pub name: String,
    pub children: Vec<Node>,
}

/// A child of an element: another element or character data. `opaque` marks
/// WBXML opaque data (raw bytes); text is UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Elem(Element),
    Data { bytes: Vec<u8>, opaque: bool },
}

impl Element {
    pub fn new(name: &str) -> Self {
        Element { name: name.to_string(), children: Vec::new() }
    }

    /// Appends an empty child element (`<Final/>`, `<NoResp/>`, ...).
    pub fn push_empty(&mut self, name: &str) {
        self.children.push(Node::Elem(Element::new(name)));
    }

    pub fn push(&mut self, child: Element) {
        self.children.push(Node::Elem(child));
    }

    /// Appends `<name>text</name>`.
    pub fn push_text(&mut self, name: &str, text: &str) {
        self.push_bytes(name, text.as_bytes());
    }

    /// Appends `<name>bytes</name>`; bytes that are not UTF-8 text become opaque.
    pub fn push_bytes(&mut self, name: &str, bytes: &[u8]) {
        let mut e = Element::new(name);
        let opaque = std::str::from_utf8(bytes).is_err() || bytes.contains(&0);
        e.children.push(Node::Data { bytes: bytes.to_vec(), opaque });
        self.push(e);
    }

    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|c| match c {
            Node::Elem(e) => Some(e),
            Node::Data { .. } => None,
        })
    }

    pub fn child(&self, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.elements().filter(move |e| e.name == name)
    }

    pub fn has(&self, name: &str) -> bool {
        self.child(name).is_some()
    }

    /// The concatenated character data directly inside this element.
    pub fn data(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for c in &self.children {
            if let Node::Data { bytes, .. } = c {
                out.extend_from_slice(bytes);
            }
        }
        out
    }

    /// True when any direct character data was opaque.
    pub fn data_is_opaque(&self) -> bool {
        self.children.iter().any(|c| matches!(c, Node::Data { opaque: true, .. }))
    }

    /// The character data as trimmed text (lossy on invalid UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data()).trim().to_string()
    }

    pub fn child_text(&self, name: &str) -> Option<String> {
        self.child(name).map(Element::text)
    }
}
