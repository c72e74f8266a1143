//! The syncer: a thread beside the installer's operation loop that syncs the
//! targets, writes the checkpoints, and reads back each synced stretch of an
//! image as the install goes on, so the loop only decompresses and writes,
//! and the final check against the manifest has only the last stretch left
//! to read.
//!
//! After every operation the loop tells it how far the install is and how far
//! each image is written contiguously from its start. The syncer syncs the
//! targets every [`SYNC_EVERY`], or once [`SYNC_BYTES`] wait, drops the
//! synced stretch from the page cache, reads it back from the device into a
//! running SHA-256 of the image, and writes a checkpoint whose synced point is
//! the one just reached (fsynced at the first sync, then at most every
//! [`DURABLE_CHECKPOINT_EVERY`]). Between syncs it writes the
//! checkpoint of the latest operation at most every [`CHECKPOINT_EVERY`]: a
//! killed install redoes at most that much, a cut stream nothing (the last
//! checkpoint is written when the loop hangs up).
//!
//! An operation that rewrites bytes below what the syncer was given starts
//! that image's hash over (a new generation), so every byte hashed is the byte
//! the image ends with.

use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::record::{Checkpoint, Records};
use super::target::OpenImage;
use crate::error::InstallError;
use crate::package::ImageDigest;

/// How often the targets are synced: often enough that the stretch left for
/// the end is small, seldom enough that the journal commits cost little.
const SYNC_EVERY: Duration = Duration::from_millis(100);

/// How much written data makes a sync due before [`SYNC_EVERY`] is up: the
/// stretch left to read back at the end stays short when writing is fast.
const SYNC_BYTES: u64 = 16 << 20;

/// How often the checkpoint is made durable (fsynced): at the install's first
/// sync, then at most this often. In between it is replaced atomically
/// without fsyncs, and only a restart in the same boot uses its part beyond
/// the synced point.
const DURABLE_CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// How often the checkpoint is written between syncs.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);

/// How far the install is: operations before `next_op` (package bytes
/// before `next_offset`) are written, and image `i` is written contiguously
/// up to `covered[i]` in generation `generation[i]`.
#[derive(Debug, Clone)]
pub(super) struct Upto {
    pub next_op: usize,
    pub next_offset: u64,
    pub covered: Vec<u64>,
    pub generation: Vec<u64>,
}

/// The loop's news for the syncer.
#[derive(Debug)]
pub(super) enum Written {
    Upto(Upto),
    /// The install stops here (cancelled): sync and write a durable checkpoint.
    Stop,
    /// Nothing more will be written: sync, read the rest back and check.
    Finish,
}

/// How the syncer ended, when it did not fail.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// After `Finish`: every image matches the manifest.
    Verified,
    /// After `Stop`: synced, with a durable checkpoint.
    Stopped,
    /// The loop hung up (it failed): the latest checkpoint is written.
    Abandoned,
}

/// Contiguous coverage of one image, from its start, by the operations written.
#[derive(Debug, Default)]
pub(super) struct Coverage {
    /// Bytes `[0, end)` are written.
    end: u64,
    /// Written stretches beyond a gap: start → end.
    ahead: BTreeMap<u64, u64>,
    /// Bumped when a write lands below what the syncer was given.
    generation: u64,
    /// What the syncer was last given.
    claimed: u64,
}

impl Coverage {
    /// Records a write of `[start, start + len)`; call it before writing.
    pub fn add(&mut self, start: u64, len: u64) {
        if start < self.claimed {
            self.generation += 1;
            self.claimed = 0;
        }
        let end = start.saturating_add(len);
        if start > self.end {
            let slot = self.ahead.entry(start).or_insert(end);
            *slot = (*slot).max(end);
            return;
        }
        self.end = self.end.max(end);
        while let Some((&s, &e)) = self.ahead.first_key_value() {
            if s > self.end {
                break;
            }
            self.ahead.remove(&s);
            self.end = self.end.max(e);
        }
    }

    /// The contiguous end and its generation, as given to the syncer.
    pub fn claim(&mut self) -> (u64, u64) {
        self.claimed = self.end;
        (self.end, self.generation)
    }
}

/// The running hash of one image over `[0, hashed)`.
struct Running {
    generation: u64,
    hashed: u64,
    hasher: Sha256,
}

impl Running {
    fn new(generation: u64) -> Self {
        Running { generation, hashed: 0, hasher: Sha256::new() }
    }
}

/// What the syncer waits for.
enum Event {
    News(Written),
    /// Nothing came before the next sync or checkpoint was due.
    Quiet,
    /// The loop hung up.
    HungUp,
}

/// The syncer's state.
pub(super) struct Syncer<'a> {
    images: &'a [OpenImage],
    expected: Vec<ImageDigest>,
    records: &'a Records,
    /// The checkpoint being kept: its synced point and the latest one written.
    checkpoint: Checkpoint,
    running: Vec<Running>,
    buf: Vec<u8>,
    last_sync: Instant,
    last_saved: Instant,
    /// When the checkpoint was last made durable; `None` before the first
    /// sync, which makes it durable at once (a power cut early in the install
    /// then resumes too).
    last_durable: Option<Instant>,
    /// The latest news not yet synced, and whether its checkpoint is written.
    pending: Option<Upto>,
    saved: bool,
}

impl<'a> Syncer<'a> {
    /// A syncer over `images`, keeping `checkpoint` (whose `next_op` and
    /// synced point are where the install starts).
    pub fn new(
        images: &'a [OpenImage],
        expected: Vec<ImageDigest>,
        records: &'a Records,
        checkpoint: Checkpoint,
    ) -> Self {
        let now = Instant::now();
        Syncer {
            running: images.iter().map(|_| Running::new(0)).collect(),
            images,
            expected,
            records,
            checkpoint,
            buf: vec![0u8; 1 << 20],
            last_sync: now,
            last_saved: now,
            last_durable: None,
            pending: None,
            saved: true,
        }
    }

    /// The thread's body: runs until `Finish`, `Stop` or a hang-up, or until a
    /// sync, a read or a checkpoint fails (the loop then finds it gone).
    pub fn run(mut self, news: &Receiver<Written>) -> Result<Outcome, InstallError> {
        loop {
            self.catch_up()?;
            let mut event = match self.due() {
                None => news.recv().map_or(Event::HungUp, Event::News),
                Some(due) => match news.recv_timeout(due.saturating_duration_since(Instant::now())) {
                    Ok(written) => Event::News(written),
                    Err(RecvTimeoutError::Timeout) => Event::Quiet,
                    Err(RecvTimeoutError::Disconnected) => Event::HungUp,
                },
            };
            // Everything that queued up while syncing is taken at once: the
            // next sync covers it all.
            while !matches!(event, Event::Quiet) {
                if let Some(outcome) = self.take(event)? {
                    return Ok(outcome);
                }
                event = match news.try_recv() {
                    Ok(written) => Event::News(written),
                    Err(TryRecvError::Empty) => Event::Quiet,
                    Err(TryRecvError::Disconnected) => Event::HungUp,
                };
            }
        }
    }

    /// Syncs or writes the checkpoint if either is due.
    fn catch_up(&mut self) -> Result<(), InstallError> {
        let now = Instant::now();
        if self.sync_due().is_some_and(|due| now >= due) {
            self.sync()
        } else if !self.saved && now >= self.last_saved + CHECKPOINT_EVERY {
            self.save(false)
        } else {
            Ok(())
        }
    }

    /// When the next sync or checkpoint is due, if any is.
    fn due(&self) -> Option<Instant> {
        let sync = self.sync_due();
        let save = (!self.saved).then_some(self.last_saved + CHECKPOINT_EVERY);
        sync.into_iter().chain(save).min()
    }

    /// When the next sync is due, if anything waits for one: [`SYNC_EVERY`]
    /// after the last, or now when [`SYNC_BYTES`] wait.
    fn sync_due(&self) -> Option<Instant> {
        let upto = self.pending.as_ref()?;
        let waiting: u64 = self
            .running
            .iter()
            .zip(upto.covered.iter().zip(&upto.generation))
            .map(|(running, (&covered, &generation))| {
                covered.saturating_sub(if running.generation == generation { running.hashed } else { 0 })
            })
            .sum();
        Some(if waiting >= SYNC_BYTES { self.last_sync } else { self.last_sync + SYNC_EVERY })
    }

    /// Takes one event; `Some` ends the syncer.
    fn take(&mut self, event: Event) -> Result<Option<Outcome>, InstallError> {
        match event {
            Event::News(Written::Upto(upto)) => {
                self.checkpoint.next_op = upto.next_op;
                self.checkpoint.next_offset = upto.next_offset;
                (self.pending, self.saved) = (Some(upto), false);
                Ok(None)
            }
            Event::News(Written::Stop) => {
                self.sync()?;
                self.save(true)?;
                Ok(Some(Outcome::Stopped))
            }
            Event::News(Written::Finish) => self.finish().map(|()| Some(Outcome::Verified)),
            Event::HungUp if !self.saved => self.save(false).map(|()| Some(Outcome::Abandoned)),
            Event::HungUp => Ok(Some(Outcome::Abandoned)),
            Event::Quiet => Ok(None),
        }
    }

    /// Syncs every target, reads back what each image gained since the last
    /// sync, and writes the checkpoint with its new synced point.
    fn sync(&mut self) -> Result<(), InstallError> {
        let Some(upto) = self.pending.take() else { return Ok(()) };
        for image in self.images {
            image.sync()?;
        }
        self.last_sync = Instant::now();
        self.checkpoint.durable_op = upto.next_op;
        self.checkpoint.durable_offset = upto.next_offset;
        for (i, image) in self.images.iter().enumerate() {
            let running = &mut self.running[i];
            if running.generation != upto.generation[i] {
                *running = Running::new(upto.generation[i]);
            }
            let end = upto.covered[i].min(self.expected[i].size);
            if end > running.hashed {
                image.read_back(&mut running.hasher, running.hashed, end, &mut self.buf)?;
                running.hashed = end;
            }
        }
        self.save(self.durable_due(self.last_sync))
    }

    /// Whether a checkpoint saved at `now` is made durable.
    fn durable_due(&self, now: Instant) -> bool {
        self.last_durable.map_or(true, |last| now >= last + DURABLE_CHECKPOINT_EVERY)
    }

    fn save(&mut self, durable: bool) -> Result<(), InstallError> {
        self.records.save_checkpoint(&self.checkpoint, durable)?;
        self.last_saved = Instant::now();
        self.saved = true;
        if durable {
            self.last_durable = Some(self.last_saved);
        }
        Ok(())
    }

    /// Syncs every target fully, reads back the rest of each image and
    /// compares the image's SHA-256 with the manifest's.
    fn finish(&mut self) -> Result<(), InstallError> {
        for image in self.images {
            image.sync_all()?;
        }
        for ((image, expected), running) in self.images.iter().zip(&self.expected).zip(self.running.iter_mut()) {
            image.read_back(&mut running.hasher, running.hashed, expected.size, &mut self.buf)?;
            let found = hex::encode(std::mem::take(&mut running.hasher).finalize());
            if found != expected.sha256 {
                return Err(InstallError::VerifyFailed {
                    class: image.class.clone(),
                    path: image.target_path.clone(),
                    expected: expected.sha256.clone(),
                    found,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_first_sync_makes_the_checkpoint_durable_and_later_ones_at_most_once_a_second() {
        let dir = tempfile::tempdir().unwrap();
        let records = Records::new(dir.path());
        let checkpoint = Checkpoint {
            package: "p".into(),
            version: "2".into(),
            next_op: 0,
            next_offset: 100,
            package_size: 9000,
            boot_id: None,
            durable_op: 0,
            durable_offset: 100,
        };
        let mut syncer = Syncer::new(&[], Vec::new(), &records, checkpoint);
        let upto = |op: usize| Upto { next_op: op, next_offset: 100 * op as u64, covered: vec![], generation: vec![] };
        // The first sync, however soon after the start: a power cut right
        // after it resumes from it.
        syncer.pending = Some(upto(1));
        syncer.sync().unwrap();
        assert_eq!(syncer.last_durable, Some(syncer.last_saved), "the first sync's checkpoint was not made durable");
        let first = syncer.last_saved;
        assert_eq!(records.checkpoint().unwrap().map(|c| c.durable_op), Some(1));
        // The next one, at once: written, not fsynced.
        syncer.pending = Some(upto(2));
        syncer.sync().unwrap();
        assert_eq!(syncer.last_durable, Some(first), "a sync within a second of the last durable one fsynced");
        assert!(syncer.durable_due(first + DURABLE_CHECKPOINT_EVERY));
    }

    #[test]
    fn coverage_grows_over_gaps_and_a_rewrite_below_the_claim_starts_a_new_generation() {
        let mut c = Coverage::default();
        c.add(0, 10);
        c.add(20, 10);
        assert_eq!(c.claim(), (10, 0), "a gap stops the contiguous end");
        c.add(10, 10);
        assert_eq!(c.claim(), (30, 0), "filling the gap joins the stretch beyond it");
        c.add(30, 5);
        assert_eq!(c.claim(), (35, 0), "writes at or past the claim keep the generation");
        c.add(5, 5);
        assert_eq!(c.claim(), (35, 1), "a rewrite below the claim invalidates what was hashed");
    }
}
