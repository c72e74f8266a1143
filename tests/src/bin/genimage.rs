//! `fotad-genimage`: makes deterministic test images for benchmarks.
//!
//!   fotad-genimage new SIZE_MIB SEED OUT      a fresh filesystem-like image
//!   fotad-genimage evolve OLD SEED OUT        its next version

use std::fs::File;
use std::io::BufWriter;

use anyhow::{bail, Context, Result};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["new", size, seed, out] => {
            let size: u64 = size.parse().context("SIZE_MIB")?;
            let mut file = BufWriter::new(File::create(out).with_context(|| format!("creating {out}"))?);
            fotad_tests::images::write_image(&mut file, size << 20, seed.parse()?)?;
        }
        ["evolve", old, seed, out] => {
            let old = std::fs::read(old).with_context(|| format!("reading {old}"))?;
            std::fs::write(out, fotad_tests::images::evolve(&old, seed.parse()?))
                .with_context(|| format!("writing {out}"))?;
        }
        _ => bail!("usage: fotad-genimage new SIZE_MIB SEED OUT | evolve OLD SEED OUT"),
    }
    Ok(())
}
