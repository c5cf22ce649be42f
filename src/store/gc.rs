//! Collecting garbage: what no recent use keeps. Builds record each output
//! they write (`outputs-v1/`: the reference and every blob it needed); a
//! layer cache entry is rewritten each time it is reused. `gc` drops cache
//! entries, input indexes and output records not touched for `keep` and
//! then every blob that no remaining entry or record names, and the temp
//! files of killed builds. It needs the store to itself.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, io_err};
use crate::digest::Digest;

#[derive(Serialize, Deserialize)]
struct OutputRecord {
    reference: String,
    blobs: Vec<String>,
}

#[derive(Debug, Default)]
pub(crate) struct GcReport {
    /// With `dry_run`: the blobs that would be removed, with their sizes.
    pub would_remove: Vec<(String, u64)>,
    pub blobs_removed: usize,
    pub bytes_removed: u64,
    pub blobs_kept: usize,
    pub entries_removed: usize,
}

/// An output written, as `store ls` lists it.
#[derive(Debug)]
pub(crate) struct OutputSeen {
    pub reference: String,
    pub blobs: usize,
    pub written: SystemTime,
}

/// The one clock of compose-img: only the store's bookkeeping reads it
/// (ages for gc, the racy-clean bound of stat keys), never anything that
/// reaches an image.
pub(crate) fn now() -> SystemTime {
    #[allow(clippy::disallowed_methods, reason = "store bookkeeping only; nothing here reaches an output")]
    SystemTime::now()
}

impl Store {
    pub(super) fn outputs_dir(&self) -> std::path::PathBuf {
        self.root.join("outputs-v1")
    }

    /// Records that `reference` was written from `blobs`.
    pub(crate) fn record_output(&self, reference: &str, blobs: &[&Digest]) -> Result<(), StoreError> {
        let dir = self.outputs_dir();
        fs::create_dir_all(&dir).map_err(io_err("cannot create", &dir))?;
        let record =
            OutputRecord { reference: reference.to_owned(), blobs: blobs.iter().map(|d| d.to_string()).collect() };
        let path = dir.join(Digest::of(reference.as_bytes()).hex());
        let bytes = serde_json::to_vec(&record).map_err(|e| io_err("cannot encode", &path)(e.into()))?;
        self.replace_file(&path, &bytes)
    }

    /// The outputs recorded, most recent first.
    pub(crate) fn outputs(&self) -> Result<Vec<OutputSeen>, StoreError> {
        let mut seen = Vec::new();
        for path in super::fsck::files_in(&self.outputs_dir())? {
            let (Ok(bytes), Ok(meta)) = (fs::read(&path), fs::metadata(&path)) else { continue };
            let Ok(record) = serde_json::from_slice::<OutputRecord>(&bytes) else { continue };
            let written = meta.modified().map_err(io_err("cannot stat", &path))?;
            seen.push(OutputSeen { reference: record.reference, blobs: record.blobs.len(), written });
        }
        seen.sort_by(|a, b| b.written.cmp(&a.written).then_with(|| a.reference.cmp(&b.reference)));
        Ok(seen)
    }

    /// Removes what was not used within `keep`; with `dry_run`, removes
    /// nothing and reports what it would remove.
    pub(crate) fn gc(&self, keep: Duration, dry_run: bool) -> Result<GcReport, StoreError> {
        let cutoff = now().checked_sub(keep).unwrap_or(SystemTime::UNIX_EPOCH);
        let mut report = GcReport::default();
        let remove_file = |path: &Path| if dry_run { Ok(()) } else { fs::remove_file(path) };
        let remove_dir_all = |path: &Path| if dry_run { Ok(()) } else { fs::remove_dir_all(path) };
        let mut live: BTreeSet<String> = BTreeSet::new();
        let stale = |path: &Path| fs::metadata(path).and_then(|m| m.modified()).is_ok_and(|t| t < cutoff);
        for old in super::FORMERLY {
            let dir = self.root.join(old);
            if dir.is_dir() {
                report.entries_removed += super::fsck::files_in(&dir)?.len();
                remove_dir_all(&dir).map_err(io_err("cannot remove", &dir))?;
            }
        }
        // Link records: at worst, a blob is read once more.
        for path in super::fsck::files_in(&self.root.join(super::RELINKED))? {
            remove_file(&path).map_err(io_err("cannot remove", &path))?;
        }
        // Where blobs were seen: hints, kept as long as a cache entry.
        for path in super::fsck::files_in(&self.root.join(super::SEEN))? {
            if stale(&path) {
                fs::remove_file(&path).map_err(io_err("cannot remove", &path))?;
            }
        }
        // Parts of images extracted for copies: a build extracts them again.
        let extracted = self.root.join(super::EXTRACTED);
        if extracted.is_dir() {
            #[allow(clippy::disallowed_methods, reason = "only counted")]
            let count = fs::read_dir(&extracted).map_or(0, Iterator::count);
            report.entries_removed += count;
            remove_dir_all(&extracted).map_err(io_err("cannot remove", &extracted))?;
            if !dry_run {
                fs::create_dir_all(&extracted).map_err(io_err("cannot create", &extracted))?;
            }
        }
        for path in super::fsck::files_in(&self.layers_dir())? {
            let entry =
                fs::read(&path).ok().and_then(|b| serde_json::from_slice::<super::layer_cache::CachedLayer>(&b).ok());
            match entry {
                Some(entry) if !stale(&path) => {
                    live.insert(entry.digest);
                }
                _ => {
                    remove_file(&path).map_err(io_err("cannot remove", &path))?;
                    report.entries_removed += 1;
                }
            }
        }
        for path in super::fsck::files_in(&self.outputs_dir())? {
            let record = fs::read(&path).ok().and_then(|b| serde_json::from_slice::<OutputRecord>(&b).ok());
            match record {
                Some(record) if !stale(&path) => live.extend(record.blobs),
                _ => {
                    remove_file(&path).map_err(io_err("cannot remove", &path))?;
                    report.entries_removed += 1;
                }
            }
        }
        for path in super::fsck::files_in(&self.inputs_dir())? {
            if stale(&path) {
                remove_file(&path).map_err(io_err("cannot remove", &path))?;
                report.entries_removed += 1;
            }
        }
        for path in super::fsck::files_in(&self.blobs_dir())? {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if live.contains(&format!("sha256:{name}")) {
                report.blobs_kept += 1;
                continue;
            }
            let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            report.bytes_removed += size;
            if dry_run {
                report.would_remove.push((format!("sha256:{name}"), size));
            }
            remove_file(&path).map_err(io_err("cannot remove", &path))?;
            report.blobs_removed += 1;
        }
        for temp in super::fsck::files_in(&self.tmp_dir())? {
            remove_file(&temp).map_err(io_err("cannot remove", &temp))?;
        }
        Ok(report)
    }
}
