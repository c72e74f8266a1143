//! Session phases with checked transitions.

/// Where a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Nothing sent yet.
    Idle,
    /// Package 1 sent; the server has not accepted our credentials yet.
    Setup,
    /// Credentials accepted; exchanging management packages.
    Management,
    /// Ended normally.
    Finished,
    /// Ended by an error or an abort alert.
    Aborted,
}

/// An illegal phase change (a bug or a protocol violation).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("session cannot go from {from:?} to {to:?}")]
pub struct PhaseError {
    pub from: Phase,
    pub to: Phase,
}

impl Phase {
    /// Moves to `to` if that is a legal step.
    pub fn go(&mut self, to: Phase) -> Result<(), PhaseError> {
        use Phase::*;
        let ok = matches!(
            (*self, to),
            (Idle, Setup) | (Setup, Setup) | (Setup, Management) | (Management, Management) | (Management, Finished)
        ) || (to == Aborted && !matches!(*self, Finished | Aborted));
        if ok {
            *self = to;
            Ok(())
        } else {
            Err(PhaseError { from: *self, to })
        }
    }

    pub fn is_over(self) -> bool {
        matches!(self, Phase::Finished | Phase::Aborted)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn legal_and_illegal_transitions() {
        let mut p = Phase::Idle;
        assert!(p.go(Phase::Management).is_err());
        p.go(Phase::Setup).unwrap();
        p.go(Phase::Setup).unwrap();
        p.go(Phase::Management).unwrap();
        p.go(Phase::Finished).unwrap();
        assert_eq!(p.go(Phase::Aborted), Err(PhaseError { from: Phase::Finished, to: Phase::Aborted }));
        let mut q = Phase::Setup;
        q.go(Phase::Aborted).unwrap();
        assert!(q.is_over());
    }
}
