//! Signature manifests as cosign writes them: an OCI image manifest tagged
//! `sha256-<hex>.sig`, one layer per signature, each layer the payload blob
//! (media type `application/vnd.dev.cosign.simplesigning.v1+json`) carrying
//! the base64 DER signature in the annotation
//! `dev.cosignproject.cosign/signature`. The config is cosign's empty one
//! with the payload digests as diff_ids.
//!
//! Reading one is bounded: at most [`MAX_SIGNATURES`] layers, payloads of
//! at most [`MAX_PAYLOAD`] bytes, each read only when needed and one at a
//! time.
//!
//! The same manifest with other layers is how cosign attaches anything
//! else: [`write_layers`] and [`read_layers`] write and read any list of
//! annotated layers (the attestations of `attest::attached`).

use std::collections::BTreeMap;

use oci_spec::image::ImageConfiguration;
use serde::Deserialize;
use serde_json::json;

use super::SignError;
use super::limits::{self, MAX_MANIFEST, MAX_PAYLOAD, MAX_SIGNATURES};
use crate::digest::Digest;
use crate::oci::image::BuiltImage;
use crate::oci::image::BuiltLayer;
use crate::oci::json::canonical;
use crate::oci::media;
use crate::oci::platform::Platform;
use crate::oci::tagged::Tagged;
use crate::store::Store;

pub(crate) const ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The zero time cosign writes into signature configs.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The tag of the signatures of the manifest `digest`.
pub(crate) fn tag(digest: &Digest) -> String {
    format!("sha256-{}.sig", digest.hex())
}

/// One signature layer: the payload blob (in the store) and the base64
/// DER signature over it (the layer's annotation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Signature {
    /// The payload blob: its digest is the SHA-256 of the payload.
    pub payload: Digest,
    pub size: u64,
    pub signature: String,
}

#[derive(Deserialize)]
struct RawManifest {
    layers: Vec<RawLayer>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLayer {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// The layers of a cosign attachment manifest (signatures or
/// attestations) already in the store (`tagged` as fetched, `name` its
/// reference for messages), in order. A manifest of more than
/// [`MAX_SIGNATURES`] layers is refused.
pub(crate) fn read_layers(tagged: &Tagged, store: &Store, name: &str) -> Result<Vec<Layer>, SignError> {
    let digest = &tagged.root.digest;
    let (bytes, _) = limits::read_regular(&store.blob_path(digest), MAX_MANIFEST)
        .map_err(|e| SignError::Invalid(format!("{name}: cannot read the manifest {digest}: {e}")))?;
    let manifest: RawManifest = serde_json::from_slice(&bytes)
        .map_err(|e| SignError::Invalid(format!("{name}: the manifest {digest} is not a manifest: {e}")))?;
    drop(bytes);
    if manifest.layers.len() > MAX_SIGNATURES {
        return Err(SignError::Invalid(format!(
            "{name}: the manifest {digest} has {} layers; compose-img reads at most {MAX_SIGNATURES} \
             signatures or attestations per manifest",
            manifest.layers.len()
        )));
    }
    let mut layers = Vec::new();
    for layer in manifest.layers {
        let digest = Digest::parse(&layer.digest)
            .map_err(|e| SignError::Invalid(format!("{name}: {}", super::payload::printable(&e.to_string()))))?;
        layers.push(Layer { media_type: layer.media_type, digest, size: layer.size, annotations: layer.annotations });
    }
    Ok(layers)
}

/// One layer of a cosign attachment manifest: a blob in the store and its
/// annotations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layer {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    pub annotations: BTreeMap<String, String>,
}

/// The signatures of a signature manifest already in the store (`tagged`
/// as fetched, `name` its reference for messages): its simple-signing
/// layers with their annotations, in order. Payloads are not read (see
/// [`payload`]). A manifest of more than [`MAX_SIGNATURES`] layers, or
/// naming a payload over [`MAX_PAYLOAD`] bytes, is refused.
pub(crate) fn read(tagged: &Tagged, store: &Store, name: &str) -> Result<Vec<Signature>, SignError> {
    let digest = &tagged.root.digest;
    let mut signatures = Vec::new();
    for layer in read_layers(tagged, store, name)?.into_iter().filter(|l| l.media_type == media::SIMPLESIGNING) {
        if layer.size > MAX_PAYLOAD {
            return Err(SignError::Invalid(format!(
                "{name}: the signature manifest {digest} names a payload {} of {} bytes, over the {} limit \
                 for a payload",
                layer.digest,
                layer.size,
                limits::shown(MAX_PAYLOAD)
            )));
        }
        let signature = layer.annotations.get(ANNOTATION).cloned().unwrap_or_default();
        signatures.push(Signature { payload: layer.digest, size: layer.size, signature });
    }
    Ok(signatures)
}

/// The payload of `signature`, read from the store (at most
/// [`MAX_PAYLOAD`] bytes, checked against its digest).
pub(crate) fn payload(signature: &Signature, store: &Store) -> Result<Vec<u8>, SignError> {
    let digest = &signature.payload;
    let (bytes, _) = limits::read_regular(&store.blob_path(digest), MAX_PAYLOAD)
        .map_err(|e| SignError::Invalid(format!("cannot read the signature payload {digest}: {e}")))?;
    let actual = Digest::of(&bytes);
    if actual != *digest {
        return Err(SignError::Invalid(format!("the signature payload {digest} in the store has digest {actual}")));
    }
    Ok(bytes)
}

/// Stores `payload` and returns the signature layer for it and `signature`.
pub(crate) fn store_payload(payload: &[u8], signature: String, store: &Store) -> Result<Signature, SignError> {
    let blob = store.write_blob(payload)?;
    Ok(Signature { payload: blob.digest, size: blob.size, signature })
}

/// Writes a signature manifest holding `signatures` (their payloads in the
/// store already) to the store.
pub(crate) fn write(signatures: &[Signature], store: &Store) -> Result<Tagged, SignError> {
    let layers: Vec<Layer> = signatures
        .iter()
        .map(|signature| Layer {
            media_type: media::SIMPLESIGNING.to_owned(),
            digest: signature.payload.clone(),
            size: signature.size,
            annotations: BTreeMap::from([(ANNOTATION.to_owned(), signature.signature.clone())]),
        })
        .collect();
    write_layers(&layers, "signature", store)
}

/// Writes a cosign attachment manifest holding `layers` (their blobs in
/// the store already) to the store: cosign's config, with the layer
/// digests as diff_ids. `what` names the layers in the image compose-img
/// keeps of it.
pub(crate) fn write_layers(layers: &[Layer], what: &str, store: &Store) -> Result<Tagged, SignError> {
    let mut descriptors = Vec::new();
    let mut built = Vec::new();
    for layer in layers {
        descriptors.push(json!({
            "mediaType": layer.media_type,
            "size": layer.size,
            "digest": layer.digest.as_str(),
            "annotations": layer.annotations,
        }));
        built.push(BuiltLayer {
            reused: true,
            name: what.to_owned(),
            digest: layer.digest.clone(),
            size: layer.size,
            diff_id: layer.digest.clone(),
            media_type: media::SIMPLESIGNING,
        });
    }
    let config = json!({
        "architecture": "",
        "config": {},
        "created": ZERO_TIME,
        "history": built.iter().map(|_| json!({ "created": ZERO_TIME })).collect::<Vec<_>>(),
        "os": "",
        "rootfs": { "type": "layers", "diff_ids": built.iter().map(|l| l.diff_id.as_str()).collect::<Vec<_>>() },
    });
    let config_bytes = canonical(&config).map_err(|e| SignError::Invalid(e.to_string()))?;
    let config_json: ImageConfiguration =
        serde_json::from_slice(&config_bytes).map_err(|e| SignError::Invalid(e.to_string()))?;
    let config_blob = store.write_blob(&config_bytes)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media::MANIFEST,
        "config": { "mediaType": media::CONFIG, "size": config_blob.size, "digest": config_blob.digest.as_str() },
        "layers": descriptors,
    });
    let manifest_blob = store.write_blob(&canonical(&manifest).map_err(|e| SignError::Invalid(e.to_string()))?)?;
    Ok(Tagged::single(BuiltImage {
        name: String::new(),
        manifest: manifest_blob,
        media_type: media::MANIFEST.to_owned(),
        platform: Platform { os: String::new(), architecture: String::new(), variant: None },
        origin: None,
        config: config_blob,
        config_json,
        layers: built,
        log: Vec::new(),
    }))
}
