//! The layer flags shared by `build`, `plan` and `commit`: the settings
//! that determine layer bytes, and `--platform`; and `--var` of `build`
//! and `plan`.

use super::access::non_empty_env;
use super::args::{CompressionArg, LayerArgs, VarArgs};
use crate::Error;
use crate::layer::tar_writer::MAX_MTIME;
use crate::layer::{BuildSettings, Compression};
use crate::oci::platform::{Platform, parse_platform};
use crate::recipe::vars::Given;

/// `--var` values.
pub(super) fn vars(args: &VarArgs) -> Result<Given, Error> {
    Given::parse(args.vars.iter().map(String::as_str)).map_err(|e| Error::Usage(e.to_string()))
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
    let epoch = match (flag, non_empty_env("SOURCE_DATE_EPOCH")) {
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
