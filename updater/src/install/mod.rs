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
use crate::ops::Executor;
use crate::package::{load_public_keys, read_raw_header, sha256_hex, Header, Manifest, Operation, RawHeader};

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
        let mut run = Run {
            exec: Executor::new().map_err(|source| corrupt("", 0, source))?,
            data: Vec::new(),
            out: Vec::new(),
            tail: Tail::new(m),
            prefix: Vec::new(),
            progress: Progress {
                bytes_done: stream.offset,
                bytes_total: header.package_size(),
                ops_done: first_op,
                ops_total: m.operation_count(),
            },
        };
        let mut coverage: Vec<Coverage> = images.iter().map(|_| Coverage::default()).collect();
        let ops = m.images.iter().enumerate().flat_map(|(i, img)| img.operations.iter().map(move |op| (i, op)));
        for (index, (image, op)) in ops.enumerate() {
            coverage[image].add(op.dst.offset, op.dst.length);
            if index < first_op {
                if stream.offset < resume.map_or(0, |c| c.next_offset) {
                    stream.skip(op.data_length, run.progress.bytes_total)?;
                }
                continue;
            }
            run.op(&images[image], image, op, index, stream)?;
            let (covered, generation) = coverage.iter_mut().map(Coverage::claim).unzip();
            let upto = Upto { next_op: index + 1, next_offset: stream.offset, covered, generation };
            if news.send(Written::Upto(upto)).is_err() {
                return Ok(true);
            }
            run.progress.ops_done = index + 1;
            run.progress.bytes_done = stream.offset;
            progress(run.progress);
            if self.cancel.load(Ordering::SeqCst) && index + 1 < run.progress.ops_total {
                return Ok(false);
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
    exec: Executor,
    data: Vec<u8>,
    out: Vec<u8>,
    tail: Tail,
    /// A prefix read back from the target (when the tail does not hold it).
    prefix: Vec<u8>,
    progress: Progress,
}

impl Run {
    fn op<R: Read>(
        &mut self,
        open: &OpenImage,
        image: usize,
        op: &Operation,
        index: usize,
        stream: &mut Stream<R>,
    ) -> Result<(), InstallError> {
        stream.read_blob(&mut self.data, op.data_length, self.progress.bytes_total)?;
        let prefix: &[u8] = match op.prefix {
            None => &[],
            Some(extent) => match self.tail.get(image, extent) {
                Some(held) => held,
                None => {
                    // After a resume: what the operations before wrote, from the target.
                    self.prefix.resize(extent.length as usize, 0);
                    open.read_at(&mut self.prefix, extent.offset)?;
                    &self.prefix
                }
            },
        };
        self.exec
            .run_with_prefix(op, &self.data, open.source.as_ref(), prefix, &mut self.out)
            .map_err(|source| corrupt(&open.class, index, source))?;
        open.write_at(&self.out, op.dst.offset)?;
        self.tail.record(image, op.dst.offset, &self.out);
        Ok(())
    }
}

/// The latest bytes written to one image, contiguous, kept for the prefixes
/// of the operations after them (none when the package has no prefixes).
/// It never holds more than twice the largest prefix or the largest prefix
/// plus the largest operation, whichever is more.
struct Tail {
    /// How many bytes the prefixes need at most.
    keep: usize,
    /// The buffer's whole size: `keep` plus at least one operation, and at
    /// least `2 * keep` so that the bytes kept move at most once per byte
    /// written.
    room: usize,
    image: usize,
    /// Target offset just after `buf`.
    end: u64,
    buf: Vec<u8>,
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
        Tail { keep, room: keep + keep.max(largest), image: 0, end: 0, buf: Vec::new() }
    }

    fn record(&mut self, image: usize, offset: u64, data: &[u8]) {
        if self.keep == 0 {
            return;
        }
        if image != self.image || offset != self.end {
            self.buf.clear();
            self.image = image;
        }
        if self.buf.capacity() < self.room {
            self.buf.reserve_exact(self.room - self.buf.len());
        }
        // Room for `data`: drop what no prefix can need any more (all but
        // the last `keep` bytes), before the buffer would have to grow.
        if self.buf.len() + data.len() > self.room {
            self.buf.drain(..self.buf.len().saturating_sub(self.keep));
        }
        self.buf.extend_from_slice(data);
        self.end = offset + data.len() as u64;
    }

    fn get(&self, image: usize, extent: crate::package::Extent) -> Option<&[u8]> {
        let start = self.end - self.buf.len() as u64;
        if image != self.image || extent.offset < start || extent.end() > self.end {
            return None;
        }
        let from = (extent.offset - start) as usize;
        Some(&self.buf[from..from + extent.length as usize])
    }
}

fn corrupt(class: &str, op: usize, source: crate::ops::OpError) -> InstallError {
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
    use super::Tail;
    use crate::package::Extent;

    #[test]
    fn the_tail_holds_every_prefix_and_never_grows_past_its_room() {
        let image: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut tail = Tail::sized(300, 200);
        let mut offset = 0;
        for (n, len) in [50usize, 200, 130, 200, 1, 199, 77].iter().cycle().take(40).enumerate() {
            let len = (*len).min(image.len() - offset);
            if offset >= 300 {
                let extent = Extent { offset: offset as u64 - 300, length: 300 };
                assert_eq!(tail.get(0, extent), Some(&image[offset - 300..offset]), "operation {n}");
            }
            tail.record(0, offset as u64, &image[offset..offset + len]);
            offset += len;
            assert!(tail.buf.capacity() <= 300 + 300, "capacity {} after operation {n}", tail.buf.capacity());
        }
        tail.record(1, 0, &image[..10]);
        assert_eq!(tail.get(0, Extent { offset: offset as u64 - 10, length: 10 }), None, "another image");
        assert_eq!(tail.get(1, Extent { offset: 0, length: 10 }), Some(&image[..10]));
    }
}
