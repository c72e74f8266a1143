//! Fuzzes the package reader: header, signatures, manifest JSON and its
//! validation, and (for inputs that parse) the operation executor over the
//! payload. Any input must give a value or an error, never a panic or an
//! unbounded allocation.
#![no_main]

use fotad_updater::ops::Executor;
use fotad_updater::package::read_raw_header;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = data;
    let Ok(raw) = read_raw_header(&mut input) else { return };
    let Ok(header) = raw.parse() else { return };
    let Ok(mut exec) = Executor::new() else { return };
    let mut out = Vec::new();
    let payload = input;
    for image in &header.manifest.images {
        for op in &image.operations {
            let start = op.data_offset as usize;
            let Some(blob) = payload.get(start..start.saturating_add(op.data_length as usize)) else { return };
            // No source image: delta operations must fail cleanly.
            let _ = exec.run(op, blob, None, &mut out);
        }
    }
});
