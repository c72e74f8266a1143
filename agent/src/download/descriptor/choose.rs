//! Choosing the descriptor to use from a PkgURL answer. Supported forms:
//! - one DD document (`application/vnd.oma.dd+xml`);
//! - several, as `multipart/mixed; boundary=…` whose parts are DD documents,
//!   each in one language (its `Content-Language` header or `xml:lang`).
//!
//! The choice: the device's language exactly, then the same primary subtag
//! (`de-AT` ↔ `de`), then English, then the first part.

use super::{parse, Descriptor, DescriptorError};

/// The descriptor for `language` from a descriptor answer of `content_type`.
pub fn choose(body: &[u8], content_type: &str, language: &str, url: &str) -> Result<Descriptor, DescriptorError> {
    let Some(boundary) = boundary(content_type) else {
        return parse(body, url);
    };
    let mut candidates = Vec::new();
    for (headers, part) in parts(body, &boundary) {
        let mut dd = parse(part, url)?;
        if let Some(lang) = header(headers, "content-language") {
            dd.language = Some(lang);
        }
        candidates.push(dd);
    }
    pick(candidates, language).ok_or_else(|| DescriptorError::Invalid {
        url: url.to_string(),
        message: "multipart answer without any descriptor part".into(),
    })
}

fn pick(mut candidates: Vec<Descriptor>, language: &str) -> Option<Descriptor> {
    let primary = |l: &str| l.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
    let lang_of = |d: &Descriptor| d.language.clone().unwrap_or_default();
    let tests: [&dyn Fn(&str) -> bool; 3] =
        [&|l| l.eq_ignore_ascii_case(language), &|l| primary(l) == primary(language), &|l| primary(l) == "en"];
    let index = tests.iter().find_map(|t| candidates.iter().position(|d| t(&lang_of(d))));
    match index {
        Some(i) => Some(candidates.swap_remove(i)),
        None => candidates.into_iter().next(),
    }
}

fn boundary(content_type: &str) -> Option<String> {
    let lower = content_type.to_ascii_lowercase();
    if !lower.trim_start().starts_with("multipart/") {
        return None;
    }
    content_type.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case("boundary").then(|| v.trim().trim_matches('"').to_string())
    })
}

/// The (headers, body) of each part between `--boundary` lines.
fn parts<'a>(body: &'a [u8], boundary: &str) -> Vec<(&'a str, &'a [u8])> {
    let delimiter = format!("--{boundary}");
    let mut out = Vec::new();
    let mut rest = body;
    let mut chunks = Vec::new();
    while let Some(at) = find(rest, delimiter.as_bytes()) {
        chunks.push(&rest[..at]);
        rest = &rest[at + delimiter.len()..];
    }
    for chunk in chunks.into_iter().skip(1) {
        let chunk = chunk.strip_prefix(b"\r\n").or_else(|| chunk.strip_prefix(b"\n")).unwrap_or(chunk);
        let split = find(chunk, b"\r\n\r\n").map(|i| (i, 4)).or_else(|| find(chunk, b"\n\n").map(|i| (i, 2)));
        if let Some((i, n)) = split {
            let headers = std::str::from_utf8(&chunk[..i]).unwrap_or("");
            out.push((headers, &chunk[i + n..]));
        }
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn header(headers: &str, name: &str) -> Option<String> {
    headers.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const MULTI: &str = include_str!("fixtures/multi.txt");
    const TYPE: &str = "multipart/mixed; boundary=\"dd-boundary\"";

    fn description(language: &str) -> String {
        choose(MULTI.as_bytes(), TYPE, language, "u").unwrap().description.unwrap()
    }

    #[test]
    fn the_devices_language_is_chosen_then_its_primary_tag_then_english() {
        assert_eq!(description("de"), "Sicherheitskorrekturen");
        assert_eq!(description("de-AT"), "Sicherheitskorrekturen");
        assert_eq!(description("fr-CA"), "Corrections de sécurité");
        assert_eq!(description("ja"), "Security fixes");
    }

    #[test]
    fn a_single_document_needs_no_multipart() {
        let one = include_str!("fixtures/full.dd");
        let dd = choose(one.as_bytes(), "application/vnd.oma.dd+xml", "de", "u").unwrap();
        assert_eq!(dd.language.as_deref(), Some("en"));
    }

    #[test]
    fn an_empty_multipart_or_a_bad_part_is_invalid() {
        let e = choose(b"--dd-boundary--\r\n", TYPE, "en", "u").unwrap_err();
        assert!(e.to_string().contains("without any descriptor"), "{e}");
        let bad = MULTI.replace("<size>1048576</size>", "");
        assert!(choose(bad.as_bytes(), TYPE, "en", "u").is_err());
    }
}
