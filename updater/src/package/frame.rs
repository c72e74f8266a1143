//! zstd frames compressed against a raw prefix: the bytes of the target image
//! right before an operation's destination (format 2 `replace` operations).
//! The frame carries its content checksum, so a prefix that differs from the
//! one the packer used (a target altered under the installer) is caught at
//! this operation, not only by the final read-back.

use std::io;

use zstd::zstd_safe::{self, CCtx, CParameter, DCtx};

/// Largest window a prefixed frame may need: prefix plus output.
const MAX_WINDOW_LOG: u32 = 26;

fn zstd_err(code: usize) -> io::Error {
    io::Error::other(zstd_safe::get_error_name(code))
}

/// The window log that covers `len` bytes.
fn window_log(len: usize) -> u32 {
    (usize::BITS - len.saturating_sub(1).leading_zeros()).clamp(10, MAX_WINDOW_LOG)
}

/// Compresses `data` at `level` with `prefix` as a raw prefix.
pub fn compress_with_prefix(data: &[u8], prefix: &[u8], level: i32) -> io::Result<Vec<u8>> {
    let mut cctx = CCtx::create();
    cctx.set_parameter(CParameter::CompressionLevel(level)).map_err(zstd_err)?;
    cctx.set_parameter(CParameter::WindowLog(window_log(prefix.len() + data.len()))).map_err(zstd_err)?;
    cctx.set_parameter(CParameter::ChecksumFlag(true)).map_err(zstd_err)?;
    cctx.set_pledged_src_size(Some(data.len() as u64)).map_err(zstd_err)?;
    cctx.ref_prefix(prefix).map_err(zstd_err)?;
    let mut out = Vec::with_capacity(zstd_safe::compress_bound(data.len()));
    cctx.compress2(&mut out, data).map_err(zstd_err)?;
    Ok(out)
}

/// Decompresses a frame made by [`compress_with_prefix`] into `out`, which it
/// must fill exactly. The frame is whole in memory, so it is decoded in one
/// pass straight into `out` (no window buffer, no copy out of one).
pub fn decompress_with_prefix(frame: &[u8], prefix: &[u8], out: &mut [u8]) -> io::Result<()> {
    // One frame and nothing after it (a one-pass decode would go on into a
    // second frame); a cut frame fails here.
    let size = zstd_safe::find_frame_compressed_size(frame).map_err(zstd_err)?;
    if size != frame.len() {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "bytes after the frame"));
    }
    let mut dctx = DCtx::create();
    dctx.ref_prefix(prefix).map_err(zstd_err)?;
    // A frame larger than `out` fails here ("destination buffer too small").
    let n = dctx.decompress(out, frame).map_err(zstd_err)?;
    if n != out.len() {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "frame smaller than its operation"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn text(n: usize, seed: u64) -> Vec<u8> {
        crate::test_bytes::xorshift_bytes(n, seed, |x| b'a' + (x >> 59) as u8)
    }

    #[test]
    fn a_prefix_is_used_and_needed() {
        let prefix = text(1 << 20, 1);
        let mut data = prefix[1000..300_000].to_vec();
        data.extend(text(1000, 2));
        let frame = compress_with_prefix(&data, &prefix, 9).unwrap();
        assert!(frame.len() < 2000, "{} bytes", frame.len());
        let mut out = vec![0u8; data.len()];
        decompress_with_prefix(&frame, &prefix, &mut out).unwrap();
        assert!(out == data);
        let mut other = prefix.clone();
        other[5000] ^= 1;
        assert!(decompress_with_prefix(&frame, &other, &mut out).is_err(), "checksum not checked");
        assert!(decompress_with_prefix(&frame, &prefix, &mut out[1..]).is_err(), "output larger than its room");
        let mut larger = vec![0u8; data.len() + 1];
        assert!(decompress_with_prefix(&frame, &prefix, &mut larger).is_err(), "output smaller than its room");
        assert!(decompress_with_prefix(&frame[..frame.len() - 1], &prefix, &mut out).is_err());
        let mut two = frame.clone();
        two.extend_from_slice(&frame);
        let mut out2 = vec![0u8; 2 * data.len()];
        assert!(decompress_with_prefix(&two, &prefix, &mut out2).is_err(), "a second frame");
    }
}
