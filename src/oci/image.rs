//! The images compose-img holds in its store, built or fetched: their
//! layers, config and manifest, and writing the manifest and index
//! documents of them (always canonical JSON).

#![allow(clippy::disallowed_types, reason = "oci-spec's builders take HashMaps; the JSON goes through json::canonical")]

use std::collections::HashMap;
use std::time::{Duration, UNIX_EPOCH};

use oci_spec::image::{
    ANNOTATION_CREATED, Arch, Descriptor, ImageConfiguration, ImageIndexBuilder, ImageManifestBuilder, MediaType, Os,
    PlatformBuilder,
};
use thiserror::Error;

use super::json::canonical;
use super::media;
use super::platform::Platform;
use super::registry_reference::Reference;
use crate::digest::Digest;
use crate::store::{Store, StoreError, WrittenBlob};

/// A layer blob in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BuiltLayer {
    /// Whether it came from the layer cache rather than being written.
    pub reused: bool,
    pub name: String,
    /// Digest of the compressed blob.
    pub digest: Digest,
    /// Size of the compressed blob.
    pub size: u64,
    /// Digest of the uncompressed tar.
    pub diff_id: Digest,
    pub media_type: &'static str,
}

/// A complete image in the store, built or fetched.
#[derive(Debug, Clone)]
pub(crate) struct BuiltImage {
    /// How children name their base: `NAME:TAG` of a recipe (its first
    /// tag), or the reference an image was fetched from.
    pub name: String,
    pub manifest: WrittenBlob,
    /// The manifest's media type (OCI, or Docker schema 2 for some fetched images).
    pub media_type: String,
    pub platform: Platform,
    /// A registry repository known to hold this image's parent layers,
    /// so a push to the same registry can mount them.
    pub origin: Option<Reference>,
    pub config: WrittenBlob,
    /// The parsed config, which children build on.
    pub config_json: ImageConfiguration,
    /// Every layer, the parent's first.
    pub layers: Vec<BuiltLayer>,
    /// What the recipe's image-level plugins printed.
    pub log: Vec<String>,
}

impl BuiltImage {
    /// Every blob the manifest needs, manifest last.
    pub(crate) fn blobs(&self) -> impl Iterator<Item = &Digest> {
        self.layers.iter().map(|l| &l.digest).chain([&self.config.digest, &self.manifest.digest])
    }
}

/// A document of an image could not be made or stored.
#[derive(Debug, Error)]
pub(crate) enum ImageError {
    #[error("cannot build the image {what}: {message}")]
    Spec { what: &'static str, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ImageError {
    /// An oci-spec builder refused `what`.
    pub(crate) fn spec(what: &'static str) -> impl Fn(oci_spec::OciSpecError) -> ImageError {
        move |e| ImageError::Spec { what, message: e.to_string() }
    }
}

/// RFC 3339 (UTC, seconds) for a Unix time.
pub(crate) fn rfc3339(epoch: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(epoch)).to_string()
}

/// Writes a document to the store as canonical JSON.
pub(crate) fn write_json(value: &impl serde::Serialize, store: &Store) -> Result<WrittenBlob, ImageError> {
    let bytes = canonical(value).map_err(|e| ImageError::Spec { what: "JSON", message: e.to_string() })?;
    Ok(store.write_blob(&bytes)?)
}

/// Writes the OCI manifest of `config` and `layers` to the store.
pub(crate) fn write_manifest(
    config: &WrittenBlob,
    layers: &[BuiltLayer],
    annotations: HashMap<String, String>,
    store: &Store,
) -> Result<WrittenBlob, ImageError> {
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(descriptor(media::CONFIG, config))
        .layers(
            layers
                .iter()
                .map(|l| descriptor(l.media_type, &WrittenBlob { digest: l.digest.clone(), size: l.size }))
                .collect::<Vec<_>>(),
        )
        .annotations(annotations)
        .build()
        .map_err(|e| ImageError::Spec { what: "manifest", message: e.to_string() })?;
    write_json(&manifest, store)
}

/// The index of several images: one entry per image, with its platform, in
/// the order given, annotated with `annotations` and the creation time.
pub(crate) fn write_index(
    images: &[BuiltImage],
    mut annotations: HashMap<String, String>,
    epoch: u64,
    store: &Store,
) -> Result<WrittenBlob, ImageError> {
    let mut manifests = Vec::new();
    for image in images {
        let mut entry = descriptor(&image.media_type, &image.manifest);
        let mut platform = PlatformBuilder::default()
            .os(Os::from(image.platform.os.as_str()))
            .architecture(Arch::from(image.platform.architecture.as_str()));
        if let Some(variant) = &image.platform.variant {
            platform = platform.variant(variant.clone());
        }
        entry.set_platform(Some(platform.build().map_err(ImageError::spec("platform"))?));
        manifests.push(entry);
    }
    annotations.insert(ANNOTATION_CREATED.to_owned(), rfc3339(epoch));
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .annotations(annotations)
        .build()
        .map_err(ImageError::spec("index"))?;
    write_json(&index, store)
}

/// A descriptor of a blob written by compose-img (its digest is always a
/// valid sha256 digest).
pub(crate) fn descriptor(media_type: &str, blob: &WrittenBlob) -> Descriptor {
    let digest =
        blob.digest.as_str().parse::<oci_spec::image::Digest>().unwrap_or_else(|_| unreachable!("Digest is validated"));
    Descriptor::new(MediaType::from(media_type), blob.size, digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_utc_seconds() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
