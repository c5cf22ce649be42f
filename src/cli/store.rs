//! `compose-img store ls|du|gc|fsck`, and where the store is.

use std::path::PathBuf;

use super::args::{AccessArgs, StoreAction, StoreArgs};
use super::build::human_bytes;
use crate::Error;
use crate::registry::ClientOptions;
use crate::store::Store;

pub fn run(args: &StoreArgs) -> Result<(), Error> {
    let dir = store_dir(args.store.as_ref())?;
    match args.action {
        StoreAction::Ls => {
            let store = Store::open(&dir)?;
            for output in store.outputs()? {
                let written = humantime::format_rfc3339_seconds(output.written);
                println!("output {} {written} {} blobs", output.reference, output.blobs);
            }
            for (digest, size) in store.blobs()? {
                println!("blob {digest} {size}");
            }
        }
        StoreAction::Gc { keep_days } => {
            let keep = std::time::Duration::from_secs(keep_days.saturating_mul(86_400));
            let report = Store::open_exclusive(&dir)?.gc(keep)?;
            println!(
                "removed {} blobs ({}) and {} cache entries and records; kept {} blobs",
                report.blobs_removed,
                human_bytes(report.bytes_removed),
                report.entries_removed,
                report.blobs_kept
            );
        }
        StoreAction::Du => {
            let usage = Store::open(&dir)?.usage()?;
            let total: u64 = usage.parts.iter().map(|p| p.1).sum();
            for (name, bytes, files) in usage.parts {
                println!("{:<12} {:>10}  {files} files", name, human_bytes(bytes));
            }
            println!("{:<12} {:>10}  {}", "total", human_bytes(total), dir.display());
        }
        StoreAction::Fsck => {
            let report = Store::open_exclusive(&dir)?.fsck()?;
            for (path, actual) in &report.corrupt {
                match actual {
                    Some(actual) => println!("corrupt (removed): {} holds {actual}", path.display()),
                    None => println!("not a blob (removed): {}", path.display()),
                }
            }
            println!(
                "checked {} blobs: {} corrupt; removed {} leftover temp files",
                report.checked,
                report.corrupt.len(),
                report.temp_removed
            );
            if !report.corrupt.is_empty() {
                return Err(Error::Failed(format!("{} corrupt blobs in {}", report.corrupt.len(), dir.display())));
            }
        }
    }
    Ok(())
}

impl AccessArgs {
    /// The store named by `--store` or the environment, opened.
    pub(super) fn open_store(&self) -> Result<Store, Error> {
        Ok(Store::open(&store_dir(self.store.as_ref())?)?)
    }

    pub(super) fn registry(&self) -> ClientOptions {
        super::build::registry_options(&self.registry)
    }
}

pub(super) fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `--store`, else `$COMPOSE_IMG_STORE`, else `$XDG_CACHE_HOME/compose-img`,
/// else `~/.cache/compose-img`.
pub(super) fn store_dir(flag: Option<&PathBuf>) -> Result<PathBuf, Error> {
    if let Some(dir) = flag {
        return Ok(dir.clone());
    }
    if let Some(dir) = non_empty_env("COMPOSE_IMG_STORE") {
        return Ok(dir.into());
    }
    if let Some(dir) = non_empty_env("XDG_CACHE_HOME") {
        return Ok(PathBuf::from(dir).join("compose-img"));
    }
    match non_empty_env("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".cache").join("compose-img")),
        None => Err(Error::Usage("no store: set --store, $COMPOSE_IMG_STORE, $XDG_CACHE_HOME or $HOME".into())),
    }
}
