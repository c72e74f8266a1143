//! The WBXML SyncML decoder never panics, and what it accepts round-trips
//! through our WBXML encoder unchanged.
#![no_main]

use fotad::dm::syncml::Codec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Codec::Wbxml.decode(data) {
        let bytes = Codec::Wbxml.encode(&m).expect("a decoded message encodes");
        assert_eq!(Codec::Wbxml.decode(&bytes).ok().as_ref(), Some(&m));
    }
});
