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
}

impl InputIndex {
    /// The index named `id`, not read: to be written whole (by
    /// [`InputIndex::save_exactly`]) when what it held cannot be what it
    /// will hold.
    pub(crate) fn unread(store: &Store, id: &Digest) -> InputIndex {
        InputIndex { file: store.inputs_dir().join(id.hex()), ..InputIndex::default() }
    }

    /// Loads the index named `id` (a digest of what identifies the layer);
    /// a missing or unreadable index is empty.
    pub(crate) fn load(store: &Store, id: &Digest) -> InputIndex {
        let mut index = InputIndex::unread(store, id);
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

    /// Makes the index hold exactly what `inputs` yields (host path,
    /// fingerprint, content hash; called twice): written in one pass, never gathered in
    /// memory first (a large tree's index is tens of MB), atomically
    /// (concurrent writers of one index each leave a complete file). An
    /// index that already holds exactly them is only marked used (its age
    /// is what `store gc` goes by).
    pub(crate) fn save_exactly<'a, I>(&self, store: &Store, inputs: impl Fn() -> I) -> Result<(), StoreError>
    where
        I: Iterator<Item = (&'a Path, &'a Fingerprint, &'a ContentHash)>,
    {
        let mut count = 0;
        let same = inputs().all(|(path, fingerprint, digest)| {
            count += 1;
            self.entries.get(path.as_os_str()) == Some(&(*fingerprint, *digest))
        });
        if same && count == self.entries.len() {
            if let Ok(file) = fs::File::options().write(true).open(&self.file) {
                let _ = file.set_modified(super::gc::now());
            }
            return Ok(());
        }
        store.replace_file_with(&self.file, |out| {
            for (path, f, digest) in inputs() {
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

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::{Fingerprint, InputIndex};
    use crate::digest::{ContentHash, Digest};
    use crate::store::Store;

    fn input(i: u64) -> (PathBuf, Fingerprint, ContentHash) {
        let fingerprint = Fingerprint { size: i, mtime: (1, 0), ctime: (1, 0), ino: i, dev: 1 };
        (PathBuf::from(format!("/src/file {i}")), fingerprint, ContentHash::of(&i.to_le_bytes()))
    }

    #[test]
    fn saved_exactly_as_given_and_rewritten_only_when_they_differ() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = Digest::of(b"layer");
        let inputs: Vec<_> = (0..3).map(input).collect();
        let all = || inputs.iter().map(|(p, f, d)| (p.as_path(), f, d));
        InputIndex::load(&store, &id).save_exactly(&store, all).unwrap();
        let index = InputIndex::load(&store, &id);
        for (path, fingerprint, digest) in &inputs {
            assert_eq!(index.lookup(path, fingerprint), Some(digest));
        }
        let file = store.inputs_dir().join(id.hex());
        let inode = |path: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(path).unwrap());
        let before = inode(&file);
        index.save_exactly(&store, all).unwrap();
        assert_eq!(inode(&file), before, "the same inputs: not rewritten");
        // One input fewer: rewritten without it.
        let two = || inputs[..2].iter().map(|(p, f, d)| (p.as_path(), f, d));
        index.save_exactly(&store, two).unwrap();
        let index = InputIndex::load(&store, &id);
        assert!(index.lookup(&inputs[2].0, &inputs[2].1).is_none());
        assert_eq!(index.lookup(&inputs[1].0, &inputs[1].1), Some(&inputs[1].2));
    }
}
