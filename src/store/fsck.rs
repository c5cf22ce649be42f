//! Checking and measuring the store: every blob against its digest (corrupt
//! ones are removed), leftover temp files of killed builds, disk use.

use std::fs;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{Store, StoreError, io_err};
use crate::digest::Digest;

/// A blob file that is not what its name says, and what its content hashes
/// to (`None` when the name is not a digest at all).
pub(crate) type BadBlob = (PathBuf, Option<Digest>);

#[derive(Debug, Default)]
pub(crate) struct FsckReport {
    pub checked: usize,
    /// Blob files whose content does not match their name (removed), with
    /// what their content hashes to.
    pub corrupt: Vec<BadBlob>,
    pub temp_removed: usize,
}

/// Bytes and files under each part of the store.
#[derive(Debug, Default)]
pub(crate) struct Usage {
    pub parts: Vec<(&'static str, u64, usize)>,
}

impl Store {
    /// Checks every blob (in parallel), removing corrupt ones and the temp
    /// files of builds that died. Needs the store to itself.
    pub(crate) fn fsck(&self) -> Result<FsckReport, StoreError> {
        let blobs = files(&self.blobs_dir())?;
        let results: Vec<Result<Option<BadBlob>, StoreError>> = blobs.par_iter().map(|path| check(path)).collect();
        let mut report = FsckReport { checked: blobs.len(), ..FsckReport::default() };
        for result in results {
            if let Some(bad) = result? {
                fs::remove_file(&bad.0).map_err(io_err("cannot remove corrupt blob", &bad.0))?;
                report.corrupt.push(bad);
            }
        }
        for temp in files(&self.tmp_dir())? {
            fs::remove_file(&temp).map_err(io_err("cannot remove", &temp))?;
            report.temp_removed += 1;
        }
        Ok(report)
    }

    pub(crate) fn usage(&self) -> Result<Usage, StoreError> {
        let mut usage = Usage::default();
        for (name, dir) in [
            ("blobs", self.blobs_dir()),
            ("layer cache", self.layers_dir()),
            ("input index", self.inputs_dir()),
            ("outputs", self.outputs_dir()),
            ("temp", self.tmp_dir()),
        ] {
            let files = files_in(&dir)?;
            let bytes = files.iter().filter_map(|f| fs::metadata(f).ok()).map(|m| m.len()).sum();
            usage.parts.push((name, bytes, files.len()));
        }
        Ok(usage)
    }

    /// Every blob with its size, sorted by digest.
    pub(crate) fn blobs(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut blobs: Vec<(String, u64)> = files(&self.blobs_dir())?
            .iter()
            .filter_map(|p| Some((format!("sha256:{}", p.file_name()?.to_str()?), fs::metadata(p).ok()?.len())))
            .collect();
        blobs.sort();
        Ok(blobs)
    }
}

/// `None` when the blob at `path` hashes to its name.
fn check(path: &Path) -> Result<Option<BadBlob>, StoreError> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let Ok(expected) = Digest::parse(&format!("sha256:{name}")) else {
        return Ok(Some((path.to_owned(), None)));
    };
    let file = fs::File::open(path).map_err(io_err("cannot open blob", path))?;
    let (actual, _) = Digest::of_reader(file).map_err(io_err("cannot read blob", path))?;
    Ok((actual != expected).then(|| (path.to_owned(), Some(actual))))
}

/// The files directly in `dir` (none if it does not exist), sorted.
pub(super) fn files_in(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    files(dir)
}

/// The files directly in `dir`, sorted.
fn files(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    #[allow(clippy::disallowed_methods, reason = "sorted below")]
    let entries = fs::read_dir(dir).map_err(io_err("cannot list", dir))?;
    let mut files: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()).collect();
    files.sort();
    Ok(files)
}
