//! What an image holds that its SBOM lists: every regular file of the final
//! file system that a layer this build made put there (path, sha256, sha1,
//! size, which recipe entry, plugin or source image it came from), and the
//! packages its package databases declare.
//!
//! Files are read back from the layer blobs in the store, so what is listed
//! is what the image holds, whatever the cache reused.

use std::io::{self, Read, Seek, SeekFrom};

use sha1::Sha1;
use sha2::{Digest as _, Sha256};

use super::packages::{self, Package};
use super::{AttestError, Made, Subject};
use crate::oci::image::BuiltImage;
use crate::oci::layerfs::{self, Entry, Kind, Merged};
use crate::recipe::{EntryKind, Layer};
use crate::store::Store;

/// The most a package database is read (bytes).
const MAX_DATABASE: u64 = 64 << 20;

/// One regular file a layer of this build added.
#[derive(Debug, Clone)]
pub(crate) struct AddedFile {
    /// Absolute, as in the image.
    pub path: String,
    pub sha256: String,
    pub sha1: String,
    pub size: u64,
    /// Index of its layer in the image (from 0, the bottom one).
    pub layer: usize,
    pub origin: Origin,
}

/// Where a file came from.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    /// `recipe` (an entry written in the recipe), `plugin` or `image` (a
    /// copy out of another image).
    pub kind: &'static str,
    /// The recipe, line, layer and entry, e.g.
    /// ``app.toml:12 layer `app`: copy app/example-ca.pem``.
    pub detail: String,
}

/// What an SBOM lists of one image.
#[derive(Debug)]
pub(crate) struct Contents {
    /// Sorted by path.
    pub files: Vec<AddedFile>,
    /// Sorted by name, version, architecture.
    pub packages: Vec<Package>,
}

/// Reads the image of `subject` back from `store`.
pub(crate) fn read(subject: &Subject, store: &Store) -> Result<Contents, AttestError> {
    let image = subject.image;
    let mut merged = Merged::default();
    for (index, layer) in image.layers.iter().enumerate() {
        let changes =
            layerfs::read_layer(&store.blob_path(&layer.digest), layer.media_type, false, Some(&layer.diff_id))
                .map_err(|source| AttestError::Layer { digest: layer.digest.clone(), source })?;
        merged.apply(index, changes);
    }
    let first = subject.recipes.iter().map(|m| m.first_layer).min().unwrap_or(image.layers.len());
    let mut files = Vec::new();
    for index in first..image.layers.len() {
        files.extend(hash_layer(image, index, &merged, store)?);
    }
    // Hard links to files of this build's layers share their content.
    for (entry, layer) in merged.entries.values() {
        if *layer < first || !matches!(entry.kind, Kind::Hardlink(_)) {
            continue;
        }
        let Some((target, _)) = merged.resolve(&entry.path) else { continue };
        let target = format!("/{}", target.path);
        if let Some(file) = files.iter().find(|f| f.path == target).cloned() {
            files.push(AddedFile { path: format!("/{}", entry.path), layer: *layer, ..file });
        }
    }
    for file in &mut files {
        file.origin = origin(subject, file.layer, &file.path);
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Contents { files, packages: declared_packages(image, &merged, store)? })
}

/// The regular files of the final file system that layer `index` holds,
/// hashed (origins filled in later).
fn hash_layer(image: &BuiltImage, index: usize, merged: &Merged, store: &Store) -> Result<Vec<AddedFile>, AttestError> {
    let layer = &image.layers[index];
    let wanted: Vec<&Entry> =
        merged.entries.values().filter(|(e, l)| *l == index && e.kind == Kind::File).map(|(e, _)| e).collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let failed = |source| AttestError::Layer { digest: layer.digest.clone(), source };
    let mut plain = layerfs::seekable(&store.blob_path(&layer.digest), layer.media_type).map_err(failed)?;
    let mut files = Vec::new();
    for entry in wanted {
        let (sha256, sha1) = hash_at(&mut plain, entry.offset, entry.size).map_err(failed)?;
        let origin = Origin { kind: "recipe", detail: String::new() };
        files.push(AddedFile {
            path: format!("/{}", entry.path),
            sha256,
            sha1,
            size: entry.size,
            layer: index,
            origin,
        });
    }
    Ok(files)
}

/// The sha256 and sha1 (hex) of `size` bytes at `offset`.
fn hash_at(file: &mut std::fs::File, offset: u64, size: u64) -> io::Result<(String, String)> {
    file.seek(SeekFrom::Start(offset))?;
    let mut reader = file.take(size);
    let (mut sha256, mut sha1) = (Sha256::new(), Sha1::new());
    let mut buf = vec![0; 64 << 10];
    let mut read = 0;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        sha256.update(&buf[..n]);
        sha1.update(&buf[..n]);
        read += n as u64;
    }
    if read != size {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the layer ends inside a file"));
    }
    Ok((hex(&sha256.finalize()), hex(&sha1.finalize())))
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The recipe layer that made image layer `index`.
fn made_by<'a>(subject: &'a Subject, index: usize) -> Option<(&'a Made<'a>, &'a Layer)> {
    subject.recipes.iter().find_map(|made| {
        let offset = index.checked_sub(made.first_layer)?;
        made.recipe.layers.get(offset).map(|layer| (made, layer))
    })
}

/// Which entry of the recipe layer that made layer `index` put `path`
/// (absolute) there.
fn origin(subject: &Subject, index: usize, path: &str) -> Origin {
    let Some((made, layer)) = made_by(subject, index) else {
        return Origin { kind: "recipe", detail: format!("layer {index}") };
    };
    let relative = path.trim_start_matches('/');
    let at = |loc: &crate::recipe::Loc| {
        let line = made.recipe.file.text[..loc.span.start.min(made.recipe.file.text.len())].matches('\n').count() + 1;
        format!("{}:{line} layer `{}`", made.uri, layer.name)
    };
    let mut plugins = Vec::new();
    for entry in &layer.entries {
        let found = match &entry.kind {
            EntryKind::Copy(copy) => {
                let dest = copy.dest.as_str();
                (relative == dest || layerfs::inside(relative, dest)).then(|| match &copy.from {
                    Some(source) => ("image", format!("copy {} from {}", copy.src, source.name)),
                    None => ("recipe", format!("copy {}", copy.src)),
                })
            }
            EntryKind::File { path: p, .. } => (p.as_str() == relative).then(|| ("recipe", "file".to_owned())),
            EntryKind::Hardlink { path: p, target } => {
                (p.as_str() == relative).then(|| ("recipe", format!("hardlink to /{}", target.as_str())))
            }
            EntryKind::Plugin(plugin) => {
                plugins.push((entry, plugin));
                None
            }
            _ => None,
        };
        if let Some((kind, what)) = found {
            return Origin { kind, detail: format!("{}: {what}", at(&entry.loc)) };
        }
    }
    match plugins.as_slice() {
        [] => Origin { kind: "recipe", detail: at(&layer.loc) },
        [(entry, _), ..] => {
            let names: Vec<&str> = plugins.iter().map(|(_, p)| p.shown.as_str()).collect();
            Origin { kind: "plugin", detail: format!("{}: plugin {}", at(&entry.loc), names.join(", ")) }
        }
    }
}

/// The packages the final file system's package databases declare.
fn declared_packages(image: &BuiltImage, merged: &Merged, store: &Store) -> Result<Vec<Package>, AttestError> {
    let read = |path: &str| -> Result<Option<String>, AttestError> {
        let Some((entry, index)) = merged.resolve(path) else { return Ok(None) };
        if entry.kind != Kind::File {
            return Ok(None);
        }
        let layer = &image.layers[*index];
        if entry.size > MAX_DATABASE {
            return Err(AttestError::Database {
                path: format!("/{path}"),
                reason: format!("{} bytes, over the {MAX_DATABASE} bytes compose-img reads", entry.size),
            });
        }
        let bytes = layerfs::read_content(&store.blob_path(&layer.digest), layer.media_type, entry.offset, entry.size)
            .map_err(|source| AttestError::Layer { digest: layer.digest.clone(), source })?;
        Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
    };
    let os_release = match read("etc/os-release")? {
        Some(text) => Some(text),
        None => read("usr/lib/os-release")?,
    };
    let distro = os_release.as_deref().and_then(packages::os_id);
    let mut found = Vec::new();
    if let Some(status) = read(packages::DPKG_STATUS)? {
        found.extend(packages::dpkg(&status, distro.as_deref().unwrap_or("debian")));
    }
    if let Some(installed) = read(packages::APK_INSTALLED)? {
        found.extend(packages::apk(&installed, distro.as_deref().unwrap_or("alpine")));
    }
    found.sort();
    found.dedup();
    Ok(found)
}
