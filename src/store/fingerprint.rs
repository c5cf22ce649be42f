//! Stat fingerprints of input files and the per-layer index that maps them
//! to content digests, as git's index does: an input whose fingerprint
//! (size, mtime and ctime with nanoseconds, inode, device) is unchanged is
//! not read again. ctime cannot be set by a user, so a file replaced with
//! the same size and a restored mtime still shows as changed. An entry
//! whose mtime is not older than the index file itself is "racily clean"
//! (the file may have changed in the same clock tick) and is not trusted.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{Store, StoreError};
use crate::digest::{ContentHash, Digest};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    pub size: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
    pub ino: u64,
    pub dev: u64,
}

impl Fingerprint {
    pub(crate) fn of(meta: &Metadata) -> Fingerprint {
        Fingerprint {
            size: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            ino: meta.ino(),
            dev: meta.dev(),
        }
    }
}

/// Content digests of one layer's host inputs, by path (kept as bytes:
/// `PathBuf` compares component by component, far slower for 20,000 keys).
#[derive(Debug, Default)]
pub(crate) struct InputIndex {
    file: PathBuf,
    entries: BTreeMap<OsString, (Fingerprint, ContentHash)>,
    changed: bool,
}

impl InputIndex {
    /// Loads the index named `id` (a digest of what identifies the layer);
    /// a missing or unreadable index is empty.
    pub(crate) fn load(store: &Store, id: &Digest) -> InputIndex {
        let file = store.inputs_dir().join(id.hex());
        let mut index = InputIndex { file, ..InputIndex::default() };
        let (Ok(file), Ok(meta)) = (fs::File::open(&index.file), fs::metadata(&index.file)) else {
            return index;
        };
        let written = (meta.mtime(), meta.mtime_nsec());
        // Line by line: the index of a large tree is never held whole.
        for line in std::io::BufRead::lines(std::io::BufReader::new(file)).map_while(Result::ok) {
            if let Some((path, fingerprint, digest)) = parse_line(&line)
                && fingerprint.mtime < written
            {
                index.entries.insert(path.into_os_string(), (fingerprint, digest));
            }
        }
        index
    }

    /// The content hash recorded for `path` if its fingerprint is unchanged.
    pub(crate) fn lookup(&self, path: &Path, fingerprint: &Fingerprint) -> Option<&ContentHash> {
        self.entries.get(path.as_os_str()).filter(|(f, _)| f == fingerprint).map(|(_, d)| d)
    }

    pub(crate) fn record(&mut self, path: PathBuf, fingerprint: Fingerprint, digest: ContentHash) {
        let path = path.into_os_string();
        if self.entries.get(&path) != Some(&(fingerprint, digest)) {
            self.entries.insert(path, (fingerprint, digest));
            self.changed = true;
        }
    }

    /// Drops entries of files that are no longer inputs.
    pub(crate) fn retain(&mut self, keep: impl Fn(&Path) -> bool) {
        let before = self.entries.len();
        self.entries.retain(|p, _| keep(Path::new(p)));
        self.changed |= self.entries.len() != before;
    }

    /// Writes the index if anything changed (atomically; concurrent
    /// writers of one index each leave a complete file), else marks it
    /// used (its age is what `store gc` goes by).
    pub(crate) fn save(&self, store: &Store) -> Result<(), StoreError> {
        if !self.changed {
            if let Ok(file) = fs::File::options().write(true).open(&self.file) {
                let _ = file.set_modified(super::gc::now());
            }
            return Ok(());
        }
        store.replace_file_with(&self.file, |out| {
            for (path, (f, digest)) in &self.entries {
                let Some(path) = path.to_str().filter(|p| !p.contains('\n')) else { continue };
                writeln!(
                    out,
                    "{} {} {} {} {} {} {} {} {path}",
                    f.size,
                    f.mtime.0,
                    f.mtime.1,
                    f.ctime.0,
                    f.ctime.1,
                    f.ino,
                    f.dev,
                    digest.hex()
                )?;
            }
            Ok(())
        })
    }
}

fn parse_line(line: &str) -> Option<(PathBuf, Fingerprint, ContentHash)> {
    let mut parts = line.splitn(9, ' ');
    let mut num = || parts.next()?.parse::<i64>().ok();
    let (size, ms, mn, cs, cn, ino, dev) = (num()?, num()?, num()?, num()?, num()?, num()?, num()?);
    let digest = ContentHash::from_hex(parts.next()?)?;
    let path = PathBuf::from(parts.next()?);
    let fingerprint = Fingerprint {
        size: u64::try_from(size).ok()?,
        mtime: (ms, mn),
        ctime: (cs, cn),
        ino: u64::try_from(ino).ok()?,
        dev: u64::try_from(dev).ok()?,
    };
    Some((path, fingerprint, digest))
}
