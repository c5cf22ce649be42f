//! `dir:PATH`, skopeo's directory format (containers/image `dir`
//! transport, version 1.1): a `version` file, the manifest (or index) the
//! reference names as `manifest.json`, an index's manifests as
//! `<hex>.manifest.json`, and every blob as `<hex>`. One image, no tags.

use std::fs;
use std::path::{Path, PathBuf};

use super::layout::{LayoutError, write_atomic};
use super::tagged::Tagged;
use crate::digest::Digest;
use crate::store::Store;

/// The `version` file skopeo writes and checks.
pub(crate) const VERSION: &[u8] = b"Directory Transport Version: 1.1\n";

/// The root manifest or index.
pub(crate) fn manifest_path(dir: &Path) -> PathBuf {
    dir.join("manifest.json")
}

/// A manifest an index names.
pub(crate) fn instance_path(dir: &Path, digest: &Digest) -> PathBuf {
    dir.join(format!("{}.manifest.json", digest.hex()))
}

/// A config or layer.
pub(crate) fn blob_path(dir: &Path, digest: &Digest) -> PathBuf {
    dir.join(digest.hex())
}

/// Writes `tagged` into `dir`. As skopeo does, a directory that exists
/// must be empty or a `dir:` image already (its files are then replaced);
/// anything else is refused.
pub(crate) fn write(dir: &Path, store: &Store, tagged: &Tagged) -> Result<(), LayoutError> {
    let io_err = |action, path: &Path| {
        let path = path.to_owned();
        move |source| LayoutError::Io { action, path, source }
    };
    clear(dir)?;
    fs::create_dir_all(dir).map_err(io_err("cannot create", dir))?;
    write_atomic(&dir.join("version"), VERSION)?;
    let root = &tagged.root.digest;
    let manifests: Vec<&Digest> = if tagged.is_index() {
        let images = tagged.images.iter().map(|i| &i.manifest.digest);
        images.chain(tagged.extras.iter().map(|e| &e.manifest.digest)).collect()
    } else {
        Vec::new()
    };
    for digest in tagged.blobs() {
        if digest == root {
            continue;
        }
        let path = if manifests.contains(&digest) { instance_path(dir, digest) } else { blob_path(dir, digest) };
        store.export(digest, &path)?;
    }
    let bytes = fs::read(store.blob_path(root)).map_err(io_err("cannot read", &store.blob_path(root)))?;
    write_atomic(&manifest_path(dir), &bytes)
}

/// Empties `dir` if it holds a `dir:` image; refuses a directory that is
/// not empty and holds none.
fn clear(dir: &Path) -> Result<(), LayoutError> {
    #[allow(clippy::disallowed_methods, reason = "every file is removed: the order cannot leak")]
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(LayoutError::Io { action: "cannot list", path: dir.to_owned(), source }),
    };
    let entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    if entries.is_empty() {
        return Ok(());
    }
    let version = crate::files::read_bounded(&dir.join("version"), 256).unwrap_or_default();
    if !version.starts_with(b"Directory Transport Version: ") {
        return Err(LayoutError::Invalid {
            path: dir.to_owned(),
            message: "exists, is not empty, and is not a dir: image (no version file); refusing to write into it"
                .to_owned(),
        });
    }
    for path in entries {
        fs::remove_file(&path).map_err(|source| LayoutError::Io { action: "cannot remove", path, source })?;
    }
    Ok(())
}
