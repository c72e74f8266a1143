//! U-Boot environment with RAUC's variables: `BOOT_ORDER="A B"` lists the bootable
//! slots, the primary first; `BOOT_X_LEFT` counts the tries left. fotad adds
//! `BOOT_X_OK=1` for a confirmed slot, which `boot.cmd` boots without spending a try
//! (so power cuts before mark-good cannot abandon it, unlike rauc/rauc#490):
//!
//! | state | in `BOOT_ORDER` | `BOOT_X_OK` | `BOOT_X_LEFT` |
//! |---|---|---|---|
//! | good | yes | 1 | 3 |
//! | trial, n tries left | yes | 0 | n |
//! | bad | no | 0 | 0 |
//!
//! An environment without `BOOT_ORDER` (or with an empty one) is the factory state
//! `boot.cmd` starts from: A primary and good, B bad. fotad never writes both slots
//! bad, so it never writes an empty `BOOT_ORDER`.

use std::path::PathBuf;

use super::uboot_env::{parse_config, Env};
use super::vars::Vars;
use super::{Backend, BootError, BootState, SlotState};
use crate::slot::Slot;

/// `BOOT_X_LEFT` written for a good slot (RAUC's default, so RAUC's tools agree).
const GOOD_LEFT: u8 = 3;

/// The U-Boot backend, located by a `fw_env.config`.
#[derive(Debug, Clone)]
pub struct UBoot {
    pub config: PathBuf,
}

impl UBoot {
    pub fn new(config: impl Into<PathBuf>) -> UBoot {
        UBoot { config: config.into() }
    }

    fn load(&self) -> Result<Env, BootError> {
        Env::read(parse_config(&self.config)?)
    }
}

fn to_state(vars: &Vars) -> BootState {
    let has_order = vars.get("BOOT_ORDER").is_some_and(|o| !o.trim().is_empty());
    if !has_order {
        return BootState::FACTORY;
    }
    let order = vars.order("BOOT_ORDER");
    let state = |slot: Slot| {
        let ok = vars.number(&format!("BOOT_{slot}_OK")) == Some(1);
        let left = vars.number(&format!("BOOT_{slot}_LEFT")).unwrap_or(0);
        match (order.contains(&slot), ok) {
            (false, _) => SlotState::Bad,
            (true, true) => SlotState::Good,
            (true, false) => SlotState::Trial { tries_left: left },
        }
    };
    BootState { primary: order.first().copied(), a: state(Slot::A), b: state(Slot::B) }
}

fn apply(vars: &mut Vars, state: &BootState) {
    let order: Vec<&str> =
        state.order().into_iter().filter(|s| state.get(*s) != SlotState::Bad).map(Slot::name).collect();
    vars.set("BOOT_ORDER", order.join(" "));
    for slot in Slot::ALL {
        let (ok, left) = match state.get(slot) {
            SlotState::Good => (1, GOOD_LEFT),
            SlotState::Bad => (0, 0),
            SlotState::Trial { tries_left } => (0, tries_left),
        };
        vars.set(&format!("BOOT_{slot}_OK"), ok.to_string());
        vars.set(&format!("BOOT_{slot}_LEFT"), left.to_string());
    }
}

impl Backend for UBoot {
    fn name(&self) -> &'static str {
        "uboot"
    }

    fn read(&self) -> Result<BootState, BootError> {
        Ok(to_state(&self.load()?.vars))
    }

    fn write(&self, state: &BootState) -> Result<(), BootError> {
        let mut env = self.load()?;
        apply(&mut env.vars, state);
        env.write()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_the_variables() {
        let states = [
            BootState { primary: Some(Slot::B), a: SlotState::Good, b: SlotState::Trial { tries_left: 3 } },
            BootState { primary: Some(Slot::A), a: SlotState::Good, b: SlotState::Bad },
            BootState { primary: Some(Slot::B), a: SlotState::Good, b: SlotState::Good },
        ];
        for st in states {
            let mut vars = Vars::default();
            apply(&mut vars, &st);
            assert_eq!(to_state(&vars), st);
        }
    }

    #[test]
    fn bad_slots_leave_the_order_and_blank_env_is_factory_state() {
        let mut vars = Vars::default();
        assert_eq!(to_state(&vars).a, SlotState::Good);
        apply(&mut vars, &BootState { primary: Some(Slot::A), a: SlotState::Good, b: SlotState::Bad });
        assert_eq!(vars.get("BOOT_ORDER"), Some("A"));
    }
}
