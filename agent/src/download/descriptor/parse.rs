//! Parsing one DD 1.x document into a [`Descriptor`], checking the root, the
//! namespace, the mandatory elements, the version and the object type.

use quick_xml::events::Event;
use quick_xml::Reader;

use super::{Descriptor, DescriptorError, ACCEPTED_TYPES, DD_NAMESPACE};

/// Parses `xml` (fetched from `url`, already redacted) into a usable descriptor.
pub fn parse(xml: &[u8], url: &str) -> Result<Descriptor, DescriptorError> {
    let invalid = |message: String| DescriptorError::Invalid { url: url.to_string(), message };
    let mut reader = Reader::from_reader(xml);
    reader.config_mut().trim_text(true);
    let mut dd = Descriptor::default();
    let (mut size, mut depth, mut field) = (None, 0usize, String::new());
    loop {
        match reader.read_event().map_err(|e| invalid(format!("XML: {e}")))? {
            Event::Start(e) => {
                depth += 1;
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if depth == 1 {
                    root(&e, &name, &mut dd).map_err(invalid)?;
                }
                field = name;
            }
            Event::Empty(e) if depth == 0 => {
                root(&e, &String::from_utf8_lossy(e.local_name().as_ref()), &mut dd).map_err(invalid)?;
            }
            Event::Text(t) if depth == 2 => {
                let text = t.unescape().map_err(|e| invalid(format!("XML: {e}")))?.trim().to_string();
                set(&mut dd, &mut size, &field, text).map_err(invalid)?;
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Eof => break,
            _ => {}
        }
    }
    dd.size = size.ok_or_else(|| invalid("<size> is missing".into()))?;
    check(dd, url)
}

/// Checks the root element and its namespace, and takes its `xml:lang`.
fn root(e: &quick_xml::events::BytesStart<'_>, name: &str, dd: &mut Descriptor) -> Result<(), String> {
    if name != "media" {
        return Err(format!("root element is <{name}>, expected <media>"));
    }
    let mut ns = None;
    for attr in e.attributes().flatten() {
        let value = String::from_utf8_lossy(&attr.value).into_owned();
        match attr.key.as_ref() {
            b"xmlns" => ns = Some(value),
            b"xml:lang" => dd.language = Some(value),
            _ => {}
        }
    }
    match ns.as_deref() {
        Some(DD_NAMESPACE) => Ok(()),
        other => Err(format!("<media> namespace is {other:?}, expected {DD_NAMESPACE}")),
    }
}

fn set(dd: &mut Descriptor, size: &mut Option<u64>, field: &str, text: String) -> Result<(), String> {
    match field {
        "type" => dd.types.push(text),
        "size" => *size = Some(text.parse().map_err(|_| format!("<size> {text:?} is not a byte count"))?),
        "objectURI" => dd.object_uri = text,
        "installNotifyURI" => dd.install_notify_uri = Some(text),
        "name" => dd.name = Some(text),
        "description" => dd.description = Some(text),
        "vendor" => dd.vendor = Some(text),
        "DDVersion" => dd.dd_version = Some(text),
        _ => {}
    }
    Ok(())
}

fn check(dd: Descriptor, url: &str) -> Result<Descriptor, DescriptorError> {
    let url = url.to_string();
    if dd.object_uri.is_empty() {
        return Err(DescriptorError::Invalid { url, message: "<objectURI> is missing".into() });
    }
    if dd.types.is_empty() {
        return Err(DescriptorError::Invalid { url, message: "<type> is missing".into() });
    }
    if let Some(v) = dd.dd_version.as_deref().filter(|v| !v.starts_with("1.") && *v != "1") {
        return Err(DescriptorError::Version { url, version: v.to_string() });
    }
    if !dd.types.iter().any(|t| ACCEPTED_TYPES.contains(&t.to_ascii_lowercase().as_str())) {
        return Err(DescriptorError::Type { url, types: dd.types });
    }
    Ok(dd)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const FULL: &str = include_str!("fixtures/full.dd");

    fn with(element: &str, replacement: &str) -> String {
        let start = FULL.find(&format!("<{element}>")).unwrap();
        let end = FULL.find(&format!("</{element}>")).unwrap() + element.len() + 3;
        format!("{}{replacement}{}", &FULL[..start], &FULL[end..])
    }

    #[test]
    fn a_complete_descriptor_gives_every_field() {
        let dd = parse(FULL.as_bytes(), "http://h/dd").unwrap();
        assert_eq!(dd.object_uri, "http://packages.example.com/gw-1/2.0.0.fota?token=abc");
        assert_eq!(dd.size, 1_048_576);
        assert_eq!(dd.types, ["application/vnd.fotad.package"]);
        assert_eq!(dd.install_notify_uri.as_deref(), Some("http://packages.example.com/notify?id=7"));
        assert_eq!(dd.name.as_deref(), Some("Gateway 2.0.0"));
        assert_eq!(dd.description.as_deref(), Some("Security fixes & faster boot"));
        assert_eq!(dd.vendor.as_deref(), Some("ACME"));
        assert_eq!(dd.dd_version.as_deref(), Some("1.0"));
        assert_eq!(dd.language.as_deref(), Some("en"));
    }

    #[test]
    fn missing_mandatory_elements_are_invalid() {
        for element in ["size", "objectURI", "type"] {
            let e = parse(with(element, "").as_bytes(), "http://h/dd").unwrap_err();
            assert!(matches!(e, DescriptorError::Invalid { .. }), "{element}: {e}");
            assert!(e.to_string().contains(element), "{e}");
        }
        let e = parse(with("size", "<size>big</size>").as_bytes(), "u").unwrap_err();
        assert!(matches!(e, DescriptorError::Invalid { .. }));
    }

    #[test]
    fn wrong_root_namespace_version_or_type_are_refused() {
        let e = parse(FULL.replace("xmlns/dd", "xmlns/other").as_bytes(), "u").unwrap_err();
        assert!(matches!(e, DescriptorError::Invalid { .. }), "{e}");
        let e = parse(b"<html/>", "u").unwrap_err();
        assert!(e.to_string().contains("<html>"), "{e}");
        let e = parse(with("DDVersion", "<DDVersion>2.0</DDVersion>").as_bytes(), "u").unwrap_err();
        assert!(matches!(e, DescriptorError::Version { .. }), "{e}");
        let e = parse(with("type", "<type>image/png</type>").as_bytes(), "u").unwrap_err();
        assert!(matches!(e, DescriptorError::Type { .. }), "{e}");
        assert!(parse(b"<media", "u").is_err());
    }
}
