//! `?list=Struct`, `?list=StructData` and `?list=TNDS` (Tree and Node
//! Description Serialization, XML form).

use super::{GetItem, ListKind, Node, Tree, TreeError, Uri, Value, Who};
use crate::dm::tree::AclCmd;

/// Meta Type of TNDS in XML.
pub const TNDS_XML: &str = "application/vnd.syncml.dmtnds+xml";

impl Tree {
    pub(crate) fn list(&self, who: Who<'_>, uri: &Uri, node: &Node, kind: ListKind) -> Result<Vec<GetItem>, TreeError> {
        match kind {
            ListKind::Struct | ListKind::StructData => {
                let mut out = Vec::new();
                self.walk(who, uri, node, kind == ListKind::StructData, &mut out)?;
                Ok(out)
            }
            ListKind::Tnds => {
                let mut xml = String::from("<MgmtTree xmlns=\"syncml:dmddf1.2\"><VerDTD>1.2</VerDTD>");
                self.tnds_node(who, uri, node, &mut xml)?;
                xml.push_str("</MgmtTree>");
                Ok(vec![GetItem {
                    uri: format!("{}?list=TNDS", uri.path()),
                    format: "xml".into(),
                    type_: TNDS_XML.into(),
                    data: Some(Value::Inline(xml.into_bytes())),
                }])
            }
        }
    }

    /// Depth-first listing of the nodes `who` may Get.
    fn walk(&self, who: Who<'_>, uri: &Uri, node: &Node, data: bool, out: &mut Vec<GetItem>) -> Result<(), TreeError> {
        if self.check(who, AclCmd::Get, &uri.segments).is_err() {
            return Ok(());
        }
        let with_data = data && node.is_leaf() && !node.secret;
        out.push(self.item(uri, node, with_data)?);
        for (name, child) in node.children().into_iter().flatten() {
            self.walk(who, &uri.child(name), child, data, out)?;
        }
        Ok(())
    }

    fn tnds_node(&self, who: Who<'_>, uri: &Uri, node: &Node, xml: &mut String) -> Result<(), TreeError> {
        if self.check(who, AclCmd::Get, &uri.segments).is_err() {
            return Ok(());
        }
        let name = uri.segments.last().map(String::as_str).unwrap_or(".");
        xml.push_str(&format!("<Node><NodeName>{}</NodeName>", esc(name)));
        xml.push_str(&format!(
            "<Path>{}</Path><RTProperties>",
            esc(&uri.parent().map(|p| p.path()).unwrap_or_default())
        ));
        if !node.acl.is_empty() {
            xml.push_str(&format!("<ACL>{}</ACL>", esc(&node.acl.to_string())));
        }
        xml.push_str(&format!("<Format><{}/></Format>", esc(&node.format)));
        if !node.type_.is_empty() {
            let tag = if node.is_leaf() { "MIME" } else { "DDFName" };
            xml.push_str(&format!("<Type><{tag}>{}</{tag}></Type>", esc(&node.type_)));
        }
        xml.push_str("</RTProperties>");
        if node.is_leaf() && !node.secret {
            if let Some(Value::Inline(b)) = self.item(uri, node, true)?.data {
                xml.push_str(&format!("<Value>{}</Value>", esc(&String::from_utf8_lossy(&b))));
            }
        }
        for (n, child) in node.children().into_iter().flatten() {
            self.tnds_node(who, &uri.child(n), child, xml)?;
        }
        xml.push_str("</Node>");
        Ok(())
    }
}

fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}
