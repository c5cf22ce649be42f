//! Writing an image into an OCI image layout directory: `oci-layout`,
//! `blobs/sha256/`, and `index.json` with one entry per tag (annotated
//! `org.opencontainers.image.ref.name`, and an image's also
//! `io.containerd.image.name`: the name it was written under, which `sign`
//! takes as its identity, [`IMAGE_NAME`]). Entries of other tags already in
//! the layout are kept; a tag written again is replaced.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use oci_spec::image::{ANNOTATION_REF_NAME, Descriptor, ImageIndex, ImageIndexBuilder, MediaType};
use thiserror::Error;

use super::image::descriptor;
use super::json::canonical;
use super::manifest::{self, IndexEntry, Parsed};
use super::media;
use super::referrers::Referrer;
use super::tagged::Tagged;
use crate::store::{Store, StoreError, WrittenBlob};

pub(crate) const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

#[derive(Debug, Error)]
pub(crate) enum LayoutError {
    #[error("{action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} exists and is not an OCI image layout (no oci-layout file); refusing to write into it", .0.display())]
    NotALayout(PathBuf),
    #[error("{} is not a valid OCI index: {message}", path.display())]
    BadIndex { path: PathBuf, message: String },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("{}: not an OCI image layout (no index.json)", .0.display())]
    Missing(PathBuf),
    #[error("{}: no image tagged `{tag}` (tags: {tags})", path.display())]
    NoSuchTag { path: PathBuf, tag: String, tags: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl LayoutError {
    /// The layout, archive or tag does not exist (as opposed to being unreadable or invalid).
    pub(crate) fn is_not_found(&self) -> bool {
        match self {
            LayoutError::Missing(_) | LayoutError::NoSuchTag { .. } => true,
            LayoutError::Io { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
            _ => false,
        }
    }
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> LayoutError + use<> {
    let path = path.to_owned();
    move |source| LayoutError::Io { action, path, source }
}

/// The annotation of a layout's index entry naming the image as
/// `NAME:TAG` (as containerd and `docker save` write it).
pub(crate) const IMAGE_NAME: &str = "io.containerd.image.name";

/// Writes each image of `entries` into the layout at `dir` under each of
/// its tags, named `name`. Each of `referrers` is an untagged entry with its `artifactType` (its
/// manifest, with its blobs, among `entries`, under no tag).
pub(crate) fn write_layout(
    dir: &Path,
    store: &Store,
    entries: &[(&Tagged, &[String])],
    referrers: &[&Referrer],
    name: &str,
) -> Result<(), LayoutError> {
    let layout_file = dir.join("oci-layout");
    #[allow(clippy::disallowed_methods, reason = "only asks whether the directory is empty")]
    let is_empty_dir = fs::read_dir(dir).map(|mut d| d.next().is_none()).unwrap_or(true);
    if !is_empty_dir && !layout_file.exists() {
        return Err(LayoutError::NotALayout(dir.to_owned()));
    }
    let blobs = dir.join("blobs").join("sha256");
    fs::create_dir_all(&blobs).map_err(io_err("cannot create", &blobs))?;
    if !layout_file.exists() {
        write_atomic(&layout_file, OCI_LAYOUT)?;
    }
    for (tagged, _) in entries {
        for digest in tagged.blobs() {
            store.export(digest, &blobs.join(digest.hex()))?;
        }
    }

    let index_path = dir.join("index.json");
    let existing = match fs::read(&index_path) {
        Ok(bytes) => serde_json::from_slice::<ImageIndex>(&bytes)
            .map_err(|e| LayoutError::BadIndex { path: index_path.clone(), message: e.to_string() })?
            .manifests()
            .clone(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io_err("cannot read", &index_path)(e)),
    };
    write_atomic(&index_path, &index_json(existing, entries, referrers, name, &index_path)?)
}

/// The `index.json` of a layout holding `manifests` (those with a tag
/// being written are replaced) and each image of `entries` under its tags,
/// and each of `referrers` untagged with its `artifactType` and
/// annotations (once: an entry of the same digest is replaced); images
/// named `name` (signatures and other attachments are not named).
pub(crate) fn index_json(
    mut manifests: Vec<Descriptor>,
    entries: &[(&Tagged, &[String])],
    referrers: &[&Referrer],
    name: &str,
    path: &Path,
) -> Result<Vec<u8>, LayoutError> {
    let bad = |e: &dyn std::fmt::Display| LayoutError::BadIndex { path: path.to_owned(), message: e.to_string() };
    for (tagged, tags) in entries {
        manifests.retain(|m| !ref_name(m).is_some_and(|name| tags.iter().any(|t| t == name)));
        for tag in *tags {
            let mut entry = descriptor(&tagged.media_type, &tagged.root);
            let mut annotations: std::collections::BTreeMap<String, String> =
                [(ANNOTATION_REF_NAME.to_owned(), tag.clone())].into_iter().collect();
            if !manifest::is_attachment_tag(tag) && !tagged.is_artifact() {
                annotations.insert(IMAGE_NAME.to_owned(), format!("{name}:{tag}"));
            }
            #[allow(clippy::disallowed_types, reason = "oci-spec's type; serialised through oci::json::canonical")]
            let annotations: std::collections::HashMap<String, String> = annotations.into_iter().collect();
            entry.set_annotations(Some(annotations));
            manifests.push(entry);
        }
    }
    for referrer in referrers {
        manifests.retain(|m| m.digest().as_ref() != referrer.desc.digest.as_str() || ref_name(m).is_some());
        let blob = WrittenBlob { digest: referrer.desc.digest.clone(), size: referrer.desc.size };
        let mut entry = descriptor(media::MANIFEST, &blob);
        entry.set_artifact_type(Some(MediaType::Other(referrer.artifact_type.clone())));
        if !referrer.annotations.is_empty() {
            entry.set_annotations(Some(referrer.annotations.clone().into_iter().collect()));
        }
        manifests.push(entry);
    }
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .build()
        .map_err(|e| bad(&e))?;
    canonical(&index).map_err(|e| bad(&e))
}

/// The most an `index.json` may hold (as any other document).
const INDEX_LIMIT: u64 = 4 << 20;

/// The entry of the layout at `dir` that `tag` names; without a tag, its
/// only entry.
pub(crate) fn find(dir: &Path, tag: Option<&str>) -> Result<IndexEntry, LayoutError> {
    let index_path = dir.join("index.json");
    let bytes = match crate::files::read_bounded(&index_path, INDEX_LIMIT) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(LayoutError::Missing(dir.to_owned())),
        other => other.map_err(io_err("cannot read", &index_path))?,
    };
    find_in_index(&bytes, tag, &index_path)
}

/// The entry of an `index.json` (its bytes) that `tag` names.
pub(crate) fn find_in_index(bytes: &[u8], tag: Option<&str>, path: &Path) -> Result<IndexEntry, LayoutError> {
    let invalid = |message: String| LayoutError::Invalid { path: path.to_owned(), message };
    let entries = match manifest::parse(bytes, Some(media::INDEX)) {
        Ok((_, Parsed::Index(entries))) => entries,
        Ok(_) => return Err(invalid("index.json is not an image index".into())),
        Err(e) => return Err(invalid(format!("index.json: {e}"))),
    };
    let tags: Vec<&str> = entries.iter().filter_map(|e| e.ref_name.as_deref()).collect();
    match tag {
        Some(tag) => {
            entries.iter().find(|e| e.ref_name.as_deref() == Some(tag)).cloned().ok_or_else(|| LayoutError::NoSuchTag {
                path: path.to_owned(),
                tag: tag.to_owned(),
                tags: if tags.is_empty() { "none".into() } else { tags.join(", ") },
            })
        }
        None => {
            // Signatures and other artifacts never count: the layout names
            // one image when every other entry is that image's digest.
            let images: Vec<&IndexEntry> = entries.iter().filter(|e| e.may_be_image()).collect();
            match images.first() {
                None if entries.len() == 1 => Ok(entries[0].clone()),
                None => Err(invalid("the layout holds no image".into())),
                Some(first) if images.iter().all(|e| e.desc.digest == first.desc.digest) => Ok((*first).clone()),
                Some(_) => {
                    let tags: Vec<&str> = images.iter().filter_map(|e| e.ref_name.as_deref()).collect();
                    let tags = if tags.is_empty() { "none".to_owned() } else { tags.join(", ") };
                    Err(invalid(format!("the layout holds several images: name one with :TAG (tags: {tags})")))
                }
            }
        }
    }
}

fn ref_name(descriptor: &Descriptor) -> Option<&str> {
    descriptor.annotations().as_ref()?.get(ANNOTATION_REF_NAME).map(String::as_str)
}

/// Replaces `path` with `bytes` through a temp file in the same directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), LayoutError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err("cannot create a file in", dir))?;
    tmp.write_all(bytes).map_err(io_err("cannot write", path))?;
    tmp.as_file().sync_all().map_err(io_err("cannot sync", path))?;
    std::fs::set_permissions(tmp.path(), std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .map_err(io_err("cannot set mode of", path))?;
    tmp.persist(path).map_err(|e| io_err("cannot write", path)(e.error))?;
    Ok(())
}
