//! `compose-img store ls|du|gc|fsck`.

use super::access::store_dir;
use super::args::{StoreAction, StoreArgs};
use super::human::human_bytes;
use crate::Error;
use crate::store::Store;

pub(super) fn run(args: &StoreArgs) -> Result<(), Error> {
    let dir = store_dir(args.store.as_ref())?;
    match args.action {
        StoreAction::Ls { json } => {
            let store = Store::open(&dir)?;
            let (outputs, blobs) = (store.outputs()?, store.blobs()?);
            if json {
                let outputs: Vec<serde_json::Value> = outputs
                    .iter()
                    .map(|o| {
                        let written = humantime::format_rfc3339_seconds(o.written).to_string();
                        serde_json::json!({ "reference": o.reference, "written": written, "blobs": o.blobs })
                    })
                    .collect();
                let blobs: Vec<serde_json::Value> =
                    blobs.iter().map(|(digest, size)| serde_json::json!({ "digest": digest, "size": size })).collect();
                println!("{}", serde_json::json!({ "outputs": outputs, "blobs": blobs }));
                return Ok(());
            }
            for output in outputs {
                let written = humantime::format_rfc3339_seconds(output.written);
                println!("output {} {written} {} blobs", output.reference, output.blobs);
            }
            for (digest, size) in blobs {
                println!("blob {digest} {size}");
            }
        }
        StoreAction::Gc { keep_days, dry_run } => {
            let keep = std::time::Duration::from_secs(keep_days.saturating_mul(86_400));
            let report = Store::open_exclusive(&dir)?.gc(keep, dry_run)?;
            for (digest, size) in &report.would_remove {
                println!("would remove blob {digest} {size}");
            }
            println!(
                "{} {} blobs ({}) and {} cache entries and records; kept {} blobs",
                if dry_run { "would remove" } else { "removed" },
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
