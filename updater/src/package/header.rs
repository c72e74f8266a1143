//! Byte layout of the package header: magic, version, manifest, signatures.

use std::io::{self, Read, Write};

use super::{Manifest, PackageError, FORMAT_VERSION, MIN_FORMAT_VERSION};

/// First eight bytes of every package (PNG-style: catches text-mode transfers).
pub const MAGIC: [u8; 8] = *b"\x89FOTA\r\n\x1a";
const MAX_MANIFEST: u32 = 16 << 20;
const MAX_SIGNATURES: u16 = 16;
const SIGNATURE_LEN: usize = 64;

/// A parsed header. `raw` keeps its exact bytes so that a resumed install can
/// re-verify it without fetching it again.
#[derive(Debug, Clone)]
pub struct Header {
    pub manifest: Manifest,
    pub manifest_bytes: Vec<u8>,
    /// (key id, Ed25519 signature over `manifest_bytes`)
    pub signatures: Vec<(String, [u8; SIGNATURE_LEN])>,
    pub raw: Vec<u8>,
}

impl Header {
    /// Offset of the payload from the start of the package.
    pub fn payload_offset(&self) -> u64 {
        self.raw.len() as u64
    }

    /// Total package size: header plus payload.
    pub fn package_size(&self) -> u64 {
        self.payload_offset() + self.manifest.payload_size
    }
}

/// The header as read, before the manifest is parsed: check the signatures
/// over `manifest_bytes` first, then [`RawHeader::parse`].
#[derive(Debug, Clone)]
pub struct RawHeader {
    /// The format version in the header; the manifest must say the same.
    pub version: u16,
    pub manifest_bytes: Vec<u8>,
    /// (key id, Ed25519 signature over `manifest_bytes`)
    pub signatures: Vec<(String, [u8; SIGNATURE_LEN])>,
    pub raw: Vec<u8>,
}

impl RawHeader {
    /// Parses and validates the manifest.
    pub fn parse(self) -> Result<Header, PackageError> {
        let manifest: Manifest =
            serde_json::from_slice(&self.manifest_bytes).map_err(|e| PackageError::BadManifest(e.to_string()))?;
        if manifest.format != self.version {
            return Err(PackageError::BadManifest(format!(
                "format {} in a version {} header",
                manifest.format, self.version
            )));
        }
        manifest.validate()?;
        Ok(Header { manifest, manifest_bytes: self.manifest_bytes, signatures: self.signatures, raw: self.raw })
    }
}

/// Reads and parses a header without checking its signatures (for tools
/// that only show a package; installs use [`read_raw_header`] and verify first).
pub fn read_header<R: Read>(reader: &mut R) -> Result<Header, PackageError> {
    read_raw_header(reader)?.parse()
}

/// Reads the header bytes from the start of a package stream.
pub fn read_raw_header<R: Read>(reader: &mut R) -> Result<RawHeader, PackageError> {
    let mut raw = Vec::with_capacity(4096);
    let mut fixed = [0u8; 16];
    read_part(reader, &mut fixed, "header")?;
    raw.extend_from_slice(&fixed);
    if fixed[..8] != MAGIC {
        return Err(PackageError::BadMagic);
    }
    let version = u16::from_be_bytes([fixed[8], fixed[9]]);
    if !(MIN_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(PackageError::UnsupportedVersion(version));
    }
    let manifest_len = u32::from_be_bytes([fixed[12], fixed[13], fixed[14], fixed[15]]);
    if manifest_len == 0 || manifest_len > MAX_MANIFEST {
        return Err(PackageError::BadHeader(format!("manifest length {manifest_len}")));
    }
    let mut manifest_bytes = vec![0u8; manifest_len as usize];
    read_part(reader, &mut manifest_bytes, "manifest")?;
    raw.extend_from_slice(&manifest_bytes);
    let signatures = read_signatures(reader, &mut raw)?;
    Ok(RawHeader { version, manifest_bytes, signatures, raw })
}

fn read_signatures<R: Read>(
    reader: &mut R,
    raw: &mut Vec<u8>,
) -> Result<Vec<(String, [u8; SIGNATURE_LEN])>, PackageError> {
    let mut count = [0u8; 2];
    read_part(reader, &mut count, "signatures")?;
    raw.extend_from_slice(&count);
    let count = u16::from_be_bytes(count);
    if count == 0 || count > MAX_SIGNATURES {
        return Err(PackageError::BadHeader(format!("{count} signatures")));
    }
    let mut signatures = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let mut len = [0u8; 1];
        read_part(reader, &mut len, "signatures")?;
        let mut id = vec![0u8; len[0] as usize];
        read_part(reader, &mut id, "signatures")?;
        let mut sig = [0u8; SIGNATURE_LEN];
        read_part(reader, &mut sig, "signatures")?;
        raw.push(len[0]);
        raw.extend_from_slice(&id);
        raw.extend_from_slice(&sig);
        let id = String::from_utf8(id).map_err(|_| PackageError::BadHeader("key id is not UTF-8".into()))?;
        signatures.push((id, sig));
    }
    Ok(signatures)
}

fn read_part<R: Read>(reader: &mut R, buf: &mut [u8], part: &'static str) -> Result<(), PackageError> {
    reader.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => PackageError::Truncated(part),
        _ => PackageError::Io { what: format!("the package {part}"), source: e },
    })
}

/// Writes a header: the format version (the manifest's `format`), the
/// caller's exact manifest bytes and their signatures.
pub fn write_header<W: Write>(
    out: &mut W,
    version: u16,
    manifest_bytes: &[u8],
    signatures: &[(String, [u8; SIGNATURE_LEN])],
) -> io::Result<u64> {
    let len = u32::try_from(manifest_bytes.len())
        .ok()
        .filter(|l| *l <= MAX_MANIFEST)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "manifest too large"))?;
    let mut head = Vec::with_capacity(16 + manifest_bytes.len() + 80 * signatures.len());
    head.extend_from_slice(&MAGIC);
    head.extend_from_slice(&version.to_be_bytes());
    head.extend_from_slice(&0u16.to_be_bytes());
    head.extend_from_slice(&len.to_be_bytes());
    head.extend_from_slice(manifest_bytes);
    head.extend_from_slice(&(signatures.len() as u16).to_be_bytes());
    for (id, sig) in signatures {
        let id_len =
            u8::try_from(id.len()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "key id too long"))?;
        head.push(id_len);
        head.extend_from_slice(id.as_bytes());
        head.extend_from_slice(sig);
    }
    out.write_all(&head)?;
    Ok(head.len() as u64)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn header_round_trips_and_truncation_is_reported_per_part() {
        let manifest = br#"{"k":1}"#;
        let sigs = vec![("abcd".to_string(), [7u8; 64]), ("ef".to_string(), [9u8; 64])];
        let mut bytes = Vec::new();
        let len = write_header(&mut bytes, 1, manifest, &sigs).unwrap();
        assert_eq!(len as usize, bytes.len());
        let raw = read_raw_header(&mut bytes.as_slice()).unwrap();
        assert_eq!(raw.manifest_bytes, manifest);
        assert_eq!(raw.signatures, sigs);
        assert_eq!(raw.raw, bytes);
        for (cut, part) in [(5, "header"), (20, "manifest"), (bytes.len() - 1, "signatures")] {
            match read_raw_header(&mut &bytes[..cut]) {
                Err(PackageError::Truncated(p)) => assert_eq!(p, part, "cut at {cut}"),
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
    }

    #[test]
    fn wrong_magic_and_version_are_refused() {
        let mut bytes = Vec::new();
        write_header(&mut bytes, 2, b"{}", &[("a".into(), [0; 64])]).unwrap();
        assert_eq!(read_raw_header(&mut bytes.as_slice()).unwrap().version, 2);
        let mut other = bytes.clone();
        other[1] = b'X';
        assert!(matches!(read_raw_header(&mut other.as_slice()), Err(PackageError::BadMagic)));
        let mut other = bytes.clone();
        other[9] = 3;
        assert!(matches!(read_raw_header(&mut other.as_slice()), Err(PackageError::UnsupportedVersion(3))));
    }
}
