//! WAP push datagrams from the network (the UDP notification listener): the
//! WSP decoder never panics, and what it hands on lies inside the datagram.
#![no_main]

use fotad::dm::wap_push::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(push) = parse(data) {
        assert!(push.body.len() <= data.len());
    }
});
