//! `compose-img build`: flags and environment → a build request; results
//! printed one line per output (`REF DIGEST`) on stdout.

use super::args::{BuildArgs, CommitArgs, CompressionArg, LayerArgs, RegistryArgs};
use crate::Error;
use crate::commit::CommitRequest;
use crate::compose::{self, BuildRequest};
use crate::layer::tar_writer::MAX_MTIME;
use crate::layer::{BuildSettings, Compression};
use crate::oci::platform::Platform;
use crate::oci::platform::parse_platform;
use crate::oci::reference::ImageRef;
use crate::registry::{ClientOptions, PushStats};
use crate::store::Store;

pub fn run(args: &BuildArgs, quiet: bool, verbose: bool) -> Result<(), Error> {
    let request = BuildRequest {
        recipes: args.recipes.clone(),
        outputs: args.output.iter().map(|o| ImageRef::parse(o).map_err(Error::Usage)).collect::<Result<_, _>>()?,
        store: super::store::store_dir(args.layers.store.as_ref())?,
        settings: settings(&args.layers)?,
        reuse: !args.no_cache,
        registry: registry_options(&args.registry),
        platforms: platforms(&args.layers)?,
        sign_key: args.sign_key.as_deref().map(super::keys::private_key).transpose()?,
    };
    let started = std::time::Instant::now();
    let summary = compose::build(&request, super::progress::reporter(quiet, verbose).as_ref())?;
    for report in &summary.images {
        for output in &report.outputs {
            println!("{} {}", output.reference, report.manifest);
            if let (Some(push), false) = (output.push, quiet) {
                eprintln!("{}", push_line(&output.reference, &push));
            }
        }
    }
    if !quiet {
        for line in &summary.plugin_log {
            eprintln!("plugin {line}");
        }
        eprintln!(
            "layers: {} built, {} reused; {} written in {:.2}s",
            summary.layers_built,
            summary.layers_reused,
            human_bytes(summary.bytes_written),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

pub(super) fn registry_options(args: &RegistryArgs) -> ClientOptions {
    ClientOptions { tls_verify: args.tls_verify, ..ClientOptions::default() }
}

/// `pushed REF: 2 blobs uploaded (1.2 MiB), 3 already there, 1 mounted`.
pub(super) fn push_line(reference: &str, push: &PushStats) -> String {
    format!(
        "pushed {reference}: {} uploaded ({}), {} already there, {} mounted",
        plural(push.uploaded, "blob"),
        human_bytes(push.uploaded_bytes),
        push.present,
        push.mounted
    )
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}

pub(super) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// `--platform` values.
pub(super) fn platforms(args: &LayerArgs) -> Result<Vec<Platform>, Error> {
    args.platforms.iter().map(|p| parse_platform(p).map_err(|e| Error::Usage(format!("--platform: {e}")))).collect()
}

/// The settings that determine layer bytes, from flags and environment.
pub(super) fn settings(args: &LayerArgs) -> Result<BuildSettings, Error> {
    Ok(BuildSettings {
        source_date_epoch: source_date_epoch(args.source_date_epoch)?,
        compression: compression(args.compression, args.level)?,
        jobs: args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32)),
    })
}

fn source_date_epoch(flag: Option<u64>) -> Result<u64, Error> {
    let epoch = match (flag, super::store::non_empty_env("SOURCE_DATE_EPOCH")) {
        (Some(epoch), _) => epoch,
        (None, Some(text)) => text.trim().parse().map_err(|_| {
            Error::Usage(format!("SOURCE_DATE_EPOCH={text:?} is not a whole number of seconds since 1970"))
        })?,
        (None, None) => 0,
    };
    if epoch > MAX_MTIME {
        return Err(Error::Usage(format!("source date epoch {epoch} is too large (at most {MAX_MTIME})")));
    }
    Ok(epoch)
}

fn compression(kind: CompressionArg, level: Option<i32>) -> Result<Compression, Error> {
    let out_of_range = |range: &str| {
        Error::Usage(format!("--level {} is out of range for this compression ({range})", level.unwrap_or(0)))
    };
    Ok(match kind {
        CompressionArg::Zstd => {
            let level = level.unwrap_or(Compression::DEFAULT_ZSTD_LEVEL);
            if !(1..=19).contains(&level) {
                return Err(out_of_range("1-19"));
            }
            Compression::Zstd { level }
        }
        CompressionArg::Gzip => {
            let level =
                level.map_or(Ok(Compression::DEFAULT_GZIP_LEVEL), u32::try_from).map_err(|_| out_of_range("1-9"))?;
            if !(1..=9).contains(&level) {
                return Err(out_of_range("1-9"));
            }
            Compression::Gzip { level }
        }
        CompressionArg::None if level.is_some() => {
            return Err(Error::Usage("--level does not apply to --compression none".into()));
        }
        CompressionArg::None => Compression::None,
    })
}

pub fn commit(args: &CommitArgs, quiet: bool) -> Result<(), Error> {
    let parent = ImageRef::parse(&args.parent).map_err(Error::Usage)?;
    let output = ImageRef::parse(&args.output).map_err(Error::Usage)?;
    let platforms = platforms(&args.layers)?;
    if platforms.len() > 1 {
        return Err(Error::Usage("commit takes one --platform".into()));
    }
    let request = CommitRequest {
        dir: &args.dir,
        parent: &parent,
        output: &output,
        message: args.message.as_deref(),
        platform: platforms.first(),
        settings: settings(&args.layers)?,
        registry: registry_options(&args.registry),
    };
    let store = Store::open(&super::store::store_dir(args.layers.store.as_ref())?)?;
    let committed = crate::commit::commit(&request, &store)?;
    println!("{output} {}", committed.manifest);
    if !quiet {
        eprintln!("committed {} added or changed, {} removed", committed.added, committed.removed);
    }
    Ok(())
}
