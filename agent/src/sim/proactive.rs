//! The worker's CAT side: TERMINAL PROFILE after connecting, STATUS polls,
//! FETCH on 91xx, the session request and its TERMINAL RESPONSE, the result
//! ENVELOPE; and PIN entry from the handle.

use super::apdu::Channel;
use super::card;
use super::cat::{self, ProactiveCommand, RESULT_BEYOND_CAPABILITIES, RESULT_NOT_UNDERSTOOD, RESULT_OK};
use super::error::SimError;
use super::handle::{SessionReply, SessionRequest};
use super::pin::{self, PinState};
use super::worker::Worker;

/// Proactive commands handled in a row before yielding to card events.
const MAX_FETCH: usize = 4;

impl Worker {
    fn channel(&mut self) -> Option<Channel<'_>> {
        let c = self.card.as_mut()?;
        Some(Channel::new(&mut c.io, c.dialect))
    }

    /// Runs `f` on the connected card; a removal drops the card, other
    /// errors are noted. Returns what `f` returned, when it succeeded.
    fn with_card<T>(&mut self, f: impl FnOnce(&mut Channel<'_>) -> Result<T, SimError>) -> Option<T> {
        let mut ch = self.channel()?;
        let r = f(&mut ch);
        let pending = ch.proactive;
        match r {
            Ok(v) => {
                if pending.is_some() {
                    self.fetch_loop(pending);
                }
                Some(v)
            }
            Err(e) => {
                self.fail(&e);
                None
            }
        }
    }

    pub(super) fn terminal_profile(&mut self) -> Result<(), SimError> {
        self.with_card(|ch| ch.cat_command(0x10, &cat::TERMINAL_PROFILE, "TERMINAL PROFILE").map(|_| ()));
        Ok(())
    }

    /// STATUS; a 91xx answer makes `with_card` fetch the waiting command.
    pub(super) fn poll_proactive(&mut self) {
        self.with_card(|ch| {
            let apdu = [ch.dialect.cat_cla(), 0xF2, 0x00, 0x0C, 0x00];
            ch.command(&apdu, "STATUS").map(|_| ())
        });
    }

    fn fetch_loop(&mut self, mut pending: Option<u8>) {
        for _ in 0..MAX_FETCH {
            let Some(len) = pending else { return };
            let Some(mut ch) = self.channel() else { return };
            let fetched = ch.command_ok(&[ch.dialect.cat_cla(), 0x12, 0, 0, len], "FETCH");
            pending = match fetched {
                Ok(cmd) => self.handle_command(&cmd),
                Err(e) => {
                    self.note_error(&e);
                    None
                }
            };
        }
    }

    /// Answers one proactive command; returns the next pending length.
    fn handle_command(&mut self, raw: &[u8]) -> Option<u8> {
        let cmd = cat::parse(raw)?;
        let request = cmd.sync_request(&self.settings.layout);
        let result = match &request {
            Some(Ok(_)) => RESULT_OK,
            Some(Err(_)) => RESULT_NOT_UNDERSTOOD,
            None => RESULT_BEYOND_CAPABILITIES,
        };
        let next = self.terminal_response(&cmd, result);
        match request {
            Some(Ok(req)) => self.start_session(req),
            Some(Err(reason)) => {
                self.note_error(&SimError::NoCard(format!("session request from the SIM refused: {reason}")))
            }
            None => {}
        }
        next
    }

    fn terminal_response(&mut self, cmd: &ProactiveCommand, result: u8) -> Option<u8> {
        let data = cat::terminal_response(cmd.details, result);
        let mut ch = self.channel()?;
        match ch.cat_command(0x14, &data, "TERMINAL RESPONSE") {
            Ok(_) => ch.proactive,
            Err(e) => {
                self.note_error(&e);
                None
            }
        }
    }

    fn start_session(&mut self, request: cat::SyncRequest) {
        let Some(c) = self.card.as_ref() else { return };
        let reply = SessionReply {
            iccid: c.iccid.clone(),
            wanted: request.want_result,
            shared: self.shared.clone(),
            ctx: self.ctx.clone(),
        };
        (self.deps.start_session)(SessionRequest { request, reply });
    }

    /// ENVELOPE with a session's result, if the same card is still in.
    pub(super) fn send_result(&mut self, iccid: &str, status: u16) {
        if self.card.as_ref().map(|c| c.iccid.as_str()) != Some(iccid) {
            return;
        }
        self.with_card(|ch| {
            ch.cat_command(0xC2, &cat::result_envelope(status), "ENVELOPE (session result)").map(|_| ())
        });
    }

    /// One VERIFY with `pin`; on success the identity is read again.
    /// `Ok` carries the tries counter as the card reports it afterwards (2G),
    /// else as it was before this attempt.
    pub(super) fn enter_pin(&mut self, pin: &str) -> Result<u32, String> {
        let before = match self.card.as_ref().map(|c| c.pin) {
            None => return Err("no SIM in the reader; insert one first".into()),
            Some(PinState::Required { tries }) => tries,
            Some(PinState::Blocked) => 0,
            Some(_) => 3,
        };
        let mut ch = self.channel().ok_or("no SIM in the reader")?;
        let verified = pin::verify(&mut ch, pin, card::DF_GSM).and_then(|()| pin::query(&mut ch, card::DF_GSM));
        let (state, answer) = match verified {
            Ok(PinState::Required { tries }) => (PinState::Verified, Ok(tries)),
            Ok(_) => (PinState::Verified, Ok(before)),
            Err(SimError::WrongPin { tries, reader }) => {
                (PinState::Required { tries }, Err(SimError::WrongPin { tries, reader }.to_string()))
            }
            Err(e @ SimError::PinBlocked { .. }) => (PinState::Blocked, Err(e.to_string())),
            Err(e) => {
                self.fail(&e);
                return Err(e.to_string());
            }
        };
        if let Some(c) = self.card.as_mut() {
            c.pin = state;
        }
        self.shared.update(|s| s.pin = Some(state));
        if state == PinState::Verified {
            if let Err(e) = self.reread() {
                self.note_error(&e);
            }
        }
        answer
    }
}
