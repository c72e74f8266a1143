//! OMA download descriptors from the network: the parser and the choice
//! among several (multipart) never panic, and a chosen descriptor names an
//! object to fetch.
#![no_main]

use fotad::download::descriptor::{choose, parse};
use libfuzzer_sys::fuzz_target;

/// Content types the first byte picks from (the rest is the body).
const TYPES: [&str; 5] = [
    "application/vnd.oma.dd+xml",
    "multipart/mixed; boundary=dd-boundary",
    "multipart/related; boundary=\"x y\"; type=application/vnd.oma.dd+xml",
    "multipart/mixed",
    "text/plain",
];

fuzz_target!(|data: &[u8]| {
    let Some((pick, body)) = data.split_first() else { return };
    let content_type = TYPES[usize::from(*pick) % TYPES.len()];
    if let Ok(d) = choose(body, content_type, "de-DE", "http://h/dd") {
        assert!(!d.object_uri.is_empty());
    }
    let _ = parse(body, "http://h/dd");
});
