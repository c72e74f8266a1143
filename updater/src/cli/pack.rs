//! `fotad-update pack`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use lexopt::Arg::{Long, Short};
use lexopt::ValueExt;

use crate::delta::{pack, ImageInput, PackSpec, PlanSettings};
use crate::package::{load_secret_key, DEFAULT_FULL_OP_SIZE, DEFAULT_OP_SIZE, MAX_OP_PREFIX};

/// The zstd level of replace blobs when `--level` is not given: packing is
/// done once on a build host, installing many times on devices.
const CLI_LEVEL: i32 = 19;

const HELP: &str = "\
usage: fotad-update pack --key KEY --compatible MODEL --version V [options] -o OUT.fota

  --key FILE                signing key (from `fotad-update keygen`); repeat to sign with several
  --compatible MODEL        device model string the package is for
  --version V               version shown to users and the DM server
  --security-version N      anti-rollback counter (default 0)
  --operator-tag HEX        16-byte SIM operator validation string (32 hex digits)
  --description LANG=TEXT   localized description; repeat per language
  --image CLASS=NEW         new image for slot class CLASS (rootfs, boot, ...)
  --source CLASS=OLD        makes CLASS a delta over OLD (the image on the device)
  --bsdiff40 CLASS=PATCH    CLASS from a classic BSDIFF40 patch over --source CLASS=OLD
  --op-size BYTES           output bytes per operation (default 2097152; for full images with
                            prefixes 8388608)
  --threads N               planning threads (default: all cores)
  --level N                 zstd level of replace blobs (default 19)
  --patch-level N           zstd level of bsdiff patches (default 19)
  --prefix BYTES            full images: compress each operation against up to BYTES of the
                            image before it (format 2; default and most 16777216; 0 writes
                            format 1, which devices with older installers read)
  -o, --output FILE         the package to write";

#[derive(Default)]
struct Args {
    keys: Vec<PathBuf>,
    compatible: Option<String>,
    version: Option<String>,
    security_version: u64,
    operator_tag: Option<[u8; 16]>,
    description: BTreeMap<String, String>,
    images: Vec<(String, PathBuf)>,
    patches: Vec<(String, PathBuf)>,
    sources: BTreeMap<String, PathBuf>,
    op_size: Option<u64>,
    threads: Option<usize>,
    level: Option<i32>,
    prefix: Option<u64>,
    patch_level: Option<i32>,
    output: Option<PathBuf>,
}

pub fn run(parser: &mut lexopt::Parser) -> Result<u8> {
    let mut a = Args::default();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("key") => a.keys.push(parser.value()?.into()),
            Long("compatible") => a.compatible = Some(parser.value()?.string()?),
            Long("version") => a.version = Some(parser.value()?.string()?),
            Long("security-version") => a.security_version = parser.value()?.parse()?,
            Long("operator-tag") => a.operator_tag = Some(parse_tag(&parser.value()?.string()?)?),
            Long("description") => {
                let (lang, text) = super::class_value(parser.value()?, "--description")?;
                a.description.insert(lang, text);
            }
            Long("image") => push_path(&mut a.images, parser.value()?, "--image")?,
            Long("bsdiff40") => push_path(&mut a.patches, parser.value()?, "--bsdiff40")?,
            Long("source") => {
                let (class, path) = super::class_value(parser.value()?, "--source")?;
                a.sources.insert(class, path.into());
            }
            Long("op-size") => a.op_size = Some(parser.value()?.parse()?),
            Long("threads") => a.threads = Some(parser.value()?.parse()?),
            Long("level") => a.level = Some(parser.value()?.parse()?),
            Long("prefix") => a.prefix = Some(parser.value()?.parse()?),
            Long("patch-level") => a.patch_level = Some(parser.value()?.parse()?),
            Short('o') | Long("output") => a.output = Some(parser.value()?.into()),
            Short('h') | Long("help") => {
                println!("{HELP}");
                return Ok(0);
            }
            other => bail!("pack: {}\n{HELP}", other.unexpected()),
        }
    }
    let (spec, keys, output) = build(a)?;
    let started = std::time::Instant::now();
    let report = pack(&spec, &keys, &output).with_context(|| format!("building {}", output.display()))?;
    let ops = report.manifest.operation_count();
    println!(
        "wrote {} ({} bytes, {ops} operations, {:.1} s)",
        output.display(),
        report.package_size,
        started.elapsed().as_secs_f64()
    );
    Ok(0)
}

fn build(a: Args) -> Result<(PackSpec, Vec<ed25519_dalek::SigningKey>, PathBuf)> {
    let output = a.output.context("pack needs -o OUT.fota")?;
    if a.keys.is_empty() {
        bail!("pack needs --key (make one with `fotad-update keygen`)");
    }
    let keys = a.keys.iter().map(|k| load_secret_key(k)).collect::<Result<Vec<_>, _>>()?;
    let mut images = Vec::new();
    for (class, target) in a.images {
        let input = match a.sources.get(&class) {
            Some(source) => ImageInput::Delta { target, source: source.clone() },
            None => ImageInput::Full { target },
        };
        images.push((class, input));
    }
    for (class, patch) in a.patches {
        let source =
            a.sources.get(&class).with_context(|| format!("--bsdiff40 {class}=… needs --source {class}=OLD"))?;
        images.push((class, ImageInput::Bsdiff40 { patch, source: source.clone() }));
    }
    if images.is_empty() {
        bail!("pack needs at least one --image or --bsdiff40");
    }
    let threads = a.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut settings = PlanSettings { level: CLI_LEVEL, ..PlanSettings::default() };
    if let Some(level) = a.level {
        settings.level = level;
    }
    if let Some(level) = a.patch_level {
        settings.patch_level = level;
    }
    if let Some(prefix) = a.prefix {
        if prefix > MAX_OP_PREFIX {
            bail!("--prefix {prefix}: at most {MAX_OP_PREFIX}");
        }
        settings.prefix = prefix;
    }
    let spec = PackSpec {
        compatible: a.compatible.context("pack needs --compatible MODEL")?,
        version: a.version.context("pack needs --version V")?,
        security_version: a.security_version,
        operator_tag: a.operator_tag,
        description: a.description,
        images,
        op_size: a.op_size.unwrap_or(DEFAULT_OP_SIZE),
        // An explicit --op-size is for every image.
        full_op_size: if a.op_size.is_some() { None } else { Some(DEFAULT_FULL_OP_SIZE) },
        threads,
        settings,
    };
    Ok((spec, keys, output))
}

fn push_path(list: &mut Vec<(String, PathBuf)>, arg: std::ffi::OsString, option: &str) -> Result<()> {
    let (class, path) = super::class_value(arg, option)?;
    if list.iter().any(|(c, _)| *c == class) {
        bail!("{option}: image class {class:?} given twice");
    }
    list.push((class, path.into()));
    Ok(())
}

fn parse_tag(s: &str) -> Result<[u8; 16]> {
    let bytes = hex::decode(s).context("--operator-tag is not hex")?;
    bytes.try_into().map_err(|_| anyhow::anyhow!("--operator-tag must be 16 bytes (32 hex digits)"))
}
