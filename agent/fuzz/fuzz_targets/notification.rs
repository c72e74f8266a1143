//! The package #0 parser never panics, and a parsed notification's digest
//! check is a plain yes/no.
#![no_main]

use fotad::dm::notification::Notification;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(n) = Notification::parse(data) {
        let _ = n.verify(&n.server_id, "secret", b"nonce");
        let _ = n.session_id_hex();
        assert_eq!(n.trigger.len() + 16, data.len());
    }
});
