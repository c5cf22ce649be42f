//! Signature manifests as cosign writes them: an OCI image manifest tagged
//! `sha256-<hex>.sig`, one layer per signature, each layer the payload blob
//! (media type `application/vnd.dev.cosign.simplesigning.v1+json`) carrying
//! the base64 DER signature in the annotation
//! `dev.cosignproject.cosign/signature`. The config is cosign's empty one
//! with the payload digests as diff_ids.

use std::collections::BTreeMap;

use oci_spec::image::ImageConfiguration;
use serde::Deserialize;
use serde_json::json;

use super::SignError;
use crate::digest::Digest;
use crate::oci::image::BuiltImage;
use crate::oci::image::BuiltLayer;
use crate::oci::json::canonical;
use crate::oci::media;
use crate::oci::platform::Platform;
use crate::oci::tagged::Tagged;
use crate::store::Store;

pub const ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The zero time cosign writes into signature configs.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The tag of the signatures of the manifest `digest`.
pub fn tag(digest: &Digest) -> String {
    format!("sha256-{}.sig", digest.hex())
}

/// One signature: the payload and the base64 DER signature over it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    pub payload: Vec<u8>,
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
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// The signatures of a signature manifest already in the store (`tagged`
/// as fetched): its simple-signing layers with their annotations.
pub fn read(tagged: &Tagged, store: &Store) -> Result<Vec<Signature>, SignError> {
    let read_blob = |digest: &Digest| {
        std::fs::read(store.blob_path(digest)).map_err(|e| SignError::Key(format!("cannot read {digest}: {e}")))
    };
    let manifest: RawManifest = serde_json::from_slice(&read_blob(&tagged.root.digest)?)
        .map_err(|e| SignError::Invalid(format!("the signature manifest is not a manifest: {e}")))?;
    let mut signatures = Vec::new();
    for layer in manifest.layers.into_iter().filter(|l| l.media_type == media::SIMPLESIGNING) {
        let digest = Digest::parse(&layer.digest).map_err(SignError::Invalid)?;
        let signature = layer.annotations.get(ANNOTATION).cloned().unwrap_or_default();
        signatures.push(Signature { payload: read_blob(&digest)?, signature });
    }
    Ok(signatures)
}

/// Writes a signature manifest holding `signatures` to the store.
pub fn write(signatures: &[Signature], store: &Store) -> Result<Tagged, SignError> {
    let mut layers = Vec::new();
    let mut built = Vec::new();
    for signature in signatures {
        let blob = store.write_blob(&signature.payload)?;
        layers.push(json!({
            "mediaType": media::SIMPLESIGNING,
            "size": blob.size,
            "digest": blob.digest.as_str(),
            "annotations": { ANNOTATION: signature.signature },
        }));
        built.push(BuiltLayer {
            reused: true,
            name: "signature".into(),
            digest: blob.digest.clone(),
            size: blob.size,
            diff_id: blob.digest,
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
        "layers": layers,
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
