//! Fuzzes the package reader: header, signatures, manifest JSON and its
//! validation, and (for inputs that parse) the operation executor over the
//! payload, with each image's output kept (up to 16 MiB) so that format-2
//! operations get their prefix from what the operations before wrote. Any
//! input must give a value or an error, never a panic or an unbounded
//! allocation.
#![no_main]

use fotad_updater::ops::Executor;
use fotad_updater::package::read_raw_header;
use libfuzzer_sys::fuzz_target;

const MAX_IMAGE: u64 = 16 << 20;

fuzz_target!(|data: &[u8]| {
    let mut input = data;
    let Ok(raw) = read_raw_header(&mut input) else { return };
    let Ok(header) = raw.parse() else { return };
    let Ok(mut exec) = Executor::new() else { return };
    let mut out = Vec::new();
    let payload = input;
    for image in &header.manifest.images {
        // The target as written so far (only for images small enough to hold).
        let mut target = (image.target.size <= MAX_IMAGE).then(|| vec![0u8; image.target.size as usize]);
        for op in &image.operations {
            let start = op.data_offset as usize;
            let Some(blob) = payload.get(start..start.saturating_add(op.data_length as usize)) else { return };
            let prefix = match (op.prefix, &target) {
                (None, _) => &[][..],
                (Some(e), Some(t)) => t.get(e.offset as usize..e.end() as usize).unwrap_or_default(),
                (Some(_), None) => continue,
            };
            // No source image: delta operations must fail cleanly.
            if exec.run_with_prefix(op, blob, None, prefix, &mut out).is_ok() {
                if let Some(t) = target.as_mut() {
                    if let Some(dst) = t.get_mut(op.dst.offset as usize..op.dst.end() as usize) {
                        dst.copy_from_slice(&out);
                    }
                }
            }
        }
    }
});
