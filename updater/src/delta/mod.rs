//! The package builder (`fotad-update pack`): full and delta packages from
//! image files, or from a classic `BSDIFF40` patch, planned in parallel,
//! signed with Ed25519.

mod bsdiff40;
mod diff;
mod index;
mod plan;

pub use diff::Differ;
pub use index::SourceIndex;
pub use plan::{Chunk, PlanSettings, PlannedOp, Planner, Source, DEFAULT_PREFIX};

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Seek, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;

use ed25519_dalek::SigningKey;

use crate::install::{device_size, hash_prefix};
use crate::package::{self, Extent, Image, ImageDigest, Manifest, PackageError, MIN_FORMAT_VERSION};

/// Stack size of a planning thread (nothing in planning recurses).
const PLAN_STACK: usize = 8 << 20;

/// Errors building a package.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: io::Error },
    #[error("BSDIFF40 patch {path}: {why}")]
    BadPatch { path: PathBuf, why: String },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Package(#[from] PackageError),
}

/// Where an image's content comes from.
#[derive(Debug, Clone)]
pub enum ImageInput {
    /// The whole new image.
    Full { target: PathBuf },
    /// The new image as a delta over `source`.
    Delta { target: PathBuf, source: PathBuf },
    /// A classic bsdiff patch (Debian's `bsdiff` output) over `source`.
    Bsdiff40 { patch: PathBuf, source: PathBuf },
}

/// Everything that goes into a package.
#[derive(Debug, Clone)]
pub struct PackSpec {
    pub compatible: String,
    pub version: String,
    pub security_version: u64,
    pub operator_tag: Option<[u8; 16]>,
    pub description: BTreeMap<String, String>,
    /// (image class, input), in package order.
    pub images: Vec<(String, ImageInput)>,
    /// Output bytes per operation.
    pub op_size: u64,
    /// Output bytes per operation of full images compressed with prefixes
    /// (`settings.prefix` > 0); `None`: `op_size`. Larger operations there
    /// index each prefix fewer times and match across more of the image.
    pub full_op_size: Option<u64>,
    pub threads: usize,
    pub settings: PlanSettings,
}

/// What `pack` produced.
#[derive(Debug, Clone)]
pub struct PackReport {
    pub manifest: Manifest,
    pub package_size: u64,
}

/// Builds the package described by `spec`, signed by `keys`, into `out`
/// (written beside it and renamed into place when complete).
pub fn pack(spec: &PackSpec, keys: &[SigningKey], out: &Path) -> Result<PackReport, PackError> {
    if keys.is_empty() {
        return Err(PackError::Invalid("a package needs at least one signing key".into()));
    }
    let sizes = [Some(spec.op_size), spec.full_op_size];
    if sizes.into_iter().flatten().any(|size| size == 0 || size > package::MAX_OP_OUTPUT) {
        return Err(PackError::Invalid(format!("operation size must be 1..={}", package::MAX_OP_OUTPUT)));
    }
    let payload_path = with_suffix(out, ".payload.tmp");
    let payload_file = create(&payload_path)?;
    let mut payload = Payload { out: BufWriter::new(payload_file), offset: 0, path: payload_path.clone() };
    let mut images = Vec::new();
    for (class, input) in &spec.images {
        images.push(pack_image(spec, class, input, &mut payload)?);
    }
    // Format 2 only when an operation needs it: older devices install the rest.
    let prefixed = images.iter().flat_map(|i| &i.operations).any(package::Operation::reads_target);
    let manifest = Manifest {
        format: if prefixed { 2 } else { MIN_FORMAT_VERSION },
        compatible: spec.compatible.clone(),
        version: spec.version.clone(),
        security_version: spec.security_version,
        operator_tag: spec.operator_tag.map(hex::encode),
        description: spec.description.clone(),
        payload_size: payload.offset,
        images,
    };
    manifest.validate()?;
    let package_size = assemble(&manifest, keys, payload, out)?;
    let _ = fs::remove_file(&payload_path);
    Ok(PackReport { manifest, package_size })
}

fn assemble(manifest: &Manifest, keys: &[SigningKey], payload: Payload, out: &Path) -> Result<u64, PackError> {
    let manifest_bytes = serde_json::to_vec(manifest).map_err(|e| PackError::Invalid(e.to_string()))?;
    let signatures: Vec<_> = keys.iter().map(|k| package::sign(k, &manifest_bytes)).collect();
    let payload_path = payload.path.clone();
    let mut payload_file = payload.out.into_inner().map_err(|e| io_err("writing", &payload_path)(e.into_error()))?;
    let tmp = with_suffix(out, ".tmp");
    let mut file = BufWriter::new(create(&tmp)?);
    let header_len = package::write_header(&mut file, manifest.format, &manifest_bytes, &signatures)
        .map_err(io_err("writing", &tmp))?;
    payload_file.rewind().map_err(io_err("reading", &payload_path))?;
    let copied = io::copy(&mut payload_file, &mut file).map_err(io_err("writing", &tmp))?;
    let file = file.into_inner().map_err(|e| io_err("writing", &tmp)(e.into_error()))?;
    file.sync_all().map_err(io_err("syncing", &tmp))?;
    fs::rename(&tmp, out).map_err(io_err("renaming into", out))?;
    Ok(header_len + copied)
}

fn pack_image(spec: &PackSpec, class: &str, input: &ImageInput, payload: &mut Payload) -> Result<Image, PackError> {
    let (target, source, operations) = match input {
        ImageInput::Full { target } => {
            let (file, size) = open_sized(target)?;
            let ops = plan_parallel(spec, &file, size, None, payload)?;
            (digest(&file, size, target)?, None, ops)
        }
        ImageInput::Delta { target, source } => {
            let (file, size) = open_sized(target)?;
            let (src, src_size) = open_sized(source)?;
            // The two digests on another core while this one indexes the source.
            let (index, digests) = std::thread::scope(|scope| {
                let digests = scope.spawn(|| Ok((digest(&file, size, target)?, digest(&src, src_size, source)?)));
                let index = SourceIndex::build(&src, src_size).map_err(io_err("indexing", source));
                let digests = digests.join().unwrap_or_else(|_| Err(PackError::Invalid("hashing failed".into())));
                (index, digests)
            });
            let (index, (target_digest, source_digest)) = (index?, digests?);
            let ops = plan_parallel(spec, &file, size, Some(&Source { file: &src, index: &index }), payload)?;
            (target_digest, Some(source_digest), ops)
        }
        ImageInput::Bsdiff40 { patch, source } => {
            let (src, src_size) = open_sized(source)?;
            let (target, ops) = bsdiff40::convert(patch, &src, src_size, spec, payload)?;
            (target, Some(digest(&src, src_size, source)?), ops)
        }
    };
    Ok(Image { class: class.to_string(), target, source, operations })
}

/// The payload being written: blobs in operation order.
struct Payload {
    out: BufWriter<File>,
    offset: u64,
    path: PathBuf,
}

impl Payload {
    fn push(&mut self, mut planned: PlannedOp) -> Result<package::Operation, PackError> {
        planned.op.data_offset = self.offset;
        self.out.write_all(&planned.blob).map_err(io_err("writing", &self.path))?;
        self.offset += planned.blob.len() as u64;
        Ok(planned.op)
    }
}

/// Plans every chunk of `target` on `spec.threads` threads and pushes the
/// operations to the payload in order.
fn plan_parallel(
    spec: &PackSpec,
    target: &File,
    size: u64,
    source: Option<&Source<'_>>,
    payload: &mut Payload,
) -> Result<Vec<package::Operation>, PackError> {
    let full_op_size = spec.full_op_size.filter(|_| spec.settings.prefix > 0);
    let op_size = if source.is_none() { full_op_size.unwrap_or(spec.op_size) } else { spec.op_size };
    let chunks = size.div_ceil(op_size);
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::sync_channel::<(u64, io::Result<PlannedOp>)>(spec.threads.max(1) * 2);
    std::thread::scope(|scope| {
        for _ in 0..spec.threads.max(1) {
            let (tx, next, stop) = (tx.clone(), &next, &stop);
            let worker = std::thread::Builder::new().name("fotad-pack".into()).stack_size(PLAN_STACK);
            let spawned = worker.spawn_scoped(scope, move || {
                let mut planner = match Planner::new() {
                    Ok(planner) => planner,
                    Err(e) => {
                        let _ = tx.send((next.fetch_add(1, Ordering::Relaxed), Err(e)));
                        return;
                    }
                };
                let mut buf = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= chunks {
                        break;
                    }
                    let dst = Extent { offset: i * op_size, length: op_size.min(size - i * op_size) };
                    // Full images: the bytes before the chunk are its prefix;
                    // for the second chunk of a pair, the bytes before the pair.
                    let gap =
                        if source.is_none() && i % 2 == 1 && op_size >= package::PAIRED_OP_MIN { op_size } else { 0 };
                    let prefix_end = dst.offset - gap;
                    let prefix = if source.is_none() { spec.settings.prefix.min(prefix_end) } else { 0 };
                    buf.resize((prefix + gap + dst.length) as usize, 0);
                    let planned = target.read_exact_at(&mut buf, prefix_end - prefix).and_then(|()| {
                        let (prefix_bytes, rest) = buf.split_at(prefix as usize);
                        let chunk = Chunk {
                            data: &rest[gap as usize..],
                            dst,
                            prefix: prefix_bytes,
                            prefix_offset: prefix_end - prefix,
                        };
                        planner.plan(chunk, source, &spec.settings)
                    });
                    if tx.send((i, planned)).is_err() {
                        break;
                    }
                }
            });
            if let Err(e) = spawned {
                return Err(PackError::Io {
                    what: "starting a planning thread for",
                    path: payload.path.clone(),
                    source: e,
                });
            }
        }
        drop(tx);
        let result = collect_in_order(rx, chunks, payload);
        stop.store(true, Ordering::Relaxed);
        result
    })
}

fn collect_in_order(
    rx: mpsc::Receiver<(u64, io::Result<PlannedOp>)>,
    chunks: u64,
    payload: &mut Payload,
) -> Result<Vec<package::Operation>, PackError> {
    let mut pending = BTreeMap::new();
    let mut ops = Vec::with_capacity(chunks as usize);
    for (i, planned) in rx {
        let planned = planned.map_err(|source| PackError::Io {
            what: "planning chunk of",
            path: payload.path.clone(),
            source,
        })?;
        pending.insert(i, planned);
        while let Some(planned) = pending.remove(&(ops.len() as u64)) {
            ops.push(payload.push(planned)?);
        }
        if ops.len() as u64 == chunks {
            break;
        }
    }
    if (ops.len() as u64) < chunks {
        return Err(PackError::Invalid("a planning thread stopped early".into()));
    }
    Ok(ops)
}

fn open_sized(path: &Path) -> Result<(File, u64), PackError> {
    let file = File::open(path).map_err(io_err("opening", path))?;
    let size = device_size(&file).map_err(io_err("sizing", path))?;
    if size == 0 {
        return Err(PackError::Invalid(format!("image {} is empty", path.display())));
    }
    Ok((file, size))
}

fn digest(file: &File, size: u64, path: &Path) -> Result<ImageDigest, PackError> {
    Ok(ImageDigest { size, sha256: hash_prefix(file, size).map_err(io_err("hashing", path))? })
}

fn create(path: &Path) -> Result<File, PackError> {
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(io_err("creating", path))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> PackError {
    let path = path.to_path_buf();
    move |source| PackError::Io { what, path, source }
}
