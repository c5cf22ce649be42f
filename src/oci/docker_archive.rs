//! `docker-archive:FILE[:NAME:TAG|:@N]`, as `docker save`, `podman save`
//! and Jib write it, plain or compressed whole (gzip, zstd, bzip2, xz):
//! `manifest.json` naming a config file and layer tars. Reading puts every
//! member in the store and describes the chosen image as an OCI manifest
//! (layer media types from their first bytes); writing stores layers uncompressed,
//! named by their diff_id, which `docker load` and `podman load` accept
//! whatever the image's compression.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, Write};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;
use thiserror::Error;

use super::archive::write_tar;
use super::image::BuiltImage;
use super::layout::LayoutError;
use super::media;
use super::reference::ArchiveImage;
use super::registry_reference::Reference;
use super::tar_entries::each_entry;
use super::whole::decompressed;
use crate::digest::{Digest, HashingWriter};
use crate::oci::compress::decoder;
use crate::store::{Store, WrittenBlob};

/// One image of `manifest.json`. Docker and podman write the keys
/// capitalised; Jib writes them in lower case, which skopeo and podman
/// read too.
#[derive(Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestEntry {
    #[serde(alias = "config")]
    config: String,
    #[serde(default, alias = "repoTags")]
    repo_tags: Option<Vec<String>>,
    #[serde(alias = "layers")]
    layers: Vec<String>,
}

/// Reads the archive at `file` into the store and returns the bytes of an
/// OCI manifest describing the image `image` chooses (without a choice,
/// the archive must hold one image).
pub(crate) fn ingest(file: &Path, store: &Store, image: Option<&ArchiveImage>) -> Result<Vec<u8>, LayoutError> {
    let invalid = |message: String| LayoutError::Invalid { path: file.to_owned(), message };
    let input = decompressed(file)?;
    let mut members: BTreeMap<PathBuf, WrittenBlob> = BTreeMap::new();
    let mut links: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    let mut manifest = None;
    let tar_error = |e| invalid(format!("not a valid tar archive: {e}"));
    each_entry(input, tar_error, |entry| {
        let path = normalise(&entry.path().map_err(|e| invalid(e.to_string()))?);
        let kind = entry.header().entry_type();
        if kind.is_symlink() {
            if let Some(target) = entry.link_name().ok().flatten() {
                let resolved = normalise(&path.parent().unwrap_or(Path::new("")).join(target));
                links.insert(path, resolved);
            }
        } else if kind.is_file() && path == Path::new("manifest.json") {
            let mut bytes = Vec::new();
            entry.take(4 << 20).read_to_end(&mut bytes).map_err(|e| invalid(e.to_string()))?;
            manifest = Some(bytes);
        } else if kind.is_file() {
            let mut writer = store.blob_writer()?;
            io::copy(entry, &mut writer).map_err(|e| invalid(format!("{}: {e}", path.display())))?;
            members.insert(path, writer.complete()?);
        }
        Ok(())
    })?;
    let manifest = manifest.ok_or_else(|| invalid("not a docker archive: it has no manifest.json".into()))?;
    let entries: Vec<ManifestEntry> =
        serde_json::from_slice(&manifest).map_err(|e| invalid(format!("manifest.json: {e}")))?;
    let entry = choose(entries, image).map_err(|e| invalid(e.to_string()))?;
    let member = |name: &str| -> Result<&WrittenBlob, LayoutError> {
        let mut path = normalise(Path::new(name));
        for _ in 0..8 {
            match links.get(&path) {
                Some(target) => path = target.clone(),
                None => break,
            }
        }
        members.get(&path).ok_or_else(|| invalid(format!("manifest.json names {name}, which the archive lacks")))
    };
    let config = member(&entry.config)?;
    let mut layers = Vec::new();
    for name in &entry.layers {
        let blob = member(name)?;
        let mut head = [0u8; 4];
        let read = File::open(store.blob_path(&blob.digest))
            .and_then(|mut f| f.read(&mut head))
            .map_err(|source| LayoutError::Io { action: "cannot read", path: store.blob_path(&blob.digest), source })?;
        layers.push(json!({
            "mediaType": media::sniff_layer(&head[..read]),
            "digest": blob.digest.as_str(),
            "size": blob.size,
        }));
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media::MANIFEST,
        "config": { "mediaType": media::CONFIG, "digest": config.digest.as_str(), "size": config.size },
        "layers": layers,
    });
    super::json::canonical(&manifest).map_err(|e| invalid(e.to_string()))
}

/// The entry of `manifest.json` that `image` names, as containers/image
/// chooses: `@N` by position, a name by `RepoTags` (normalised, so
/// `busybox:1` is `docker.io/library/busybox:1`); none, the only one.
fn choose(mut entries: Vec<ManifestEntry>, image: Option<&ArchiveImage>) -> Result<ManifestEntry, Unchosen> {
    let count = entries.len();
    let names = |entries: &[ManifestEntry]| {
        let tags: Vec<&str> = entries.iter().flat_map(|e| e.repo_tags.iter().flatten()).map(String::as_str).collect();
        if tags.is_empty() { "none".to_owned() } else { tags.join(", ") }
    };
    match image {
        None if count == 1 => Ok(entries.remove(0)),
        None if count == 0 => Err(Unchosen::Empty),
        None => Err(Unchosen::Several { count, names: names(&entries) }),
        Some(ArchiveImage::Index(n)) if *n < count => Ok(entries.swap_remove(*n)),
        Some(ArchiveImage::Index(n)) => Err(Unchosen::NoIndex { n: *n, count, last: count.max(1) - 1 }),
        Some(ArchiveImage::Named(wanted)) => {
            let same = |tag: &String| {
                Reference::parse(tag).is_ok_and(|r| {
                    (&r.registry, &r.repository, &r.tag) == (&wanted.registry, &wanted.repository, &wanted.tag)
                })
            };
            match entries.iter().position(|e| e.repo_tags.iter().flatten().any(same)) {
                Some(found) => Ok(entries.swap_remove(found)),
                None => Err(Unchosen::NoName { wanted: wanted.to_string(), names: names(&entries) }),
            }
        }
    }
}

/// Why no entry of `manifest.json` is the image asked for.
#[derive(Debug, Error)]
enum Unchosen {
    #[error("manifest.json lists no image")]
    Empty,
    #[error("the archive holds {count} images: name one with :NAME:TAG or :@N (RepoTags: {names})")]
    Several { count: usize, names: String },
    #[error("@{n} names no image: the archive holds {count} (@0 to @{last})")]
    NoIndex { n: usize, count: usize, last: usize },
    #[error("no image is named {wanted} (RepoTags: {names})")]
    NoName { wanted: String, names: String },
}

/// `./a/../b` → `b`; names that climb out stay as they are (and match nothing).
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Writes `image` to a docker archive at `file` tagged `repo_tags`
/// (`NAME:TAG`), replacing it. Layers are decompressed into `tmp` first,
/// and checked against their diff_ids.
pub(crate) fn write(file: &Path, store: &Store, image: &BuiltImage, repo_tags: &[String]) -> Result<(), LayoutError> {
    let config_name = format!("{}.json", image.config.digest.hex());
    let mut layer_files: Vec<(String, tempfile::NamedTempFile)> = Vec::new();
    let mut names = Vec::new();
    for layer in &image.layers {
        let name = format!("{}.tar", layer.diff_id.hex());
        if !layer_files.iter().any(|(n, _)| *n == name) {
            let tmp = decompress(store, &layer.digest, layer.media_type, &layer.diff_id)?;
            layer_files.push((name.clone(), tmp));
        }
        names.push(name);
    }
    let manifest = serde_json::to_vec(&[ManifestEntry {
        config: config_name.clone(),
        repo_tags: Some(repo_tags.to_vec()),
        layers: names,
    }])
    .map_err(|e| LayoutError::Invalid { path: file.to_owned(), message: e.to_string() })?;
    write_tar(file, |out| {
        out.blob(&config_name, &store.blob_path(&image.config.digest))?;
        for (name, tmp) in &layer_files {
            out.blob(name, tmp.path())?;
        }
        out.file("manifest.json", &manifest)
    })
}

/// Blob `digest` uncompressed into a temp file in the store, checked
/// against `diff_id`.
fn decompress(
    store: &Store,
    digest: &Digest,
    media_type: &str,
    diff_id: &Digest,
) -> Result<tempfile::NamedTempFile, LayoutError> {
    let path = store.blob_path(digest);
    let io_err = |source| LayoutError::Io { action: "cannot decompress", path: path.clone(), source };
    let input = BufReader::new(File::open(&path).map_err(io_err)?);
    let mut reader = decoder(media_type, input).map_err(io_err)?;
    let tmp = store.temp_file()?;
    let mut out = HashingWriter::new(io::BufWriter::new(tmp));
    io::copy(&mut reader, &mut out).map_err(io_err)?;
    let (buffered, actual, _) = out.finish();
    let mut tmp = buffered.into_inner().map_err(|e| io_err(e.into_error()))?;
    if actual != *diff_id {
        return Err(LayoutError::Invalid {
            path,
            message: format!("layer {digest} uncompresses to {actual}, not its diff_id {diff_id}"),
        });
    }
    tmp.flush().and_then(|()| tmp.rewind()).map_err(io_err)?;
    Ok(tmp)
}
