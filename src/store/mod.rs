//! Store stage: content-addressed blobs on disk.
//!
//! Layout under the store root (versioned so a format change never reads
//! stale data):
//!
//! ```text
//! blobs-v1/sha256/<hex>   complete, verified blobs (read-only)
//! layers-v4/<key>         layer cache entries ([`layer_cache`])
//! inputs-v2/<id>          stat fingerprints of each layer's inputs ([`fingerprint`])
//! outputs-v1/<id>         outputs written, with the blobs each needed ([`gc`])
//! verified-v1/<hex>       diff_id a parent's layer blob was found to have
//! checks-v1/<hex>         what the checks of an assembled image found (`assemble`)
//! relinked-v1/<hex>       a blob's stamp before and after an output linked it ([`layer_cache`])
//! extracted-v1/<hex>/     files a copy takes from an image (`compose`), by image and path
//! seen-v1/<hex>           the registry repositories a blob was seen in ([`origins`])
//! tmp/                    files being written
//! lock                    shared by builds, exclusive for gc
//! ```
//!
//! `store gc` removes the folders of earlier formats ([`FORMERLY`]).
//!
//! A blob becomes visible under its digest only once complete: it is
//! written to a temp file inside the store while being hashed, fsynced and
//! renamed into place ([`BlobWriter`]). Renaming over an existing blob is
//! harmless (same content), and every other file is replaced by rename
//! too, so concurrent builds need no lock between them; only `gc`, which
//! deletes, excludes them (through the `lock` file).

mod blob_writer;
pub(crate) mod fingerprint;
pub(crate) mod fsck;
pub(crate) mod gc;
pub(crate) mod layer_cache;
pub(crate) mod origins;

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use thiserror::Error;

pub(crate) use blob_writer::{BlobWriter, WrittenBlob};

use crate::digest::{Digest, HashingWriter};

/// The layer cache ([`layer_cache`]).
const LAYERS: &str = "layers-v4";
/// Layer blobs of other images found to match their diff_id, once each.
const VERIFIED: &str = "verified-v1";

/// Blobs an output linked: their stamps before and after.
const RELINKED: &str = "relinked-v1";

/// Results of checks on assembled images, by a key of what they read.
const CHECKS: &str = "checks-v1";

/// Parts of images extracted for `copy.image`, by image digest and path.
const EXTRACTED: &str = "extracted-v1";

/// Where blobs were seen, by registry and repository ([`origins`]).
const SEEN: &str = "seen-v1";

/// Folders of earlier formats, never read: `store gc` removes them.
const FORMERLY: [&str; 4] = ["layers-v1", "layers-v2", "layers-v3", "inputs-v1"];

#[derive(Debug, Error)]
pub(crate) enum StoreError {
    #[error("{action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("blob {digest} in the store is corrupt ({}): its content has digest {actual}", path.display())]
    Corrupt { digest: Digest, actual: Digest, path: PathBuf },
}

pub(crate) fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StoreError + use<> {
    let path = path.to_owned();
    move |source| StoreError::Io { action, path, source }
}

/// A content store rooted at one directory, locked (shared or exclusive)
/// for as long as any clone of it lives.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    root: PathBuf,
    _lock: Arc<fs::File>,
}

impl Store {
    /// Opens (creating if needed) the store at `root`, sharing it with
    /// other builds.
    pub(crate) fn open(root: &Path) -> Result<Store, StoreError> {
        Store::open_locked(root, false)
    }

    /// Opens the store for sole use (waits for running builds to end).
    pub(crate) fn open_exclusive(root: &Path) -> Result<Store, StoreError> {
        Store::open_locked(root, true)
    }

    fn open_locked(root: &Path, exclusive: bool) -> Result<Store, StoreError> {
        let dirs =
            ["blobs-v1/sha256", LAYERS, "inputs-v2", "outputs-v1", VERIFIED, CHECKS, EXTRACTED, RELINKED, SEEN, "tmp"]
                .map(|d| root.join(d));
        for dir in &dirs {
            fs::create_dir_all(dir).map_err(io_err("cannot create store directory", dir))?;
        }
        let lock_path = root.join("lock");
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err("cannot open", &lock_path))?;
        let locked = if exclusive { lock.lock() } else { lock.lock_shared() };
        locked.map_err(io_err("cannot lock", &lock_path))?;
        Ok(Store { root: root.to_owned(), _lock: Arc::new(lock) })
    }

    fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs-v1").join("sha256")
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn layers_dir(&self) -> PathBuf {
        self.root.join(LAYERS)
    }

    fn inputs_dir(&self) -> PathBuf {
        self.root.join("inputs-v2")
    }

    pub(crate) fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs_dir().join(digest.hex())
    }

    /// Whether layer blob `digest` was found to uncompress to `diff_id`
    /// (by [`Store::mark_verified`]): such a check is paid once per blob.
    pub(crate) fn is_verified(&self, digest: &Digest, diff_id: &Digest) -> bool {
        let path = self.root.join(VERIFIED).join(digest.hex());
        crate::files::read_bounded(&path, 128).is_ok_and(|bytes| bytes == diff_id.as_str().as_bytes())
    }

    /// Records that layer blob `digest` uncompresses to `diff_id`.
    pub(crate) fn mark_verified(&self, digest: &Digest, diff_id: &Digest) -> Result<(), StoreError> {
        self.replace_file(&self.root.join(VERIFIED).join(digest.hex()), diff_id.as_str().as_bytes())
    }

    /// Where the part of an image keyed `key` is (or goes) once extracted.
    pub(crate) fn extracted_dir(&self, key: &Digest) -> PathBuf {
        self.root.join(EXTRACTED).join(key.hex())
    }

    /// A new empty directory inside the store, removed when dropped unless
    /// kept: renamed into place, it appears whole or not at all.
    pub(crate) fn temp_dir(&self) -> Result<tempfile::TempDir, StoreError> {
        tempfile::Builder::new()
            .prefix("dir-")
            .tempdir_in(self.tmp_dir())
            .map_err(io_err("cannot create a directory in", &self.tmp_dir()))
    }

    /// What a check keyed `key` found, when it ran before (at most 1 MiB).
    pub(crate) fn check_result(&self, key: &Digest) -> Option<Vec<u8>> {
        crate::files::read_bounded(&self.root.join(CHECKS).join(key.hex()), 1 << 20).ok()
    }

    /// Records what a check keyed `key` found.
    pub(crate) fn record_check(&self, key: &Digest, result: &[u8]) -> Result<(), StoreError> {
        self.replace_file(&self.root.join(CHECKS).join(key.hex()), result)
    }

    /// Whether blob `digest` is in the store (blobs are verified when written).
    pub(crate) fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// A writer for a new blob; its digest is known on [`BlobWriter::complete`].
    pub(crate) fn blob_writer(&self) -> Result<BlobWriter, StoreError> {
        BlobWriter::new(self)
    }

    /// A scratch file inside the store, deleted when dropped.
    pub(crate) fn temp_file(&self) -> Result<tempfile::NamedTempFile, StoreError> {
        let dir = self.tmp_dir();
        tempfile::NamedTempFile::new_in(&dir).map_err(io_err("cannot create a temp file in", &dir))
    }

    /// Stores `bytes` as a blob.
    pub(crate) fn write_blob(&self, bytes: &[u8]) -> Result<WrittenBlob, StoreError> {
        let mut writer = self.blob_writer()?;
        writer.write_all(bytes).map_err(io_err("cannot write blob to", &self.tmp_dir()))?;
        writer.complete()
    }

    /// Puts blob `digest` at `dest`: a hard link where the file system
    /// allows, else a verified copy. An existing `dest` is kept.
    pub(crate) fn export(&self, digest: &Digest, dest: &Path) -> Result<(), StoreError> {
        if dest.exists() {
            return Ok(());
        }
        let src = self.blob_path(digest);
        let before = self.blob_stamp(digest);
        if fs::hard_link(&src, dest).is_ok() {
            // The link moved the blob's ctime: say so, or the next build
            // would read the blob again to trust it.
            if let (Some(before), Some(after)) = (before, self.blob_stamp(digest)) {
                self.record_relink(digest, before, after)?;
            }
            return Ok(());
        }
        let dir = dest.parent().unwrap_or(Path::new("."));
        let tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err("cannot create a file in", dir))?;
        let mut input = fs::File::open(&src).map_err(io_err("cannot open blob", &src))?;
        let mut out = HashingWriter::new(tmp);
        io::copy(&mut input, &mut out).map_err(io_err("cannot copy blob to", dest))?;
        let (tmp, actual, _) = out.finish();
        if actual != *digest {
            return Err(StoreError::Corrupt { digest: digest.clone(), actual, path: src });
        }
        tmp.as_file().sync_all().map_err(io_err("cannot sync", dest))?;
        tmp.persist(dest).map_err(|e| StoreError::Io {
            action: "cannot write",
            path: dest.to_owned(),
            source: e.error,
        })?;
        Ok(())
    }

    /// Replaces a store file (cache entry, index) with `bytes` through a
    /// temp file, so readers see the old or the new content, never a part.
    fn replace_file(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        self.replace_file_with(path, |file| file.write_all(bytes))
    }

    /// Replaces `path` atomically with what `write` writes (through a
    /// buffer), so a large file is never held in memory whole.
    fn replace_file_with(
        &self,
        path: &Path,
        write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<(), StoreError> {
        let tmp = tempfile::NamedTempFile::new_in(self.tmp_dir()).map_err(io_err("cannot create a file in", path))?;
        let mut buffered = std::io::BufWriter::new(tmp);
        write(&mut buffered).map_err(io_err("cannot write", path))?;
        let tmp = buffered.into_inner().map_err(|e| io_err("cannot write", path)(e.into_error()))?;
        tmp.persist(path).map_err(|e| io_err("cannot write", path)(e.error))?;
        Ok(())
    }
}
