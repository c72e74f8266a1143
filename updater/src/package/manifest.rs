//! The signed manifest of a `.fota` package: what it installs, onto which
//! device, and every operation with the hashes that authenticate its data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::PackageError;

/// The newest package format version, written into the header and the
/// manifest of packages that use its features (prefixed `replace` blobs).
pub const FORMAT_VERSION: u16 = 2;
/// The oldest format version readers accept (and writers use when a
/// package needs nothing newer, so older devices can install it).
pub const MIN_FORMAT_VERSION: u16 = 1;
/// Upper bound on one operation's output (and so on the memory an operation
/// needs). The packer uses [`DEFAULT_OP_SIZE`]; readers accept up to this.
pub const MAX_OP_OUTPUT: u64 = 16 << 20;
/// Upper bound on one operation's source data (delta operations read it into memory).
pub const MAX_OP_SOURCE: u64 = 32 << 20;
/// Upper bound on one operation's compressed data blob.
pub const MAX_OP_DATA: u64 = 24 << 20;
/// Upper bound on one operation's prefix (format 2): the target bytes its
/// blob was compressed against, which the installer holds beside the output.
pub const MAX_OP_PREFIX: u64 = 16 << 20;
/// The packer's default operation output size.
pub const DEFAULT_OP_SIZE: u64 = 2 << 20;
/// The packer's default operation output size for full images compressed
/// with prefixes: with a 16 MiB prefix, 8 MiB operations come within 2 % of
/// one zstd stream over the whole image at a third of the packing time of
/// 2 MiB operations (BENCHMARKS.md, issue 13).
pub const DEFAULT_FULL_OP_SIZE: u64 = 8 << 20;
/// Full images compressed with prefixes in operations of at least this size
/// are packed in pairs the installer decodes at once: the second operation
/// of each pair takes as its prefix the bytes before the first, not the first.
pub const PAIRED_OP_MIN: u64 = 1 << 20;

/// A contiguous byte range of a slot image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extent {
    pub offset: u64,
    pub length: u64,
}

impl Extent {
    pub fn end(&self) -> u64 {
        self.offset.saturating_add(self.length)
    }
}

/// What an operation does to produce its destination extent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpKind {
    /// Data blob is zstd-compressed destination bytes.
    Replace,
    /// Destination is the concatenation of the source extents.
    Copy,
    /// Data blob is a zstd-compressed bsdiff patch over the concatenated source extents.
    Bsdiff,
    /// Destination is zero bytes.
    Zero,
}

/// One operation: writes `dst` in the target image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    #[serde(rename = "type")]
    pub kind: OpKind,
    pub dst: Extent,
    /// Source extents in the source (booted) slot image, read in order and concatenated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub src: Vec<Extent>,
    /// SHA-256 of the concatenated source extents (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_sha256: Option<String>,
    /// Offset of this operation's data blob from the start of the payload.
    #[serde(default)]
    pub data_offset: u64,
    #[serde(default)]
    pub data_length: u64,
    /// SHA-256 of the data blob (hex); absent when the blob is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_sha256: Option<String>,
    /// Format 2, `replace` only: the extent of the target image (written by
    /// the operations before this one) that the blob was compressed against
    /// as a raw zstd prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<Extent>,
}

impl Operation {
    /// Whether this operation reads the target image (its prefix).
    pub fn reads_target(&self) -> bool {
        self.prefix.is_some()
    }
}

/// Size and hash of a whole image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageDigest {
    pub size: u64,
    pub sha256: String,
}

/// One slot image (an image class such as `rootfs` or `boot`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    /// Image class: which partition of a slot set this image goes to.
    pub class: String,
    pub target: ImageDigest,
    /// Present for delta images: the source image they apply to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ImageDigest>,
    pub operations: Vec<Operation>,
}

/// The manifest: everything signed about a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u16,
    /// Device model string the package is built for.
    pub compatible: String,
    pub version: String,
    /// Anti-rollback counter: never install a lower one than the installed one.
    pub security_version: u64,
    /// The 16-byte validation string of the SIM operator gate, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_tag: Option<String>,
    /// Language tag (`en`, `de`, `zh-CN`, …) → text shown to the user.
    #[serde(default)]
    pub description: BTreeMap<String, String>,
    pub payload_size: u64,
    pub images: Vec<Image>,
}

impl Manifest {
    /// Checks the structural rules readers rely on: known format, sane
    /// extents and sizes, a payload laid out in operation order without gaps.
    pub fn validate(&self) -> Result<(), PackageError> {
        let bad = |why: String| Err(PackageError::BadManifest(why));
        if !(MIN_FORMAT_VERSION..=FORMAT_VERSION).contains(&self.format) {
            return bad(format!("format {} (this reader knows {MIN_FORMAT_VERSION} to {FORMAT_VERSION})", self.format));
        }
        if self.images.is_empty() {
            return bad("no images".into());
        }
        if let Some(tag) = &self.operator_tag {
            if hex::decode(tag).map(|b| b.len()) != Ok(16) {
                return bad("operator_tag is not 16 bytes of hex".into());
            }
        }
        let mut classes = std::collections::BTreeSet::new();
        let mut next_data = 0u64;
        for image in &self.images {
            if !classes.insert(image.class.as_str()) {
                return bad(format!("image class {:?} appears twice", image.class));
            }
            check_digest(&image.target, &image.class)?;
            if let Some(src) = &image.source {
                check_digest(src, &image.class)?;
            }
            // The end of the part of the target written from its start on by
            // the operations so far: where a prefix may come from.
            let mut written = 0u64;
            for (i, op) in image.operations.iter().enumerate() {
                validate_op(op, image, next_data)
                    .and_then(|()| validate_prefix(op, self.format, written))
                    .map_err(|why| PackageError::BadManifest(format!("{} op {i}: {why}", image.class)))?;
                next_data += op.data_length;
                if op.dst.offset <= written {
                    written = written.max(op.dst.end());
                }
            }
        }
        if next_data != self.payload_size {
            return bad(format!("payload_size {} but operations use {next_data}", self.payload_size));
        }
        Ok(())
    }

    /// Total number of operations over all images.
    pub fn operation_count(&self) -> usize {
        self.images.iter().map(|i| i.operations.len()).sum()
    }

    /// The operator tag as bytes, if the package has one.
    pub fn operator_tag_bytes(&self) -> Option<[u8; 16]> {
        let tag = hex::decode(self.operator_tag.as_deref()?).ok()?;
        tag.try_into().ok()
    }

    /// The description in `lang` (`de-AT` falls back to `de`), else English, else any.
    pub fn description_for(&self, lang: &str) -> Option<&str> {
        let primary = lang.split(['-', '_']).next().unwrap_or(lang);
        [lang, primary, "en"]
            .iter()
            .find_map(|l| self.description.get(*l))
            .or_else(|| self.description.values().next())
            .map(String::as_str)
    }
}

fn check_digest(d: &ImageDigest, class: &str) -> Result<(), PackageError> {
    if d.sha256.len() != 64 || hex::decode(&d.sha256).is_err() {
        return Err(PackageError::BadManifest(format!("{class}: sha256 is not 32 bytes of hex")));
    }
    Ok(())
}

/// A prefix: format 2, `replace` only, bounded, inside what the operations
/// before wrote from the image's start, and apart from the destination.
fn validate_prefix(op: &Operation, format: u16, written: u64) -> Result<(), String> {
    let Some(prefix) = op.prefix else { return Ok(()) };
    if format < 2 {
        return Err("a prefix needs format 2".into());
    }
    if op.kind != OpKind::Replace {
        return Err("only replace operations take a prefix".into());
    }
    if prefix.length == 0 || prefix.length > MAX_OP_PREFIX {
        return Err(format!("prefix length {} outside 1..={MAX_OP_PREFIX}", prefix.length));
    }
    if prefix.end() > written || (prefix.end() > op.dst.offset && prefix.offset < op.dst.end()) {
        return Err("prefix not written by the operations before, or overlapping the destination".into());
    }
    Ok(())
}

fn validate_op(op: &Operation, image: &Image, data_offset: u64) -> Result<(), String> {
    if op.dst.length == 0 || op.dst.length > MAX_OP_OUTPUT {
        return Err(format!("destination length {} outside 1..={MAX_OP_OUTPUT}", op.dst.length));
    }
    if op.dst.end() > image.target.size {
        return Err("destination beyond the image size".into());
    }
    if op.data_offset != data_offset {
        return Err(format!("data at {} but expected at {data_offset}", op.data_offset));
    }
    if op.data_length > MAX_OP_DATA {
        return Err(format!("data length {} over {MAX_OP_DATA}", op.data_length));
    }
    let has_data = matches!(op.kind, OpKind::Replace | OpKind::Bsdiff);
    if has_data != (op.data_length > 0) || has_data != op.data_sha256.is_some() {
        return Err("data blob present where the operation takes none, or missing".into());
    }
    let reads_source = matches!(op.kind, OpKind::Copy | OpKind::Bsdiff);
    if reads_source == op.src.is_empty() || reads_source != op.src_sha256.is_some() {
        return Err("source extents present where the operation reads none, or missing".into());
    }
    if reads_source {
        let source = image.source.as_ref().ok_or("reads a source but the image has none")?;
        let total: u64 = op.src.iter().map(|e| e.length).sum();
        if total > MAX_OP_SOURCE || op.src.iter().any(|e| e.end() > source.size) {
            return Err("source extents too large or beyond the source image".into());
        }
        if op.kind == OpKind::Copy && total != op.dst.length {
            return Err("copy source and destination lengths differ".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn manifest() -> Manifest {
        let sha = "ab".repeat(32);
        let op = |kind, offset, data_offset, data_length| Operation {
            kind,
            dst: Extent { offset, length: 4096 },
            src: Vec::new(),
            src_sha256: None,
            data_offset,
            data_length,
            data_sha256: (data_length > 0).then(|| sha.clone()),
            prefix: None,
        };
        Manifest {
            format: FORMAT_VERSION,
            compatible: "m".into(),
            version: "1".into(),
            security_version: 0,
            operator_tag: None,
            description: BTreeMap::new(),
            payload_size: 300,
            images: vec![Image {
                class: "rootfs".into(),
                target: ImageDigest { size: 8192, sha256: sha.clone() },
                source: None,
                operations: vec![op(OpKind::Replace, 0, 0, 100), op(OpKind::Replace, 4096, 100, 200)],
            }],
        }
    }

    fn invalid(m: &Manifest) -> String {
        match m.validate() {
            Err(PackageError::BadManifest(why)) => why,
            other => panic!("expected BadManifest, got {other:?}"),
        }
    }

    #[test]
    fn a_well_formed_manifest_validates() {
        manifest().validate().unwrap();
    }

    #[test]
    fn payload_gaps_and_reordering_are_refused() {
        let mut m = manifest();
        m.images[0].operations[1].data_offset = 120;
        assert!(invalid(&m).contains("data at 120"));
        let mut m = manifest();
        m.payload_size = 301;
        assert!(invalid(&m).contains("payload_size"));
    }

    #[test]
    fn destination_beyond_the_image_is_refused() {
        let mut m = manifest();
        m.images[0].operations[1].dst.offset = 8000;
        assert!(invalid(&m).contains("beyond the image"));
    }

    #[test]
    fn delta_operation_without_a_source_image_is_refused() {
        let mut m = manifest();
        let op = &mut m.images[0].operations[0];
        op.kind = OpKind::Bsdiff;
        op.src = vec![Extent { offset: 0, length: 4096 }];
        op.src_sha256 = Some("cd".repeat(32));
        assert!(invalid(&m).contains("image has none"));
    }

    #[test]
    fn oversized_operation_and_bad_operator_tag_are_refused() {
        let mut m = manifest();
        m.images[0].target.size = 64 << 20;
        m.images[0].operations[0].dst.length = MAX_OP_OUTPUT + 1;
        assert!(invalid(&m).contains("destination length"));
        let mut m = manifest();
        m.operator_tag = Some("0011".into());
        assert!(invalid(&m).contains("operator_tag"));
    }

    #[test]
    fn a_prefix_needs_format_2_and_written_bytes_before_it() {
        let mut m = manifest();
        m.format = 1;
        m.images[0].operations[1].prefix = Some(Extent { offset: 0, length: 4096 });
        assert!(invalid(&m).contains("needs format 2"));
        m.format = 2;
        m.validate().unwrap();
        for (prefix, why) in [
            (Extent { offset: 0, length: 4097 }, "not written"),
            (Extent { offset: 0, length: 0 }, "prefix length"),
            (Extent { offset: 0, length: MAX_OP_PREFIX + 1 }, "prefix length"),
        ] {
            m.images[0].operations[1].prefix = Some(prefix);
            assert!(invalid(&m).contains(why), "{prefix:?}");
        }
        let mut m = manifest();
        m.format = 2;
        m.images[0].operations[0].prefix = Some(Extent { offset: 0, length: 1 });
        assert!(invalid(&m).contains("not written"), "the first operation has nothing before it");
        m.format = 3;
        assert!(invalid(&m).contains("format 3"));
    }

    #[test]
    fn unknown_fields_are_errors() {
        let mut json = serde_json::to_value(manifest()).unwrap();
        json["surprise"] = serde_json::json!(1);
        assert!(serde_json::from_value::<Manifest>(json).is_err());
    }
}
