//! A device on plain files for the demo and the tests: the updater's
//! configuration for two file slots (`rootfs-a.img`, `rootfs-b.img`), the file
//! bootloader backend, a command line file and a key directory, all in one
//! directory.

use std::path::Path;

/// Writes `<root>/etc/fotad/fotad.toml` for a device whose files live in
/// `dev` (keys in `dev/keys`, state in `dev/state`), model `compatible`.
pub fn write_file_slot_config(root: &Path, dev: &Path, compatible: &str) -> std::io::Result<()> {
    let d = |n: &str| dev.join(n);
    let config = format!(
        "[updater]\ncompatible = {compatible:?}\nkeys_dir = {:?}\nstate_dir = {:?}\ncmdline = {:?}\ntries = 2\n\n\
         [bootloader]\nbackend = \"file\"\nfile = {:?}\n\n[slots.A]\nrootfs = {:?}\n[slots.B]\nrootfs = {:?}\n",
        d("keys"),
        d("state"),
        d("cmdline"),
        d("bootstate.json"),
        d("rootfs-a.img"),
        d("rootfs-b.img")
    );
    std::fs::create_dir_all(root.join("etc/fotad"))?;
    std::fs::write(root.join("etc/fotad/fotad.toml"), config)
}
