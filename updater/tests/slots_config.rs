//! The layered config loader: merge order, unknown keys, the agent's sections,
//! validation and defaults.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use fotad_updater::config::{load, BootloaderConfig, ConfigError, Layers, SlotSource};

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

const SLOTS: &str = "[slots.A]\nrootfs = \"/dev/vda2\"\n[slots.B]\nrootfs = \"/dev/vda3\"\n";

#[test]
fn layers_merge_key_by_key_in_order() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    write(
        r,
        "usr/lib/fotad/conf.d/10-vendor.toml",
        &format!("[updater]\ntries = 5\ncompatible = \"vendor\"\n[bootloader]\nbackend = \"uboot\"\n{SLOTS}"),
    );
    write(
        r,
        "usr/lib/fotad/conf.d/20-board.toml",
        "[slots.A]\nboot = \"/dev/vda1\"\n[slots.B]\nboot = \"/dev/vda4\"\n",
    );
    write(r, "etc/fotad/fotad.toml", "[updater]\ntries = 2\n[dm]\nserver = \"x\"\n");
    write(
        r,
        "etc/fotad/conf.d/50-site.toml",
        "[updater]\ncompatible = \"acme-gw\"\n[bootloader]\nbackend = \"grub\"\n",
    );
    write(r, "etc/fotad/conf.d/README", "not toml, ignored");
    let st = load(&Layers::under(r)).unwrap();
    assert_eq!(st.tries, 2);
    assert_eq!(st.compatible.as_deref(), Some("acme-gw"));
    assert_eq!(st.bootloader, BootloaderConfig::Grub { grubenv: PathBuf::from("/boot/grub/grubenv") });
    assert_eq!(st.state_dir, PathBuf::from("/var/lib/fotad"));
    assert_eq!(st.keys_dir, PathBuf::from("/etc/fotad/keys"));
    assert_eq!(st.cmdline, PathBuf::from("/proc/cmdline"));
    let SlotSource::Config(slots) = st.slots else { panic!("config slots expected") };
    assert_eq!(slots.get(fotad_updater::slot::Slot::B)["boot"].device, PathBuf::from("/dev/vda4"));
}

#[test]
fn unknown_keys_are_errors_naming_the_file_but_agent_sections_pass() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    let base = format!("[bootloader]\nbackend = \"file\"\n{SLOTS}[fumo]\nanything = 1\n[ui]\nlang = \"de\"\n");
    write(r, "etc/fotad/fotad.toml", &base);
    let st = load(&Layers::under(r)).unwrap();
    assert_eq!(st.bootloader, BootloaderConfig::File { path: PathBuf::from("/var/lib/fotad/bootstate.json") });
    for bad in ["[updater]\ntrys = 3\n", "[nonsense]\na = 1\n", "[bootloader]\ngrub_env = \"/x\"\n"] {
        write(r, "etc/fotad/conf.d/90-bad.toml", bad);
        let e = load(&Layers::under(r)).unwrap_err();
        assert!(matches!(e, ConfigError::Parse { .. }), "{bad}: {e}");
        assert!(e.to_string().contains("90-bad.toml"), "{e}");
    }
}

#[test]
fn invalid_values_are_refused_with_the_key() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    let cases = [
        (format!("[updater]\ntries = 0\n[bootloader]\nbackend = \"grub\"\n{SLOTS}"), "updater.tries"),
        (format!("[updater]\ntries = 10\n[bootloader]\nbackend = \"grub\"\n{SLOTS}"), "updater.tries"),
        (format!("[bootloader]\nbackend = \"lilo\"\n{SLOTS}"), "bootloader.backend"),
        (SLOTS.to_string(), "bootloader.backend"),
        ("[bootloader]\nbackend = \"grub\"\n".to_string(), "slots"),
        (format!("[bootloader]\nbackend = \"grub\"\n[slots]\ngpt_disk = \"/dev/vda\"\n{SLOTS}"), "slots"),
        (format!("[bootloader]\nbackend = \"gpt\"\n{SLOTS}"), "bootloader.disk"),
    ];
    for (text, key) in cases {
        write(r, "etc/fotad/fotad.toml", &text);
        let e = load(&Layers::under(r)).unwrap_err();
        assert!(e.to_string().contains(key), "{text}: {e}");
    }
}

#[test]
fn gpt_disk_feeds_slots_and_the_gpt_backend() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "etc/fotad/fotad.toml", "[bootloader]\nbackend = \"gpt\"\n[slots]\ngpt_disk = \"/dev/mmcblk0\"\n");
    let st = load(&Layers::under(d.path())).unwrap();
    assert_eq!(st.slots, SlotSource::Gpt { disk: PathBuf::from("/dev/mmcblk0") });
    assert_eq!(st.bootloader, BootloaderConfig::Gpt { disk: PathBuf::from("/dev/mmcblk0") });
}
