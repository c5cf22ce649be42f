//! The layer cache: `layers-v4/<key>` maps a layer's cache key (a digest of
//! everything that determines its bytes) to the blob built for it. Each
//! entry records a stamp of the blob file (size, mtime, ctime, inode) taken
//! when it was written: a blob whose stamp still matches is served without
//! being read; any other is re-hashed first, and a corrupt one is removed
//! and never served. The ctime catches a blob edited in place with its size
//! and mtime put back (a write always moves the ctime, and no system call
//! sets it). Linking a blob into an output moves its ctime too: the stamps
//! before and after such a link are kept (`relinked-v1/`), and a blob whose
//! stamp went exactly from one to the other is still trusted, so writing an
//! output does not make the next build read every blob again; an edit
//! after the link moves the ctime once more and is caught.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{LAYERS, Store, StoreError, io_err};
use crate::digest::Digest;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct CachedLayer {
    /// The layer's cache key (also when the entry is filed under its stat key).
    pub key: String,
    pub digest: String,
    pub size: u64,
    pub diff_id: String,
    pub media_type: String,
    pub stamp: BlobStamp,
    /// The entries of the layer's tree, for `plan` to show a layer found
    /// by its walk without building its tree (absent in older entries and
    /// in entries from the shared cache).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<u64>,
}

/// What identifies a blob file's content without reading it.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct BlobStamp {
    pub size: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
    pub ino: u64,
}

/// A blob's stamps before and after it was linked into an output.
#[derive(Serialize, Deserialize)]
struct Relinked {
    before: BlobStamp,
    after: BlobStamp,
}

/// The outcome of checking a blob before it is reused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BlobCheck {
    Valid(BlobStamp),
    Missing,
    /// The content did not match the digest; the blob was removed.
    Corrupt,
}

impl Store {
    /// Whether the store at `root` has an entry under `key`, looked up
    /// without opening (and so creating) the store: planning asks before
    /// it knows whether the recipe is good.
    pub(crate) fn has_cached_layer(root: &Path, key: &Digest) -> bool {
        root.join(LAYERS).join(key.hex()).is_file()
    }

    pub(crate) fn cached_layer(&self, key: &Digest) -> Option<CachedLayer> {
        Store::cached_layer_at(&self.root, key)
    }

    /// The entry under `key` of the store at `root`, read without opening
    /// the store (as [`Store::has_cached_layer`]).
    pub(crate) fn cached_layer_at(root: &Path, key: &Digest) -> Option<CachedLayer> {
        let bytes = crate::files::read_bounded(&root.join(LAYERS).join(key.hex()), 64 << 10).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    pub(crate) fn put_cached_layer(&self, key: &Digest, entry: &CachedLayer) -> Result<(), StoreError> {
        let path = self.layers_dir().join(key.hex());
        let bytes = serde_json::to_vec(entry).map_err(|e| io_err("cannot encode", &path)(e.into()))?;
        self.replace_file(&path, &bytes)
    }

    pub(crate) fn blob_stamp(&self, digest: &Digest) -> Option<BlobStamp> {
        let meta = fs::metadata(self.blob_path(digest)).ok()?;
        Some(BlobStamp {
            size: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            ino: meta.ino(),
        })
    }

    /// Records that linking blob `digest` into an output took its stamp
    /// from `before` to `after`.
    pub(super) fn record_relink(&self, digest: &Digest, before: BlobStamp, after: BlobStamp) -> Result<(), StoreError> {
        let path = self.root.join(super::RELINKED).join(digest.hex());
        let bytes =
            serde_json::to_vec(&Relinked { before, after }).map_err(|e| io_err("cannot encode", &path)(e.into()))?;
        self.replace_file(&path, &bytes)
    }

    /// Whether the last link into an output took blob `digest` from
    /// `expected` to `now`.
    fn relinked(&self, digest: &Digest, expected: &BlobStamp, now: &BlobStamp) -> bool {
        let path = self.root.join(super::RELINKED).join(digest.hex());
        let record =
            crate::files::read_bounded(&path, 4096).ok().and_then(|b| serde_json::from_slice::<Relinked>(&b).ok());
        record.is_some_and(|r| r.before == *expected && r.after == *now)
    }

    /// Checks blob `digest` before reuse: trusted if its stamp is `expected`
    /// (or went from it to the present one only by a link into an output),
    /// else re-hashed (and removed if corrupt).
    pub(crate) fn check_blob(&self, digest: &Digest, expected: &BlobStamp) -> Result<BlobCheck, StoreError> {
        let Some(stamp) = self.blob_stamp(digest) else { return Ok(BlobCheck::Missing) };
        if stamp == *expected || self.relinked(digest, expected, &stamp) {
            return Ok(BlobCheck::Valid(stamp));
        }
        let path = self.blob_path(digest);
        let file = fs::File::open(&path).map_err(io_err("cannot open blob", &path))?;
        let (actual, _) = Digest::of_reader(file).map_err(io_err("cannot read blob", &path))?;
        if actual == *digest {
            return Ok(BlobCheck::Valid(stamp));
        }
        fs::remove_file(&path).map_err(io_err("cannot remove corrupt blob", &path))?;
        Ok(BlobCheck::Corrupt)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;

    use super::{BlobCheck, Store};

    #[test]
    fn a_link_into_an_output_keeps_a_blob_trusted_and_an_edit_after_it_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let blob = store.write_blob(b"layer bytes").unwrap();
        let stamp = store.blob_stamp(&blob.digest).unwrap();
        store.export(&blob.digest, &dir.path().join("linked")).unwrap();
        let now = store.blob_stamp(&blob.digest).unwrap();
        assert_eq!(now.ino, stamp.ino, "exported by a hard link");
        assert!(store.relinked(&blob.digest, &stamp, &now), "trusted without reading it");
        assert_eq!(store.check_blob(&blob.digest, &stamp).unwrap(), BlobCheck::Valid(now));
        // Edited through the output's link, mtime put back: caught.
        let path = dir.path().join("linked");
        let meta = std::fs::metadata(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.write_all(b"LAYER BYTES").unwrap();
        file.set_modified(meta.modified().unwrap()).unwrap();
        drop(file);
        let edited = store.blob_stamp(&blob.digest).unwrap();
        assert!(!store.relinked(&blob.digest, &stamp, &edited));
        assert_eq!(store.check_blob(&blob.digest, &stamp).unwrap(), BlobCheck::Corrupt);
    }
}
