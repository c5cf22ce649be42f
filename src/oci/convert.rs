//! Docker schema 2 documents rewritten with OCI media types, for an OCI
//! layout that older tools read (skopeo 1.9, podman 4.3, umoci and
//! oci-image-tool find no descriptor in a layout whose `index.json` names
//! a Docker manifest): what skopeo does when its destination is `oci:`.
//! Configs and layers keep their bytes; each manifest and index changed
//! gets a new digest. Every other field of the documents is kept.

use std::collections::BTreeMap;

use serde_json::Value;
use thiserror::Error;

use super::json::canonical;
use super::media;
use super::tagged::Tagged;
use crate::digest::Digest;
use crate::store::{Store, StoreError, WrittenBlob};

/// A document that could not be rewritten.
#[derive(Debug, Error)]
pub(crate) enum ConvertError {
    #[error("cannot convert {digest} to OCI media types: {message}")]
    Document { digest: Digest, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The OCI type of a Docker manifest, list, config or layer type; other
/// types unchanged.
fn oci_type(media_type: &str) -> &str {
    match media_type {
        media::DOCKER_MANIFEST => media::MANIFEST,
        media::DOCKER_LIST => media::INDEX,
        media::DOCKER_CONFIG => media::CONFIG,
        other => media::oci_layer(other).unwrap_or(other),
    }
}

/// Whether `tagged` holds a Docker manifest or list.
pub(crate) fn has_docker_types(tagged: &Tagged) -> bool {
    tagged.media_type == media::DOCKER_LIST || tagged.images.iter().any(|i| i.media_type == media::DOCKER_MANIFEST)
}

/// `tagged` with every Docker manifest and list rewritten with OCI types
/// (unchanged when it has none).
pub(crate) fn to_oci(tagged: &Tagged, store: &Store) -> Result<Tagged, ConvertError> {
    let mut converted = tagged.clone();
    let mut renamed: BTreeMap<Digest, (WrittenBlob, &'static str)> = BTreeMap::new();
    for image in &mut converted.images {
        if image.media_type != media::DOCKER_MANIFEST {
            continue;
        }
        let mut doc = read(store, &image.manifest.digest)?;
        doc["mediaType"] = Value::from(media::MANIFEST);
        retype(&mut doc["config"]);
        if let Some(layers) = doc["layers"].as_array_mut() {
            layers.iter_mut().for_each(retype);
        }
        let written = write(store, &image.manifest.digest, &doc)?;
        renamed.insert(image.manifest.digest.clone(), (written.clone(), media::MANIFEST));
        image.manifest = written;
        image.media_type = media::MANIFEST.to_owned();
    }
    if !tagged.is_index() {
        let image = &converted.images[0];
        converted.root = image.manifest.clone();
        converted.media_type = image.media_type.clone();
        return Ok(converted);
    }
    if tagged.media_type != media::DOCKER_LIST && renamed.is_empty() {
        return Ok(converted);
    }
    let mut doc = read(store, &tagged.root.digest)?;
    doc["mediaType"] = Value::from(media::INDEX);
    if let Some(entries) = doc["manifests"].as_array_mut() {
        for entry in entries {
            let old = entry["digest"].as_str().and_then(|d| Digest::parse(d).ok());
            match old.and_then(|d| renamed.get(&d)) {
                Some((written, media_type)) => {
                    entry["mediaType"] = Value::from(*media_type);
                    entry["digest"] = Value::from(written.digest.as_str());
                    entry["size"] = Value::from(written.size);
                }
                None => retype(entry),
            }
        }
    }
    converted.root = write(store, &tagged.root.digest, &doc)?;
    converted.media_type = media::INDEX.to_owned();
    Ok(converted)
}

/// A descriptor's media type made OCI.
fn retype(descriptor: &mut Value) {
    if let Some(media_type) = descriptor["mediaType"].as_str() {
        let oci = oci_type(media_type).to_owned();
        descriptor["mediaType"] = Value::from(oci);
    }
}

fn read(store: &Store, digest: &Digest) -> Result<Value, ConvertError> {
    let bad = |message: String| ConvertError::Document { digest: digest.clone(), message };
    let bytes = crate::files::read_bounded(&store.blob_path(digest), 4 << 20).map_err(|e| bad(e.to_string()))?;
    let doc: Value = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    if !doc.is_object() {
        return Err(bad("not a JSON object".to_owned()));
    }
    Ok(doc)
}

fn write(store: &Store, digest: &Digest, doc: &Value) -> Result<WrittenBlob, ConvertError> {
    let bytes =
        canonical(doc).map_err(|e| ConvertError::Document { digest: digest.clone(), message: e.to_string() })?;
    Ok(store.write_blob(&bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_types_become_oci_and_others_stay() {
        assert_eq!(oci_type(media::DOCKER_MANIFEST), media::MANIFEST);
        assert_eq!(oci_type(media::DOCKER_LIST), media::INDEX);
        assert_eq!(oci_type(media::DOCKER_CONFIG), media::CONFIG);
        assert_eq!(oci_type(media::DOCKER_LAYER_GZIP), media::LAYER_GZIP);
        assert_eq!(oci_type(media::DOCKER_FOREIGN_GZIP), media::NONDIST_GZIP);
        assert_eq!(oci_type("application/vnd.in-toto+json"), "application/vnd.in-toto+json");
        let mut descriptor = serde_json::json!({ "mediaType": media::DOCKER_LAYER_TAR, "size": 1 });
        retype(&mut descriptor);
        assert_eq!(descriptor["mediaType"], media::LAYER_TAR);
    }
}
