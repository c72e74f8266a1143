//! The SIM thread: waits for reader and card events (`SCardGetStatusChange`
//! on every reader plus the PnP pseudo-reader), (re)reads the card after
//! every insertion, removal or reset, polls STATUS for proactive commands,
//! and serves the handle's requests. All PC/SC calls happen here.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pcsc::{ReaderState, State};

use super::apdu::{Channel, Dialect};
use super::card::{self, PcscCard};
use super::error::SimError;
use super::files;
use super::handle::{Request, Shared, SimDeps};
use super::identity::{Identity, IdentityStore};
use super::pin::{self, PinState};
use super::settings::SimSettings;
use super::snapshot::SimSnapshot;

/// The longest the thread sleeps before looking at its request queue.
const MAX_WAIT: Duration = Duration::from_millis(500);

/// The connected card and what we know about it.
#[derive(Debug)]
pub(super) struct Connected {
    pub io: PcscCard,
    pub reader: String,
    pub dialect: Dialect,
    pub iccid: String,
    pub pin: PinState,
    pub event_count: u32,
}

/// The worker's state.
pub(super) struct Worker {
    pub ctx: pcsc::Context,
    pub settings: SimSettings,
    pub deps: SimDeps,
    pub shared: Arc<Shared>,
    pub card: Option<Connected>,
    states: Vec<ReaderState>,
    pub last_poll: Instant,
    /// ICCID whose PIN file content was rejected: never tried again on it.
    pub pin_file_rejected: Option<String>,
    /// Reader and event count of a card that could not be read.
    failed: Option<(String, u32)>,
    store: IdentityStore,
}

impl Worker {
    pub fn new(ctx: pcsc::Context, settings: SimSettings, deps: SimDeps, shared: Arc<Shared>) -> Worker {
        let store = IdentityStore::new(&deps.state_dir);
        Worker {
            ctx,
            settings,
            deps,
            shared,
            card: None,
            states: vec![ReaderState::new(pcsc::PNP_NOTIFICATION(), State::UNAWARE)],
            last_poll: Instant::now(),
            pin_file_rejected: None,
            failed: None,
            store,
        }
    }

    pub fn run(mut self) {
        while !self.shared.stop.load(Ordering::SeqCst) {
            self.serve_requests();
            self.refresh_readers();
            let wait = self.settings.poll_interval.min(MAX_WAIT);
            match self.ctx.get_status_change(wait, &mut self.states) {
                Ok(()) | Err(pcsc::Error::Timeout) | Err(pcsc::Error::Cancelled) => {}
                Err(e) => {
                    self.note_error(&SimError::Context { op: "SCardGetStatusChange", source: e });
                    std::thread::sleep(wait);
                }
            }
            self.reconcile();
            for st in &mut self.states {
                st.sync_current_state();
            }
            if self.card.is_some() && self.last_poll.elapsed() >= self.settings.poll_interval {
                self.last_poll = Instant::now();
                self.poll_proactive();
            }
        }
        if let Some(c) = self.card.take() {
            c.io.release();
        }
    }

    /// Keeps one `ReaderState` per reader (plus PnP), moving known states
    /// over so that `get_status_change` reports only real changes.
    fn refresh_readers(&mut self) {
        let names = self.ctx.list_readers_owned().unwrap_or_default();
        let same = names.len() + 1 == self.states.len()
            && names.iter().zip(&self.states[1..]).all(|(n, s)| n.as_c_str() == s.name());
        if same {
            return;
        }
        let mut old = std::mem::take(&mut self.states);
        let pnp = old.remove(0);
        self.states = vec![pnp];
        for name in names {
            match old.iter().position(|s| s.name() == name.as_c_str()) {
                Some(i) => self.states.push(old.swap_remove(i)),
                None => self.states.push(ReaderState::new(name, State::UNAWARE)),
            }
        }
    }

    /// The reader to use: the configured one, else the first with a card.
    fn chosen_reader(&self) -> Option<(String, u32)> {
        let readers = self.states.iter().skip(1).filter(|s| s.event_state().contains(State::PRESENT));
        let mut readers = readers.filter(|s| !s.event_state().contains(State::MUTE));
        let found = match &self.settings.reader {
            Some(want) => readers.find(|s| s.name().to_string_lossy() == want.as_str()),
            None => readers.next(),
        };
        found.map(|s| (s.name().to_string_lossy().into_owned(), s.event_count()))
    }

    /// Drops a card that left (or was reset), connects a card that came.
    fn reconcile(&mut self) {
        let chosen = self.chosen_reader();
        let gone = match (&self.card, &chosen) {
            (Some(c), Some((r, n))) => *r != c.reader || *n != c.event_count,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if gone {
            self.drop_card();
        }
        let Some((reader, count)) = chosen else { return };
        let failed_before = self.failed.as_ref() == Some(&(reader.clone(), count));
        if self.card.is_none() && !failed_before {
            if let Err(e) = self.connect(&reader, count) {
                // A card we cannot read is not hammered: not again until it
                // is reinserted (the event count changes). A removal during
                // the read (also seen right after an insertion) is retried.
                self.card = None;
                if !matches!(e, SimError::Removed { .. }) {
                    self.failed = Some((reader, count));
                }
                self.fail(&e);
            }
        }
    }

    pub fn drop_card(&mut self) {
        if let Some(c) = self.card.take() {
            c.io.release();
        }
        self.shared.update(|s| {
            let last_error = s.last_error.take();
            *s = SimSnapshot { generation: s.generation, last_error, ..SimSnapshot::default() };
        });
    }

    /// Notes `e`; a removal also forgets the card.
    pub fn fail(&mut self, e: &SimError) {
        if matches!(e, SimError::Removed { .. }) {
            self.drop_card();
        }
        self.note_error(e);
    }

    pub fn note_error(&self, e: &SimError) {
        let text = e.to_string();
        self.shared.update(|s| s.last_error = Some(text));
    }

    /// Connects, reads identity, PIN state (PIN file), gate; records the
    /// identity (SIM-change alert); sends TERMINAL PROFILE.
    fn connect(&mut self, reader: &str, event_count: u32) -> Result<(), SimError> {
        self.shared.update(|s| s.last_error = None);
        let mut io = PcscCard::connect(&self.ctx, reader)?;
        let mut ch = Channel::new(&mut io, Dialect::Uicc);
        let dialect = files::detect(&mut ch)?;
        let iccid = card::read_iccid(&mut ch)?;
        let mut pin = pin::query(&mut ch, card::DF_GSM)?;
        pin = self.pin_from_file(&mut ch, &iccid, pin)?;
        self.card = Some(Connected { io, reader: reader.to_string(), dialect, iccid, pin, event_count });
        self.reread()?;
        self.terminal_profile()
    }

    /// Tries the PIN file once per card, only with two or more tries left.
    fn pin_from_file(&mut self, ch: &mut Channel<'_>, iccid: &str, pin: PinState) -> Result<PinState, SimError> {
        let (PinState::Required { tries }, Some(path)) = (pin, self.settings.pin_file.clone()) else {
            return Ok(pin);
        };
        if tries < 2 || self.pin_file_rejected.as_deref() == Some(iccid) {
            return Ok(pin);
        }
        let value = match pin::read_pin_file(&path) {
            Ok(v) => v,
            Err(e) => {
                self.note_error(&e);
                return Ok(pin);
            }
        };
        match pin::verify(ch, &value, card::DF_GSM) {
            Ok(()) => Ok(PinState::Verified),
            Err(SimError::WrongPin { tries, .. }) => {
                self.pin_file_rejected = Some(iccid.to_string());
                self.note_error(&SimError::PinFile {
                    path,
                    reason: format!("the card rejected this PIN ({tries} tries left); not retrying it"),
                });
                Ok(PinState::Required { tries })
            }
            Err(SimError::PinBlocked { .. }) => Ok(PinState::Blocked),
            Err(e) => Err(e),
        }
    }

    /// Reads identity and gate of the connected card into the snapshot and
    /// records the identity.
    pub fn reread(&mut self) -> Result<(), SimError> {
        let Some(c) = self.card.as_mut() else {
            return Ok(());
        };
        let pin = c.pin;
        let mut ch = Channel::new(&mut c.io, c.dialect);
        let info = card::read_all(&mut ch, pin, &self.settings.ef_fota)?;
        let reader = c.reader.clone();
        let identity = Identity { iccid: info.iccid.clone(), imsi: info.imsi.clone() };
        self.store.observe(&identity, &self.deps.alerts, &self.deps.accounts)?;
        self.shared.update(|s| {
            s.present = true;
            s.reader = Some(reader);
            s.dialect = Some(info.dialect);
            s.iccid = Some(info.iccid);
            s.imsi = info.imsi;
            s.msisdn = info.msisdn;
            s.pin = Some(pin);
            s.gate = info.gate;
        });
        Ok(())
    }

    fn serve_requests(&mut self) {
        while let Some(r) = self.shared.pop() {
            match r {
                Request::Pin { pin, reply } => {
                    let _ = reply.send(self.enter_pin(&pin));
                }
                Request::Result { iccid, status } => self.send_result(&iccid, status),
            }
        }
    }
}
