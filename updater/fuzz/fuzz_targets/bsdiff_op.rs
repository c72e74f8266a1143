//! Fuzzes the executor of a bsdiff operation with arbitrary patch data over a
//! fixed source: bounded output, errors instead of panics.
#![no_main]

use std::io::Write;

use fotad_updater::ops::Executor;
use fotad_updater::package::{sha256_hex, Extent, OpKind, Operation};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let source: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8).collect();
    let Ok(mut file) = tempfile_in_memory() else { return };
    if file.write_all(&source).is_err() {
        return;
    }
    let Ok(blob) = zstd::bulk::compress(data, 1) else { return };
    let op = Operation {
        kind: OpKind::Bsdiff,
        dst: Extent { offset: 0, length: 4096 },
        src: vec![Extent { offset: 0, length: 4096 }],
        src_sha256: Some(sha256_hex(&source)),
        data_offset: 0,
        data_length: blob.len() as u64,
        data_sha256: Some(sha256_hex(&blob)),
        prefix: None,
    };
    let Ok(mut exec) = Executor::new() else { return };
    let mut out = Vec::new();
    if exec.run(&op, &blob, Some(&file), &mut out).is_ok() {
        assert_eq!(out.len(), 4096);
    }
});

fn tempfile_in_memory() -> std::io::Result<std::fs::File> {
    let path = std::env::temp_dir().join(format!("fotad-fuzz-src-{}", std::process::id()));
    let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path)?;
    let _ = std::fs::remove_file(&path);
    Ok(file)
}
