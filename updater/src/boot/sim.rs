//! The boot simulator: the slot selection of the shipped boot scripts
//! (`grub.cfg`, `boot.cmd`) and of ChromeOS firmware for GPT attributes, applied to
//! a [`BootState`], plus an in-memory backend that can cut the power at a chosen
//! write. Used by the property tests and `fotad-update simulate-boot`.

use std::sync::{Arc, Mutex, MutexGuard};

use super::{Backend, BootError, BootState, SlotState};
use crate::slot::Slot;

/// What the boot scripts do at power-on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// A bootable slot was found and booted (a slot in trial spent one try).
    Boot(Slot),
    /// No slot is bootable: the scripts fall back to the first slot of the order
    /// as a last resort. Never reached when the update rules are followed.
    Rescue(Slot),
}

/// Applies the selection rule: the primary first, then the other; a good slot
/// boots as is, a slot in trial with tries left spends one (the script saves the
/// environment before booting it).
pub fn select(state: &mut BootState) -> Selection {
    for slot in state.order() {
        match state.get(slot) {
            SlotState::Good => return Selection::Boot(slot),
            SlotState::Trial { tries_left } if tries_left > 0 => {
                state.set(slot, SlotState::Trial { tries_left: tries_left - 1 });
                return Selection::Boot(slot);
            }
            _ => {}
        }
    }
    Selection::Rescue(state.order()[0])
}

/// Simulates one power-on against a real backend: reads, selects, and writes the
/// spent try back when there was one.
pub fn boot_once(backend: &dyn Backend) -> Result<Selection, BootError> {
    let before = backend.read()?;
    let mut after = before;
    let choice = select(&mut after);
    if after != before {
        backend.write(&after)?;
    }
    Ok(choice)
}

#[derive(Debug)]
struct Inner {
    state: BootState,
    writes: usize,
    cut_at: Option<usize>,
}

/// An in-memory bootloader whose writes can fail as by a power cut: the write
/// numbered `cut_at` (0-based, counted since [`SimDisk::cut_power_at`]) and all
/// later ones are lost until [`SimDisk::power_on`].
#[derive(Debug, Clone)]
pub struct SimDisk(Arc<Mutex<Inner>>);

impl SimDisk {
    pub fn new(state: BootState) -> SimDisk {
        SimDisk(Arc::new(Mutex::new(Inner { state, writes: 0, cut_at: None })))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        crate::sync::lock(&self.0)
    }

    /// The persisted state.
    pub fn state(&self) -> BootState {
        self.lock().state
    }

    /// Loses the write numbered `n` from now on and every write after it.
    pub fn cut_power_at(&self, n: usize) {
        let mut inner = self.lock();
        inner.writes = 0;
        inner.cut_at = Some(n);
    }

    /// Powers on again: writes persist again. Returns the boot selection.
    pub fn power_on(&self) -> Selection {
        let mut inner = self.lock();
        inner.cut_at = None;
        select(&mut inner.state)
    }

    /// The power is off (a cut happened and no power-on since).
    pub fn is_cut(&self) -> bool {
        let inner = self.lock();
        inner.cut_at.is_some_and(|c| inner.writes > c)
    }
}

impl Backend for SimDisk {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn read(&self) -> Result<BootState, BootError> {
        Ok(self.lock().state)
    }

    fn write(&self, state: &BootState) -> Result<(), BootError> {
        let mut inner = self.lock();
        let n = inner.writes;
        inner.writes += 1;
        if inner.cut_at.is_some_and(|c| n >= c) {
            return Err(BootError::SimulatedPowerCut(n));
        }
        inner.state = *state;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_slot_boots_without_spending_and_trial_spends_one() {
        let mut st = BootState { primary: Some(Slot::B), a: SlotState::Good, b: SlotState::Trial { tries_left: 2 } };
        assert_eq!(select(&mut st), Selection::Boot(Slot::B));
        assert_eq!(select(&mut st), Selection::Boot(Slot::B));
        assert_eq!(st.b, SlotState::Trial { tries_left: 0 });
        assert_eq!(select(&mut st), Selection::Boot(Slot::A));
        assert_eq!(st.a, SlotState::Good);
        let mut none = BootState { primary: Some(Slot::A), a: SlotState::Bad, b: SlotState::Bad };
        assert_eq!(select(&mut none), Selection::Rescue(Slot::A));
    }

    #[test]
    fn sim_disk_loses_writes_after_the_cut() {
        let disk = SimDisk::new(BootState::FACTORY);
        disk.cut_power_at(1);
        let mut st = BootState::FACTORY;
        st.b = SlotState::Good;
        assert!(disk.write(&st).is_ok());
        st.a = SlotState::Bad;
        assert!(disk.write(&st).is_err());
        assert!(disk.is_cut());
        assert_eq!(disk.state().a, SlotState::Good);
        assert_eq!(disk.state().b, SlotState::Good);
    }
}
