//! The shipped `boot.cmd` run by real U-Boot (Debian's `u-boot-qemu` build for
//! the QEMU `virt` arm64 machine, under `qemu-system-aarch64`): from every boot
//! state, its hush selection code picks the slot the simulator picks and leaves
//! the same variables. All states run in one U-Boot session: `bootcmd` sets each
//! state's variables (as our U-Boot backend writes them), runs the selection part
//! of boot.cmd, and prints the result. (`saveenv` itself fails on QEMU's emulated
//! flash with this U-Boot, so the saved copy is not checked here; the environment
//! format is checked against libubootenv in `boot_uboot.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{run_tool, s};
use fotad_updater::boot::sim::{select, Selection};
use fotad_updater::boot::uboot::UBoot;
use fotad_updater::boot::{Backend, BootState, SlotState};

const BOOT_CMD: &str = include_str!("../../yocto/meta-fotad/recipes-bsp/u-boot/files/boot.cmd");
const UBOOT_BIN: &str = "/usr/lib/u-boot/qemu_arm64/u-boot.bin";
/// The environment of Debian's qemu_arm64 U-Boot: start of the second flash bank,
/// one copy of 256 KiB.
const ENV_SIZE: usize = 0x40000;
const VARS: [&str; 5] = ["BOOT_ORDER", "BOOT_A_OK", "BOOT_A_LEFT", "BOOT_B_OK", "BOOT_B_LEFT"];

/// A single-copy environment file and its fw_env.config.
fn env_file(dir: &Path, name: &str) -> std::path::PathBuf {
    let dev = dir.join(format!("{name}.bin"));
    std::fs::write(&dev, vec![0u8; ENV_SIZE]).unwrap();
    let cfg = dir.join(format!("{name}.config"));
    std::fs::write(&cfg, format!("{} 0x0 {ENV_SIZE:#x}\n", s(&dev))).unwrap();
    cfg
}

/// The five slot variables our backend writes for `state`, via `fw_printenv`.
fn vars_of(scratch: &Path, state: &BootState) -> BTreeMap<String, String> {
    UBoot::new(scratch).write(state).unwrap();
    let out = run_tool("fw_printenv", &["-c", s(scratch)], "libubootenv-tool");
    out.lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| VARS.contains(k))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const SLOT_STATES: &[SlotState] =
    &[SlotState::Good, SlotState::Bad, SlotState::Trial { tries_left: 1 }, SlotState::Trial { tries_left: 3 }];

fn boot_uboot(dir: &Path, env: &[u8]) -> String {
    let flash0 = dir.join("flash0.img");
    let flash1 = dir.join("flash1.img");
    let uboot = std::fs::read(UBOOT_BIN)
        .unwrap_or_else(|e| panic!("{UBOOT_BIN}: {e}; install the Debian package u-boot-qemu (scripts/test does)"));
    for (path, content) in [(&flash0, &uboot[..]), (&flash1, env)] {
        let f = std::fs::File::create(path).unwrap();
        f.set_len(64 << 20).unwrap();
        f.write_all_at(content, 0).unwrap();
    }
    let drive = |p: &Path| format!("if=pflash,format=raw,file={}", s(p));
    let out = Command::new("timeout")
        .args(["120", "qemu-system-aarch64", "-machine", "virt", "-cpu", "cortex-a57", "-m", "256"])
        .args(["-nographic", "-no-reboot", "-nic", "none", "-drive", &drive(&flash0), "-drive", &drive(&flash1)])
        .stdin(Stdio::null())
        .output()
        .expect("cannot run qemu-system-aarch64: install the Debian package qemu-system-arm (scripts/test does)");
    assert_ne!(
        out.status.code(),
        Some(127),
        "cannot run qemu-system-aarch64: install the Debian package qemu-system-arm (scripts/test does)"
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn real_uboot_selects_like_the_simulator_from_every_state() {
    let d = tempfile::tempdir().unwrap();
    let scratch = env_file(d.path(), "scratch");
    let main = env_file(d.path(), "main");
    UBoot::new(&main).write(&BootState::FACTORY).unwrap();
    let selection = &BOOT_CMD[..BOOT_CMD.find("# Partition numbers").unwrap()];
    let set = |k: &str, v: &str| run_tool("fw_setenv", &["-c", s(&main), k, v], "libubootenv-tool");
    set("bootdelay", "0");
    set("fotad_select", selection);
    let states = common::all_states(SLOT_STATES);
    let mut expected = Vec::new();
    let mut runs = Vec::new();
    for (i, state) in states.iter().enumerate() {
        let setup: Vec<String> = vars_of(&scratch, state).iter().map(|(k, v)| format!("setenv {k} '{v}'")).collect();
        let mut after = UBoot::new(&scratch).read().unwrap();
        let chosen = match select(&mut after) {
            Selection::Boot(s) | Selection::Rescue(s) => s,
        };
        let want: Vec<String> = vars_of(&scratch, &after).into_values().collect();
        expected.push(format!("RESULT {i}|{chosen}|{}", want.join("|")));
        // Printed in name order, like the map of expected values.
        let mut sorted: Vec<String> = VARS.iter().map(|v| format!("${{{v}}}")).collect();
        sorted.sort();
        set(
            &format!("t{i}"),
            &format!(
                "{}; run fotad_select; echo \"RESULT {i}|${{fotad_slot}}|{}\"",
                setup.join("; "),
                sorted.join("|")
            ),
        );
        runs.push(format!("run t{i}"));
    }
    set("bootcmd", &format!("{}; poweroff", runs.join("; ")));
    let env = std::fs::read(d.path().join("main.bin")).unwrap();
    let console = boot_uboot(d.path(), &env);
    let results: Vec<&str> = console.lines().map(str::trim).filter(|l| l.starts_with("RESULT ")).collect();
    assert_eq!(results.len(), states.len(), "U-Boot console:\n{console}");
    for ((got, want), state) in results.iter().zip(&expected).zip(&states) {
        assert_eq!(got, want, "from {state:?}");
    }
}
