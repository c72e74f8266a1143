//! Keeping outgoing messages under the peer's MaxMsgSize.

use super::{Codec, Command, Message, SyncmlError};

/// Room left in a message being built. The envelope (header, body tags,
/// `<Final/>`) is measured once; commands are added while they fit.
#[derive(Debug, Clone)]
pub struct MessageBudget {
    codec: Codec,
    max: usize,
    used: usize,
    /// The envelope alone.
    envelope: usize,
}

impl MessageBudget {
    /// `envelope` is the message with its header and an empty body.
    pub fn new(codec: Codec, max: usize, envelope: &Message) -> Result<Self, SyncmlError> {
        let mut probe = envelope.clone();
        probe.body.commands.clear();
        probe.body.final_flag = true;
        let used = codec.encode(&probe)?.len();
        Ok(MessageBudget { codec, max, used, envelope: used })
    }

    /// Whether `c` fits into a message holding nothing else but `reserve`
    /// bytes of other commands.
    pub fn fits_alone(&self, c: &Command, reserve: usize) -> Result<bool, SyncmlError> {
        Ok(self.envelope + reserve + self.codec.command_size(c)? <= self.max)
    }

    pub fn used(&self) -> usize {
        self.used
    }

    pub fn remaining(&self) -> usize {
        self.max.saturating_sub(self.used)
    }

    /// The encoded size of `c` inside a body.
    pub fn size_of(&self, c: &Command) -> Result<usize, SyncmlError> {
        self.codec.command_size(c)
    }

    /// Whether `c` fits in what is left, without accounting for it.
    pub fn fits(&self, c: &Command) -> Result<bool, SyncmlError> {
        Ok(self.used + self.codec.command_size(c)? <= self.max)
    }

    /// Accounts for `c` if it fits; false (and nothing changes) when it does not.
    pub fn try_add(&mut self, c: &Command) -> Result<bool, SyncmlError> {
        let n = self.codec.command_size(c)?;
        if self.used + n > self.max {
            return Ok(false);
        }
        self.used += n;
        Ok(true)
    }

    /// Accounts for `c` unconditionally (a message needs at least one command).
    pub fn force_add(&mut self, c: &Command) -> Result<(), SyncmlError> {
        self.used += self.codec.command_size(c)?;
        Ok(())
    }
}
