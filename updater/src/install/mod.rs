//! The streaming installer: reads a package front to back from any `Read`,
//! verifies the signed manifest and checks that it fits the targets before
//! writing a byte (then calls the caller's [`BeforeFirstWrite`], which marks
//! the target slot bad), and writes each
//! operation into the target images, while the [`syncer`] thread syncs the
//! targets, writes the checkpoints and reads each synced stretch back into the
//! images' hashes, checked against the manifest at the end. An interrupted
//! install resumes from the checkpoint, given the package stream from the
//! checkpoint's offset.

mod record;
mod syncer;
mod target;

pub use record::{Checkpoint, Records, Status};
pub use target::{device_size, hash_prefix, ImageTarget, OpenImage};

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;

use self::syncer::{Coverage, Outcome, Syncer, Upto, Written};
use crate::error::InstallError;
use crate::ops::{Executor, OpError};
use crate::package::{load_public_keys, read_raw_header, sha256_hex, Header, Manifest, OpKind, Operation, RawHeader};

/// What the installer needs to know about the device.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// Directory of trusted `*.pub` keys.
    pub keys_dir: PathBuf,
    /// State directory; the installer keeps its files in `install/` below it.
    pub state_dir: PathBuf,
    /// The device's model string; packages for another model are refused.
    pub compatible: String,
    /// Security version of the installed software; lower packages are refused.
    pub installed_security_version: u64,
    /// Image class → target (and source, for deltas).
    pub images: BTreeMap<String, ImageTarget>,
}

/// Progress of a running install, in package bytes and operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub ops_done: usize,
    pub ops_total: usize,
}

/// A finished, verified install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub version: String,
    pub security_version: u64,
    /// SHA-256 of the manifest bytes.
    pub package: String,
    /// Image class → SHA-256 of the written image.
    pub images: BTreeMap<String, String>,
}

/// A device policy checked against the verified manifest before anything is
/// written (e.g. the SIM's operator gate); `Err(reason)` refuses the package
/// with [`InstallError::Refused`] (FUMO 405).
pub type ManifestPolicy = Arc<dyn Fn(&Manifest) -> Result<(), String> + Send + Sync>;

/// Run by every install once the package passed all its checks, right before
/// the first byte is written to a target (and before the status records
/// change); an error ends the install with nothing written. The slot update
/// marks the target slot bad here ([`crate::update::begin`]).
pub type BeforeFirstWrite = Arc<dyn Fn() -> Result<(), InstallError> + Send + Sync>;

/// Installs packages into the targets named by its options.
pub struct Installer {
    opts: InstallOptions,
    records: Records,
    cancel: Arc<AtomicBool>,
    policy: Option<ManifestPolicy>,
    before_first_write: Option<BeforeFirstWrite>,
}

impl std::fmt::Debug for Installer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Installer")
            .field("opts", &self.opts)
            .field("policy", &self.policy.is_some())
            .field("before_first_write", &self.before_first_write.is_some())
            .finish_non_exhaustive()
    }
}

impl Installer {
    pub fn new(opts: InstallOptions) -> Self {
        let records = Records::new(&opts.state_dir);
        Installer { opts, records, cancel: Arc::new(AtomicBool::new(false)), policy: None, before_first_write: None }
    }

    /// Sets what runs right before the first write of every install (also of
    /// every resumed one).
    pub fn set_before_first_write(&mut self, hook: BeforeFirstWrite) {
        self.before_first_write = Some(hook);
    }

    /// Adds a device policy every package must pass (checked after the
    /// signature and before a byte is written, also when resuming).
    pub fn set_policy(&mut self, policy: ManifestPolicy) {
        self.policy = Some(policy);
    }

    /// Uses `flag` (shared with the caller) as the cancel flag.
    pub fn set_cancel_flag(&mut self, flag: Arc<AtomicBool>) {
        self.cancel = flag;
    }

    /// Setting this flag stops the install at the next checkpoint (never mid-write).
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.cancel)
    }

    /// Reads the current boot's id from `path` instead of
    /// `/proc/sys/kernel/random/boot_id` (tests that simulate a reboot).
    pub fn set_boot_id_path(&mut self, path: &std::path::Path) {
        self.records = self.records.clone().with_boot_id_path(path);
    }

    pub fn options(&self) -> &InstallOptions {
        &self.opts
    }

    pub fn records(&self) -> &Records {
        &self.records
    }

    /// The checkpoint of an interrupted install, if any: stream the package
    /// from `next_offset` into [`Installer::install`] to continue it.
    pub fn checkpoint(&self) -> Result<Option<Checkpoint>, InstallError> {
        self.records.checkpoint()
    }

    /// Verifies a header's signatures, then parses it and checks it against
    /// the device, before anything is written: trusted signature, compatible
    /// model, no downgrade, a target (and a source, for deltas) per image.
    pub fn verify(&self, raw: RawHeader) -> Result<Header, InstallError> {
        load_public_keys(&self.opts.keys_dir)?.verify(&raw)?;
        let header = raw.parse()?;
        self.check(&header)?;
        Ok(header)
    }

    fn check(&self, header: &Header) -> Result<(), InstallError> {
        let m = &header.manifest;
        if m.compatible != self.opts.compatible {
            return Err(InstallError::Incompatible {
                package: m.compatible.clone(),
                device: self.opts.compatible.clone(),
            });
        }
        if m.security_version < self.opts.installed_security_version {
            return Err(InstallError::Downgrade {
                package: m.security_version,
                installed: self.opts.installed_security_version,
            });
        }
        for image in &m.images {
            let paths = self.opts.images.get(&image.class);
            let paths = paths.ok_or_else(|| InstallError::NoTarget { class: image.class.clone() })?;
            if image.source.is_some() && paths.source.is_none() {
                return Err(InstallError::NoSource { class: image.class.clone() });
            }
        }
        if let Some(policy) = &self.policy {
            policy(m).map_err(|why| InstallError::Refused { why })?;
        }
        Ok(())
    }

    /// Installs the package streamed by `reader`, which starts at package byte
    /// `start`: 0 for the whole package (an existing checkpoint of the same
    /// package is continued, skipping the data already written), or the
    /// checkpoint's `next_offset` to resume without the header. A package
    /// refused before the first write changes neither the targets nor the
    /// records.
    pub fn install<R: Read>(
        &self,
        reader: R,
        start: u64,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Installed, InstallError> {
        let mut stream = Stream { inner: reader, offset: start };
        let (header, resume) = self.begin(&mut stream, start)?;
        let images = header
            .manifest
            .images
            .iter()
            .map(|image| OpenImage::open(image, &self.opts.images[&image.class]))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(hook) = &self.before_first_write {
            hook()?;
        }
        let package = sha256_hex(&header.manifest_bytes);
        let version = header.manifest.version.clone();
        let result = self.write_all(&header, &images, &mut stream, resume.as_ref(), &package, progress);
        match &result {
            Ok(_) => {}
            Err(e) if e.is_resumable() => {}
            Err(e) => {
                let error = format!("{e}");
                let status = Status::Failed { package, version, kind: e.kind(), error };
                self.records.save_status(&status)?;
                self.records.clear_checkpoint()?;
            }
        }
        result
    }

    /// Reads (or, when resuming, reloads) the header, verifies it, and finds
    /// where to continue: the index of the next operation to run.
    fn begin<R: Read>(&self, stream: &mut Stream<R>, start: u64) -> Result<(Header, Option<Checkpoint>), InstallError> {
        let checkpoint = self.records.checkpoint()?;
        if start == 0 {
            let raw = read_raw_header(stream).map_err(|e| stream.map_truncation(e))?;
            let header = self.verify(raw)?;
            let package = sha256_hex(&header.manifest_bytes);
            let resume = checkpoint.filter(|cp| cp.package == package);
            return Ok((header, resume));
        }
        let cp = checkpoint.ok_or(InstallError::ResumeMismatch { given: start, expected: None })?;
        if cp.next_offset != start {
            return Err(InstallError::ResumeMismatch { given: start, expected: Some(cp.next_offset) });
        }
        let raw = read_raw_header(&mut self.records.header()?.as_slice())?;
        if sha256_hex(&raw.manifest_bytes) != cp.package {
            return Err(InstallError::ResumeMismatch { given: start, expected: Some(cp.next_offset) });
        }
        let header = self.verify(raw)?;
        Ok((header, Some(cp)))
    }

    fn write_all<R: Read>(
        &self,
        header: &Header,
        images: &[OpenImage],
        stream: &mut Stream<R>,
        resume: Option<&Checkpoint>,
        package: &str,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Installed, InstallError> {
        let m = &header.manifest;
        let expected = m.images.iter().map(|i| i.target.clone());
        if resume.is_none() {
            self.records.save_header(&header.raw)?;
            let status = Status::Writing { package: package.into(), version: m.version.clone() };
            self.records.save_status(&status)?;
        }
        for image in images {
            image.grow()?;
        }
        let first_op = resume.map_or(0, |cp| cp.next_op);
        let checkpoint = Checkpoint {
            package: package.into(),
            version: m.version.clone(),
            next_op: first_op,
            next_offset: resume.map_or(stream.offset, |cp| cp.next_offset),
            package_size: header.package_size(),
            boot_id: self.records.boot_id(),
            // What was synced before: a resume in the same boot starts from
            // data that may still be only in the page cache. (A resume that
            // streams the package from its start is still at the header here,
            // so the offsets come from the checkpoint, never from the stream.)
            durable_op: resume.map_or(first_op, |cp| cp.durable_op),
            durable_offset: resume.map_or(stream.offset, |cp| cp.durable_offset),
        };
        let syncer = Syncer::new(images, expected.collect(), &self.records, checkpoint);
        let (news, news_rx) = mpsc::channel();
        std::thread::scope(|scope| {
            let syncer = scope.spawn(move || syncer.run(&news_rx));
            let looped = self.run_ops(header, stream, first_op, resume, progress, images, &news);
            match &looped {
                Ok(true) => drop(news.send(Written::Finish)),
                Ok(false) => drop(news.send(Written::Stop)),
                Err(_) => {}
            }
            drop(news);
            let synced = syncer.join().unwrap_or_else(|_| Err(syncer_gone()));
            match (looped, synced) {
                (Ok(true), Ok(Outcome::Verified)) => Ok(()),
                (Ok(false), Ok(Outcome::Stopped)) => Err(InstallError::Cancelled),
                (Err(e), _) | (_, Err(e)) => Err(e),
                (Ok(_), Ok(_)) => Err(syncer_gone()),
            }
        })?;
        self.finish(header, package)
    }

    /// Runs the operations from `first_op` on, telling the syncer after each
    /// one. `Ok(true)`: all written; `Ok(false)`: cancelled. When the syncer
    /// is gone (it failed) this returns `Ok(true)` early and the caller
    /// collects the syncer's error.
    #[allow(clippy::too_many_arguments)]
    fn run_ops<R: Read>(
        &self,
        header: &Header,
        stream: &mut Stream<R>,
        first_op: usize,
        resume: Option<&Checkpoint>,
        progress: &mut dyn FnMut(Progress),
        images: &[OpenImage],
        news: &Sender<Written>,
    ) -> Result<bool, InstallError> {
        let m = &header.manifest;
        let exec = || Executor::new().map_err(|source| corrupt("", 0, source));
        let mut run = Run {
            execs: [exec()?, exec()?],
            data: [Vec::new(), Vec::new()],
            tail: Tail::new(m),
            prefix: [Vec::new(), Vec::new()],
            pending: Vec::new(),
            done: Vec::new(),
            progress: Progress {
                bytes_done: stream.offset,
                bytes_total: header.package_size(),
                ops_done: first_op,
                ops_total: m.operation_count(),
            },
        };
        let mut coverage: Vec<Coverage> = images.iter().map(|_| Coverage::default()).collect();
        let items =
            m.images.iter().enumerate().flat_map(|(image, img)| img.operations.iter().map(move |op| (image, op)));
        let mut items = items.enumerate().map(|(index, (image, op))| Item { image, index, op }).peekable();
        while let Some(first) = items.next() {
            if first.index < first_op {
                coverage[first.image].add(first.op.dst.offset, first.op.dst.length);
                if stream.offset < resume.map_or(0, |c| c.next_offset) {
                    stream.skip(first.op.data_length, run.progress.bytes_total)?;
                }
                continue;
            }
            let batch = match items.next_if(|next| run.pairs(&first, next)) {
                Some(next) => vec![first, next],
                None => vec![first],
            };
            if let Err(e) = run.run(images, &batch, stream) {
                // A cut stream: what was decoded before is written and
                // reported, so a reconnect does not fetch it again.
                if e.is_resumable() && run.flush(images).is_ok() {
                    run.report(&mut coverage, news, progress);
                }
                return Err(e);
            }
            let last = batch[batch.len() - 1].index + 1 == run.progress.ops_total;
            if last {
                run.flush(images)?;
            }
            if !run.report(&mut coverage, news, progress) {
                return Ok(true);
            }
            if !last && self.cancel.load(Ordering::SeqCst) {
                run.flush(images)?;
                return Ok(!run.report(&mut coverage, news, progress));
            }
        }
        Ok(true)
    }

    /// Records a verified install.
    fn finish(&self, header: &Header, package: &str) -> Result<Installed, InstallError> {
        let m = &header.manifest;
        let digests = m.images.iter().map(|image| (image.class.clone(), image.target.sha256.clone())).collect();
        let installed = Installed {
            version: m.version.clone(),
            security_version: m.security_version,
            package: package.into(),
            images: digests,
        };
        self.records.save_installed_header(&header.raw)?;
        self.records.save_status(&Status::Installed {
            package: package.into(),
            version: m.version.clone(),
            security_version: m.security_version,
        })?;
        self.records.clear_checkpoint()?;
        Ok(installed)
    }
}

fn syncer_gone() -> InstallError {
    let source = io::Error::other("the syncer stopped");
    InstallError::Io { what: "verifying", path: PathBuf::new(), source }
}

/// Per-install buffers, reused for every operation (memory stays bounded by
/// the largest operation and its prefix).
struct Run {
    /// One per operation decoded at once.
    execs: [Executor; 2],
    data: [Vec<u8>; 2],
    /// The operations' output, and the bytes kept for the prefixes after them.
    tail: Tail,
    /// Prefixes read back from the target (when the tail does not hold them).
    prefix: [Vec<u8>; 2],
    /// Operations decoded into the tail (the last bytes it holds, contiguous
    /// on one image) still to be written: they are written beside the next
    /// operations' decoding.
    pending: Vec<Done>,
    /// Operations written since the last report, in order.
    done: Vec<Done>,
    progress: Progress,
}

/// An operation to run: its image and its index in the package.
#[derive(Debug, Clone, Copy)]
struct Item<'a> {
    image: usize,
    index: usize,
    op: &'a Operation,
}

/// An operation decoded into the tail (and then written).
#[derive(Debug, Clone, Copy)]
struct Done {
    image: usize,
    index: usize,
    dst: crate::package::Extent,
    /// Package offset just after its data.
    next_offset: u64,
}

/// Full-image operations at least this large are written beside the next
/// one's decoding (a thread per write; smaller ones are written in line), and
/// decoded two at once where the second does not read the first (see
/// [`Run::pairs`]).
const OVERLAP_MIN: u64 = 1 << 20;

impl Run {
    /// Whether `next` can be decoded beside `first`: both large `replace`
    /// operations on one image, `next` right after `first`, and its prefix
    /// (if any) ends before `first` and stays in the tail (the packer lays
    /// out full images that way: see docs/package-format.md).
    fn pairs(&self, first: &Item<'_>, next: &Item<'_>) -> bool {
        let (a, b) = (first.op, next.op);
        next.image == first.image
            && b.dst.offset == a.dst.end()
            && a.kind == OpKind::Replace
            && b.kind == OpKind::Replace
            && a.dst.length >= crate::package::PAIRED_OP_MIN
            && b.prefix.map_or(true, |e| e.end() <= a.dst.offset && self.tail.keeps(first.image, a.dst.offset, e))
    }

    /// Reads and decodes one operation, or two that [`Run::pairs`] allows
    /// (the second on another thread), into the tail, while the operations
    /// pending before are written; then writes them, or keeps them pending
    /// (see [`Run::flush`]).
    fn run<R: Read>(
        &mut self,
        images: &[OpenImage],
        batch: &[Item<'_>],
        stream: &mut Stream<R>,
    ) -> Result<(), InstallError> {
        let Some(first) = batch.first() else { return Ok(()) };
        let open = &images[first.image];
        let mut this = Vec::with_capacity(batch.len());
        for (item, data) in batch.iter().zip(&mut self.data) {
            stream.read_blob(data, item.op.data_length, self.progress.bytes_total)?;
            this.push(Done { image: item.image, index: item.index, dst: item.op.dst, next_offset: stream.offset });
        }
        let len: u64 = batch.iter().map(|item| item.op.dst.length).sum();
        let pending_len = self.pending.iter().map(|p| p.dst.length as usize).sum();
        let (held, out) = self.tail.slot(first.image, first.op.dst.offset, len as usize, pending_len);
        let mut prefixes: [&[u8]; 2] = [&[], &[]];
        for ((item, prefix), buf) in batch.iter().zip(&mut prefixes).zip(&mut self.prefix) {
            let Some(extent) = item.op.prefix else { continue };
            *prefix = match held.get(item.image, extent) {
                Some(bytes) => bytes,
                None => {
                    // After a resume: what the operations before wrote, read
                    // back from the target once the pending ones are written.
                    if let Some(p) = self.pending.first() {
                        images[p.image].write_at(held.last(pending_len), p.dst.offset)?;
                        self.done.append(&mut self.pending);
                    }
                    buf.resize(extent.length as usize, 0);
                    images[item.image].read_at(buf, extent.offset)?;
                    buf
                }
            };
        }
        let pending = std::mem::take(&mut self.pending);
        let (out1, out2) = out.split_at_mut(first.op.dst.length as usize);
        let [exec1, exec2] = &mut self.execs;
        let [data1, data2] = &self.data;
        let (decoded, second, written) = std::thread::scope(|scope| {
            let writer = pending.first().map(|p| {
                let (target, bytes, at) = (&images[p.image], held.last(pending_len), p.dst.offset);
                scope.spawn(move || target.write_at(bytes, at))
            });
            let second = batch.get(1).map(|item| {
                let (source, prefix) = (images[item.image].source.as_ref(), prefixes[1]);
                scope.spawn(move || exec2.run_into(item.op, data2, source, prefix, out2))
            });
            let decoded = exec1.run_into(first.op, data1, open.source.as_ref(), prefixes[0], out1);
            let second = second.map(|t| t.join().unwrap_or_else(|_| Err(OpError::Decompress(thread_gone()))));
            (decoded, second, writer.map(|t| t.join().unwrap_or_else(|_| Err(writer_gone()))))
        });
        if let Some(written) = written {
            written?;
            self.done.extend(pending);
        }
        decoded.map_err(|source| corrupt(&open.class, first.index, source))?;
        if let (Some(item), Some(decoded)) = (batch.get(1), second) {
            decoded.map_err(|source| corrupt(&images[item.image].class, item.index, source))?;
        }
        // Only a full image's operations (prefixed or paired) are written
        // beside the next decoding; a delta's are written in line, so its
        // progress and checkpoints follow each operation as they did.
        if len < OVERLAP_MIN || (batch.len() == 1 && first.op.prefix.is_none()) {
            open.write_at(out, first.op.dst.offset)?;
            self.done.extend(this);
        } else {
            self.pending = this;
        }
        self.tail.commit(first.image, first.op.dst.offset, len as usize);
        Ok(())
    }

    /// Writes the pending operations, if any.
    fn flush(&mut self, images: &[OpenImage]) -> Result<(), InstallError> {
        if let Some(p) = self.pending.first() {
            let len = self.pending.iter().map(|p| p.dst.length as usize).sum();
            images[p.image].write_at(self.tail.last(len), p.dst.offset)?;
            self.done.append(&mut self.pending);
        }
        Ok(())
    }

    /// Tells the syncer and the caller about the operations written since
    /// the last report; `false` when the syncer is gone.
    fn report(
        &mut self,
        coverage: &mut [Coverage],
        news: &Sender<Written>,
        progress: &mut dyn FnMut(Progress),
    ) -> bool {
        let Some(last) = self.done.last().copied() else { return true };
        for d in self.done.drain(..) {
            coverage[d.image].add(d.dst.offset, d.dst.length);
        }
        let (covered, generation) = coverage.iter_mut().map(Coverage::claim).unzip();
        let upto = Upto { next_op: last.index + 1, next_offset: last.next_offset, covered, generation };
        if news.send(Written::Upto(upto)).is_err() {
            return false;
        }
        self.progress.ops_done = last.index + 1;
        self.progress.bytes_done = last.next_offset;
        progress(self.progress);
        true
    }
}

fn thread_gone() -> io::Error {
    io::Error::other("the decoding thread stopped")
}

fn writer_gone() -> InstallError {
    let source = io::Error::other("the writer thread stopped");
    InstallError::Io { what: "writing target", path: PathBuf::new(), source }
}

/// Alignment of the tail's output slots: an operation at a 4 KiB-aligned
/// target offset gets a 4 KiB-aligned slot, which the target can write with
/// O_DIRECT (see [`OpenImage::write_at`]).
const SLOT_ALIGN: usize = 4096;

/// The operations' output buffer: each operation decodes into a slot right
/// after the latest bytes written to its image, which stay there for the
/// prefixes of the operations after them (none are kept when the package has
/// no prefixes) and for the pending write. The buffer is allocated once, for
/// three times the largest prefix or operation (or pair of operations decoded
/// at once), so the bytes kept move at most once per two bytes written.
struct Tail {
    /// How many bytes the prefixes need at most.
    keep: usize,
    /// The largest operation.
    largest: usize,
    buf: Vec<u8>,
    /// First index of `buf` at a `SLOT_ALIGN`-aligned address.
    base: usize,
    /// `buf[lo..hi]` holds the bytes of `image` just before its offset `end`;
    /// the address of `buf[hi]` is aligned like `end` (modulo `SLOT_ALIGN`).
    image: usize,
    end: u64,
    lo: usize,
    hi: usize,
    /// Where the latest slot starts.
    slot: usize,
}

/// The bytes a [`Tail`] holds.
struct Held<'a> {
    image: usize,
    /// Target offset of `bytes[0]`.
    start: u64,
    bytes: &'a [u8],
}

impl<'a> Held<'a> {
    /// The bytes at `extent` of `image`, if held.
    fn get(&self, image: usize, extent: crate::package::Extent) -> Option<&'a [u8]> {
        let from = usize::try_from(extent.offset.checked_sub(self.start)?).ok()?;
        let to = from.checked_add(usize::try_from(extent.length).ok()?)?;
        if image != self.image {
            return None;
        }
        self.bytes.get(from..to)
    }

    /// The last `len` bytes held (the latest operation's output).
    fn last(&self, len: usize) -> &'a [u8] {
        &self.bytes[self.bytes.len().saturating_sub(len)..]
    }
}

impl Tail {
    fn new(manifest: &Manifest) -> Tail {
        let ops = || manifest.images.iter().flat_map(|i| &i.operations);
        let keep = ops().filter_map(|op| op.prefix).map(|e| e.length).max().unwrap_or(0);
        let largest = ops().map(|op| op.dst.length).max().unwrap_or(0);
        Tail::sized(keep as usize, largest as usize)
    }

    /// A tail for prefixes of at most `keep` bytes and operations of at most `largest`.
    fn sized(keep: usize, largest: usize) -> Tail {
        Tail { keep, largest, buf: Vec::new(), base: 0, image: 0, end: 0, lo: 0, hi: 0, slot: 0 }
    }

    /// The bytes held, and a slot of `len` bytes for the output of an
    /// operation writing at `offset` of `image` (then [`Tail::commit`] it).
    /// The last `hold` bytes held stay held (a pending write).
    fn slot(&mut self, image: usize, offset: u64, len: usize, hold: usize) -> (Held<'_>, &mut [u8]) {
        // The buffer only grows (the first time, or for a pair of operations
        // larger than any prefix and operation), keeping what it holds.
        let size = 3 * self.keep.max(self.largest).max(len) + 3 * SLOT_ALIGN;
        if self.buf.len() < size {
            self.compact(self.keep.max(hold), size);
        }
        let mut at = self.place(image, offset);
        if at + len > self.buf.len() {
            self.compact(self.keep.max(hold), 0);
            at = self.place(image, offset);
        }
        self.slot = at;
        let (before, after) = self.buf.split_at_mut(at);
        let start = self.end - (self.hi - self.lo) as u64;
        (Held { image: self.image, start, bytes: &before[self.lo..self.hi] }, &mut after[..len])
    }

    /// Whether `extent` of `image` stays held when a slot is placed at
    /// `offset` (continuing the bytes held): it is among the last `keep`.
    fn keeps(&self, image: usize, offset: u64, extent: crate::package::Extent) -> bool {
        let kept = (self.hi - self.lo).min(self.keep) as u64;
        image == self.image && offset == self.end && extent.offset >= self.end - kept && extent.end() <= self.end
    }

    /// The last `len` bytes held.
    fn last(&self, len: usize) -> &[u8] {
        &self.buf[self.hi - len.min(self.hi - self.lo)..self.hi]
    }

    /// Where the output of an operation at `offset` of `image` goes: right
    /// after the bytes held when it continues them, otherwise after them at
    /// the first index aligned like `offset` (they may hold its prefix).
    fn place(&self, image: usize, offset: u64) -> usize {
        if image == self.image && offset == self.end {
            return self.hi;
        }
        let want = (offset % SLOT_ALIGN as u64) as usize;
        let have = (self.buf.as_ptr() as usize + self.hi) % SLOT_ALIGN;
        self.hi + (want + SLOT_ALIGN - have) % SLOT_ALIGN
    }

    /// Moves the last `keep` bytes held to the front of the buffer (aligned
    /// like their target offset), into a new one of `size` bytes if the
    /// buffer is smaller, and drops the rest.
    fn compact(&mut self, keep: usize, size: usize) {
        let kept = (self.hi - self.lo).min(keep);
        let from = self.hi - kept..self.hi;
        let start = self.end - kept as u64;
        let at = |base: usize| base + (start % SLOT_ALIGN as u64) as usize;
        if self.buf.len() < size {
            // Zeroed memory from the allocator: pages are touched only when written.
            let old = std::mem::replace(&mut self.buf, vec![0u8; size]);
            self.base = self.buf.as_ptr().align_offset(SLOT_ALIGN).min(SLOT_ALIGN);
            self.buf[at(self.base)..at(self.base) + kept].copy_from_slice(&old[from]);
        } else {
            self.buf.copy_within(from, at(self.base));
        }
        (self.lo, self.hi) = (at(self.base), at(self.base) + kept);
    }

    /// Records that the latest slot holds what the operation at `offset` of
    /// `image` wrote.
    fn commit(&mut self, image: usize, offset: u64, len: usize) {
        if image != self.image || offset != self.end {
            (self.image, self.lo) = (image, self.slot);
        }
        self.hi = self.slot + len;
        self.end = offset + len as u64;
    }
}

fn corrupt(class: &str, op: usize, source: OpError) -> InstallError {
    InstallError::Corrupt { class: class.to_string(), op, source }
}

/// The package stream with its current package offset.
struct Stream<R> {
    inner: R,
    offset: u64,
}

impl<R: Read> Read for Stream<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.offset += n as u64;
        Ok(n)
    }
}

impl<R: Read> Stream<R> {
    fn read_blob(&mut self, buf: &mut Vec<u8>, len: u64, size: u64) -> Result<(), InstallError> {
        buf.clear();
        let offset = self.offset;
        let got = (&mut *self).take(len).read_to_end(buf).map_err(|source| InstallError::Stream { offset, source })?;
        if (got as u64) < len {
            return Err(InstallError::Truncated { offset: self.offset, size });
        }
        Ok(())
    }

    fn skip(&mut self, len: u64, size: u64) -> Result<(), InstallError> {
        let offset = self.offset;
        let got = io::copy(&mut (&mut *self).take(len), &mut io::sink())
            .map_err(|source| InstallError::Stream { offset, source })?;
        if got < len {
            return Err(InstallError::Truncated { offset: self.offset, size });
        }
        Ok(())
    }

    /// A header that could not be read: the stream ended or failed (as
    /// resumable as a cut later on), or it is not a valid header.
    fn map_truncation(&self, e: crate::package::PackageError) -> InstallError {
        match e {
            crate::package::PackageError::Truncated(_) => InstallError::Truncated { offset: self.offset, size: 0 },
            crate::package::PackageError::Io { source, .. } => InstallError::Stream { offset: self.offset, source },
            other => other.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::{Tail, SLOT_ALIGN};
    use crate::package::Extent;

    /// Runs one operation through `tail` the way the installer does: returns
    /// the prefix the tail held for it, and the bytes of the write that was
    /// pending (the last `hold` bytes held) as the slot was placed.
    fn op(tail: &mut Tail, image: usize, offset: usize, bytes: &[u8], prefix: Extent, hold: usize) -> [Vec<u8>; 2] {
        let (held, out) = tail.slot(image, offset as u64, bytes.len(), hold);
        let got = held.get(image, prefix).map(<[u8]>::to_vec).unwrap_or_default();
        let pending = held.last(hold).to_vec();
        if offset % SLOT_ALIGN == 0 {
            assert_eq!(out.as_ptr().align_offset(SLOT_ALIGN), 0, "slot for offset {offset} not aligned");
        }
        out.copy_from_slice(bytes);
        tail.commit(image, offset as u64, bytes.len());
        [got, pending]
    }

    #[test]
    fn the_tail_holds_every_prefix_and_the_pending_write() {
        let (keep, largest) = (3 * SLOT_ALIGN + 100, 2 * SLOT_ALIGN + 7);
        let image: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut tail = Tail::sized(keep, largest);
        let (mut offset, mut last_len, mut allocation) = (0, 0, None);
        let lens = [SLOT_ALIGN, 2 * SLOT_ALIGN, 5000, largest, 1, 4095, 77, SLOT_ALIGN + 1];
        for (n, len) in lens.iter().cycle().take(200).enumerate() {
            let len = (*len).min(image.len() - offset);
            let from = offset.saturating_sub(keep);
            let prefix = Extent { offset: from as u64, length: (offset - from) as u64 };
            let [got, pending] = op(&mut tail, 0, offset, &image[offset..offset + len], prefix, last_len);
            assert!(got == image[from..offset], "operation {n}: prefix not held");
            assert!(pending == image[offset - last_len..offset], "operation {n}: pending write lost");
            let buf = (tail.buf.as_ptr(), tail.buf.len());
            assert_eq!(*allocation.get_or_insert(buf), buf, "operation {n}: the buffer was allocated again");
            (offset, last_len) = (offset + len, len);
        }
        assert!(tail.buf.len() <= 3 * keep + 3 * SLOT_ALIGN, "{} bytes", tail.buf.len());
        let end = offset as u64;
        let last_keep = Extent { offset: end - keep as u64, length: keep as u64 };
        assert!(tail.keeps(0, end, last_keep), "the last `keep` bytes stay held for the next slot");
        assert!(!tail.keeps(0, end, Extent { offset: end - keep as u64 - 1, length: 1 }), "older bytes may go");
        assert!(!tail.keeps(0, end + 1, last_keep), "a slot that does not continue the bytes held");
        assert!(!tail.keeps(1, end, last_keep), "another image");

        // Another image: nothing of the first is held for it, but the pending
        // write of the first stays until the slot is committed.
        let at = |offset: u64, length: u64| Extent { offset, length };
        let [got, pending] = op(&mut tail, 1, 0, &image[..10], at(offset as u64 - 10, 10), last_len);
        assert!(got.is_empty(), "another image's bytes given as a prefix");
        assert!(pending == image[offset - last_len..offset], "pending write lost at an image change");
        let [got, _] = op(&mut tail, 1, 10, &image[10..20], at(0, 10), 10);
        assert!(got == image[..10], "second image's prefix not held");
        // An operation that does not continue the bytes held still gets its
        // prefix from them.
        let [got, _] = op(&mut tail, 1, 5000, &image[5000..5100], at(5, 15), 10);
        assert!(got == image[5..20], "prefix of a jump ahead not held");
        let [got, _] = op(&mut tail, 1, 5100, &image[5100..5200], at(5000, 100), 100);
        assert!(got == image[5000..5100], "bytes after a jump not held");

        // A pair of operations larger than the buffer was made for: it grows,
        // keeping the pending write.
        let mut tail = Tail::sized(0, 5000);
        op(&mut tail, 0, 0, &image[..5000], at(0, 0), 0);
        let [_, pending] = op(&mut tail, 0, 5000, &image[5000..25_000], at(0, 0), 5000);
        assert!(pending == image[..5000], "pending write lost as the buffer grew");
        assert!(tail.last(20_000) == &image[5000..25_000], "pair not held");
    }
}
