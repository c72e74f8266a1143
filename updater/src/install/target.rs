//! Opening target and source images (files or block devices), writing
//! operation output, and reading a written image back to verify it.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};

use crate::ops::DIRECT_ALIGN;

use crate::error::InstallError;
use crate::package::Image;

const ENOSPC: i32 = 28;

/// Where one image class goes: the target (inactive slot) and, for deltas,
/// the source it applies to (the booted slot, only ever read).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImageTarget {
    pub target: PathBuf,
    pub source: Option<PathBuf>,
}

/// An opened image: target for writing, source for reading.
#[derive(Debug)]
pub struct OpenImage {
    pub class: String,
    pub target_path: PathBuf,
    pub target: File,
    pub source: Option<File>,
    /// The target opened again with O_DIRECT (where its file system takes
    /// that): aligned writes go around the page cache.
    direct: Option<File>,
    /// Set when the kernel refused an O_DIRECT write after all.
    direct_refused: AtomicBool,
    /// The image size the manifest gives.
    pub size: u64,
}

impl OpenImage {
    /// Opens the target and source of `image` and checks that they fit, writing
    /// nothing (a missing target file is created empty; [`OpenImage::grow`]
    /// gives it its size once the install may write).
    pub fn open(image: &Image, paths: &ImageTarget) -> Result<OpenImage, InstallError> {
        let class = image.class.clone();
        let target_path = paths.target.clone();
        let io = |what, path: &Path| {
            let path = path.to_path_buf();
            move |source| InstallError::Io { what, path, source }
        };
        let source = match (&image.source, &paths.source) {
            (None, _) => None,
            (Some(_), None) => return Err(InstallError::NoSource { class }),
            (Some(digest), Some(path)) => {
                let file = open_source(path).map_err(io("opening source image", path))?;
                let size = device_size(&file).map_err(io("sizing source image", path))?;
                if size < digest.size {
                    let why = format!("it holds {size} bytes, the delta reads {}", digest.size);
                    return Err(InstallError::WrongSource { class, path: path.clone(), why });
                }
                Some(file)
            }
        };
        let target = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&target_path)
            .map_err(io("opening target", &target_path))?;
        if let (Some(src), Some(src_path)) = (&source, &paths.source) {
            if same_file(src, &target).map_err(io("inspecting target", &target_path))? {
                return Err(InstallError::TargetIsSource { path: src_path.clone() });
            }
        }
        let needed = image.target.size;
        let available = capacity(&target).map_err(io("sizing target", &target_path))?;
        if available < needed {
            return Err(InstallError::TargetTooSmall { class, path: target_path, needed, available });
        }
        // Only a full image is written with O_DIRECT (the case measured in
        // BENCHMARKS.md); a delta's writes go through the page cache as before.
        let direct = match &image.source {
            None => open_direct(&target_path).map_err(io("opening target", &target_path))?,
            Some(_) => None,
        };
        let direct_refused = AtomicBool::new(false);
        Ok(OpenImage { class, target_path, target, source, direct, direct_refused, size: needed })
    }

    /// Grows a regular-file target shorter than the image to the image size
    /// (checked by [`OpenImage::open`]); a block device is left as it is.
    pub fn grow(&self) -> Result<(), InstallError> {
        let io = |source| InstallError::Io { what: "sizing target", path: self.target_path.clone(), source };
        let meta = self.target.metadata().map_err(io)?;
        if meta.is_file() && meta.len() < self.size {
            self.target.set_len(self.size).map_err(|e| match e.raw_os_error() {
                Some(ENOSPC) => InstallError::NoSpace { path: self.target_path.clone() },
                _ => io(e),
            })?;
        }
        Ok(())
    }

    /// Writes `data` at `offset` of the target: with O_DIRECT where `data`
    /// and `offset` are aligned (up to the last whole block), which spares the
    /// copy into the page cache; the rest through the page cache.
    pub fn write_at(&self, data: &[u8], offset: u64) -> Result<(), InstallError> {
        let mut done = 0;
        let whole = data.len() - data.len() % DIRECT_ALIGN;
        let aligned = data.as_ptr().align_offset(DIRECT_ALIGN) == 0 && offset % DIRECT_ALIGN as u64 == 0;
        if let (Some(direct), true, true) = (self.direct(), aligned, whole > 0) {
            match direct.write_all_at(&data[..whole], offset) {
                Ok(()) => done = whole,
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => self.refuse_direct(),
                Err(e) => return Err(self.write_error(e)),
            }
        }
        self.target.write_all_at(&data[done..], offset + done as u64).map_err(|e| self.write_error(e))
    }

    fn direct(&self) -> Option<&File> {
        self.direct.as_ref().filter(|_| !self.direct_refused.load(Ordering::Relaxed))
    }

    /// From now on the target is written through the page cache only.
    fn refuse_direct(&self) {
        self.direct_refused.store(true, Ordering::Relaxed);
    }

    /// Reads bytes `[offset, offset + buf.len())` of the target back (what
    /// earlier operations wrote; a prefix after a resume).
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<(), InstallError> {
        let io = |source| InstallError::Io { what: "reading target", path: self.target_path.clone(), source };
        self.target.read_exact_at(buf, offset).map_err(io)
    }

    /// Makes everything written so far durable.
    pub fn sync(&self) -> Result<(), InstallError> {
        self.target.sync_data().map_err(|e| self.write_error(e))
    }

    fn write_error(&self, source: std::io::Error) -> InstallError {
        if source.raw_os_error() == Some(ENOSPC) {
            return InstallError::NoSpace { path: self.target_path.clone() };
        }
        InstallError::Io { what: "writing target", path: self.target_path.clone(), source }
    }

    /// Makes everything written so far durable, with the file's size.
    pub fn sync_all(&self) -> Result<(), InstallError> {
        self.target.sync_all().map_err(|e| self.write_error(e))
    }

    /// Feeds bytes `[from, to)` of the target to `hasher`, read back from the
    /// device: they must be synced, and are dropped from the page cache first.
    /// (Read through the page cache, whose read-ahead keeps the device busy
    /// while the bytes before are hashed.)
    pub fn read_back(&self, hasher: &mut Sha256, from: u64, to: u64, buf: &mut [u8]) -> Result<(), InstallError> {
        if from >= to {
            return Ok(());
        }
        let io = |source| InstallError::Io { what: "reading back", path: self.target_path.clone(), source };
        drop_cache(&self.target, from, to.saturating_sub(from));
        hash_range(&self.target, hasher, from, to, buf).map_err(io)
    }
}

/// Opens a target for O_DIRECT writes, or gives `None` where its
/// file system refuses O_DIRECT (EINVAL; see [`open_source`]).
fn open_direct(path: &Path) -> std::io::Result<Option<File>> {
    match OpenOptions::new().write(true).custom_flags(libc::O_DIRECT).open(path) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(None),
        r => r.map(Some),
    }
}

/// Opens a source image to be read around the page cache (`O_DIRECT`) where
/// its file system allows that: the cached blocks of a mounted file system can
/// differ from the disk (ext4 changes its journal superblock in memory even
/// when mounted read-only), and a delta applies to the bytes on the disk.
/// Where O_DIRECT is refused (EINVAL: tmpfs before Linux 6.6, some FUSE file
/// systems) the image is opened for buffered reads.
pub fn open_source(path: &Path) -> std::io::Result<File> {
    match OpenOptions::new().read(true).custom_flags(libc::O_DIRECT).open(path) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => File::open(path),
        r => r,
    }
}

/// SHA-256 (hex) of the first `size` bytes of `file`.
pub fn hash_prefix(file: &File, size: u64) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    hash_range(file, &mut hasher, 0, size, &mut vec![0u8; 1 << 20])?;
    Ok(hex::encode(hasher.finalize()))
}

/// Feeds bytes `[from, to)` of `file` to `hasher`, read through `buf`.
fn hash_range(file: &File, hasher: &mut Sha256, from: u64, to: u64, buf: &mut [u8]) -> std::io::Result<()> {
    let mut at = from;
    while at < to {
        let want = buf.len().min(usize::try_from(to - at).unwrap_or(usize::MAX));
        let n = file.read_at(&mut buf[..want], at)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        hasher.update(&buf[..n]);
        at += n as u64;
    }
    Ok(())
}

fn drop_cache(file: &File, offset: u64, len: u64) {
    // Advisory: if the kernel ignores it, the read-back still checks the bytes.
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else { return };
    let _ = nix::fcntl::posix_fadvise(
        std::os::fd::AsRawFd::as_raw_fd(file),
        offset,
        len,
        nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED,
    );
}

/// Size of a regular file or a block device.
pub fn device_size(file: &File) -> std::io::Result<u64> {
    let meta = file.metadata()?;
    if meta.is_file() {
        return Ok(meta.len());
    }
    let mut f = file;
    f.seek(SeekFrom::End(0))
}

fn same_file(a: &File, b: &File) -> std::io::Result<bool> {
    let (a, b) = (a.metadata()?, b.metadata()?);
    let same_inode = a.dev() == b.dev() && a.ino() == b.ino();
    let same_device = a.rdev() != 0 && a.rdev() == b.rdev();
    Ok(same_inode || same_device)
}

/// How large an image `target` can take: a block device its size; a regular
/// file (a file slot) its size plus the space its filesystem has left for it
/// to grow into.
fn capacity(target: &File) -> std::io::Result<u64> {
    let meta = target.metadata()?;
    if !meta.is_file() {
        return device_size(target);
    }
    let fs = nix::sys::statvfs::fstatvfs(target).map_err(std::io::Error::from)?;
    // The field types are 32 bits wide on some 32-bit targets.
    #[allow(clippy::useless_conversion)]
    let free = u64::from(fs.blocks_available()).saturating_mul(u64::from(fs.fragment_size()));
    Ok(meta.len().saturating_add(free))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::package::ImageDigest;

    /// Bytes of `path` in the page cache, by util-linux `fincore`.
    fn cached(path: &Path) -> u64 {
        let out = std::process::Command::new("fincore")
            .args(["--bytes", "--noheadings", "--raw", "--output", "RES"])
            .arg(path)
            .output()
            .expect("fincore (util-linux) runs");
        assert!(out.status.success(), "fincore: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    }

    #[test]
    fn aligned_writes_go_around_the_page_cache_and_the_rest_through_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("slot.img");
        let size = 3 << 20;
        let image = Image {
            class: "rootfs".into(),
            target: ImageDigest { size, sha256: String::new() },
            source: None,
            operations: Vec::new(),
        };
        let open = OpenImage::open(&image, &ImageTarget { target: path.clone(), source: None }).unwrap();
        assert!(open.direct.is_some(), "the test directory's file system must take O_DIRECT");
        open.grow().unwrap();
        let bytes: Vec<u8> = (0..size as usize + 2 * DIRECT_ALIGN).map(|i| (i * 31 % 253) as u8).collect();
        let skew = bytes.as_ptr().align_offset(DIRECT_ALIGN);
        let aligned = &bytes[skew..skew + (1 << 20)];

        open.write_at(aligned, 1 << 20).unwrap();
        assert_eq!(cached(&path), 0, "an aligned write went through the page cache");
        // Not a whole number of blocks: the last part goes through the cache.
        open.write_at(&aligned[..10_000], 2 << 20).unwrap();
        assert_eq!(cached(&path), 4096, "only the partial block is cached");
        // A buffer or offset off the alignment: all through the cache.
        open.write_at(&bytes[skew + 1..skew + 1 + 8192], 0).unwrap();
        open.write_at(&aligned[..8192], 100_000).unwrap();
        assert_eq!(cached(&path), 4096 + 8192 + 3 * 4096, "unaligned writes are cached");

        let mut want = vec![0u8; size as usize];
        want[1 << 20..2 << 20].copy_from_slice(aligned);
        want[2 << 20..(2 << 20) + 10_000].copy_from_slice(&aligned[..10_000]);
        want[..8192].copy_from_slice(&bytes[skew + 1..skew + 1 + 8192]);
        want[100_000..108_192].copy_from_slice(&aligned[..8192]);
        assert!(std::fs::read(&path).unwrap() == want, "the file holds other bytes than written");
    }
}
