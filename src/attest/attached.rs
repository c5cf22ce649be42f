//! Attestation manifests as cosign writes them: an OCI image manifest
//! tagged `sha256-<hex>.att` beside the image, one layer per DSSE envelope
//! (media type `application/vnd.dsse.envelope.v1+json`, annotation
//! `predicateType`), written through the same machinery as signature
//! manifests (`sign::artifact`). Attaching keeps the attestations already
//! there; listing, printing an SBOM and verifying read them back, each
//! envelope within [`MAX_ENVELOPE`] bytes.

use std::collections::BTreeMap;

use p256::ecdsa::{SigningKey, VerifyingKey};

use super::dsse::{self, Rejected};
use super::{AttestError, Statements, predicate_type};
use crate::digest::Digest;
use crate::oci::platform::Platform;
use crate::oci::reference::ImageRef;
use crate::oci::tagged::Tagged;
use crate::recipe::SbomFormat;
use crate::registry::ClientOptions;
use crate::sign::artifact::{self, Layer};
use crate::sign::bundle;
use crate::sign::limits::MAX_SIGNATURES;
use crate::store::Store;
use crate::transport::{self, Attachment, Want};

/// The media type of a DSSE envelope layer.
pub(crate) const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// The layer annotation naming the envelope's predicate type.
pub(crate) const PREDICATE_ANNOTATION: &str = "predicateType";
/// The most an envelope is read (bytes): an SBOM of a large image.
pub(crate) const MAX_ENVELOPE: u64 = 64 << 20;

/// The tag of the attestations of the manifest `digest`.
pub(crate) fn tag(digest: &Digest) -> String {
    format!("sha256-{}.att", digest.hex())
}

/// The attestation manifests to write beside an image at `destination`
/// (each with its tag): for each platform manifest digest, the
/// attestations already there plus a DSSE envelope per statement (signed
/// with `key` if there is one; kept once if the same is there already).
pub(crate) fn attachments(
    statements: &Statements,
    tagged: &Tagged,
    destination: &ImageRef,
    key: Option<&SigningKey>,
    store: &Store,
    options: &ClientOptions,
) -> Result<Vec<Attachment>, AttestError> {
    let mut out = Vec::new();
    let subjects = transport::subjects(tagged);
    for (digest, statements) in statements {
        let subject = subjects.iter().find(|s| s.digest == *digest);
        let tag = tag(digest);
        let mut layers = match crate::sign::fetch_tagged(destination, digest, "att", store, options)? {
            Some(tagged) => artifact::read_layers(&tagged, store, &destination.with_tag(&tag).to_string())?,
            None => Vec::new(),
        };
        for (predicate_type, statement) in statements {
            let envelope = dsse::envelope(statement, key);
            // Signed, it is also a Sigstore bundle referrer, as cosign 3
            // attaches attestations (a bundle must carry a signature).
            if let (Some(key), Some(subject)) = (key, subject) {
                let value = serde_json::to_value(&envelope).map_err(AttestError::json("DSSE envelope"))?;
                let bundle = bundle::attestation_artifact(value, predicate_type, key.verifying_key(), subject, store)?;
                out.push(Attachment::Referrer(bundle));
            }
            let bytes = serde_json::to_vec(&envelope).map_err(AttestError::json("DSSE envelope"))?;
            let blob = store.write_blob(&bytes)?;
            if layers.iter().any(|l| l.digest == blob.digest) {
                continue;
            }
            if layers.len() >= MAX_SIGNATURES {
                return Err(AttestError::Malformed {
                    name: destination.with_tag(&tag).to_string(),
                    reason: format!("already holds {} attestations, the most compose-img reads", layers.len()),
                });
            }
            layers.push(Layer {
                media_type: DSSE_MEDIA_TYPE.to_owned(),
                digest: blob.digest,
                size: blob.size,
                annotations: BTreeMap::from([
                    (artifact::ANNOTATION.to_owned(), String::new()),
                    (PREDICATE_ANNOTATION.to_owned(), (*predicate_type).to_owned()),
                ]),
            });
        }
        out.push(Attachment::Tagged(artifact::write_layers(&layers, "attestation", store)?, tag));
    }
    Ok(out)
}

/// One attestation found beside an image.
#[derive(Debug)]
pub(crate) struct Found {
    /// The platform manifest it is attached to, and its platform.
    pub manifest: Digest,
    pub platform: Platform,
    pub predicate_type: String,
    /// The key ids of its signatures (none: unsigned).
    pub key_ids: Vec<String>,
    /// The envelope blob.
    pub digest: Digest,
    /// The envelope, for [`verify`] and [`sbom`].
    bytes: Vec<u8>,
}

/// Every attestation of every platform manifest `reference` names, in
/// manifest then manifest-layer order. An image with none is an error
/// naming the tag that was looked for.
pub(crate) fn list(reference: &ImageRef, store: &Store, options: &ClientOptions) -> Result<Vec<Found>, AttestError> {
    let tagged = transport::fetch(reference, &Want::All, store, options)?;
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for image in &tagged.images {
        let digest = &image.manifest.digest;
        let tag = tag(digest);
        let name = reference.with_tag(&tag).to_string();
        let Some(attached) = crate::sign::fetch_tagged(reference, digest, "att", store, options)? else {
            missing.push(tag);
            continue;
        };
        for layer in artifact::read_layers(&attached, store, &name)? {
            if layer.media_type != DSSE_MEDIA_TYPE {
                continue;
            }
            let bytes = read_envelope(store, &layer, &name)?;
            let key_ids = match dsse::open(&bytes) {
                Ok((envelope, _)) => envelope.signatures.into_iter().map(|s| s.keyid).collect(),
                Err(_) => Vec::new(),
            };
            found.push(Found {
                manifest: digest.clone(),
                platform: image.platform.clone(),
                predicate_type: layer.annotations.get(PREDICATE_ANNOTATION).cloned().unwrap_or_default(),
                key_ids,
                digest: layer.digest,
                bytes,
            });
        }
    }
    if found.is_empty() {
        let tag = missing.into_iter().next().unwrap_or_else(|| tag(&tagged.root.digest));
        return Err(AttestError::NoAttestations { reference: reference.to_string(), tag });
    }
    Ok(found)
}

/// The statement of an attestation found (its signature not checked).
pub(crate) fn statement(found: &Found) -> Result<dsse::Statement, Rejected> {
    dsse::open(&found.bytes).map(|(_, statement)| statement)
}

/// The envelope blob of `layer`, read from the store within
/// [`MAX_ENVELOPE`] bytes and checked against its digest.
fn read_envelope(store: &Store, layer: &Layer, name: &str) -> Result<Vec<u8>, AttestError> {
    let malformed = |reason: String| AttestError::Malformed { name: name.to_owned(), reason };
    if layer.size > MAX_ENVELOPE {
        return Err(malformed(format!(
            "the envelope {} has {} bytes, over the {MAX_ENVELOPE} compose-img reads",
            layer.digest, layer.size
        )));
    }
    let bytes = crate::files::read_bounded(&store.blob_path(&layer.digest), MAX_ENVELOPE)
        .map_err(|e| malformed(format!("cannot read the envelope {}: {e}", layer.digest)))?;
    let actual = Digest::of(&bytes);
    if actual != layer.digest {
        return Err(malformed(format!("the envelope {} in the store has digest {actual}", layer.digest)));
    }
    Ok(bytes)
}

/// The SBOM document in `format` attached to the image of `platform` (the
/// only one when `reference` names a single image), as JSON; the last one
/// attached when there are several.
pub(crate) fn sbom(
    reference: &ImageRef,
    format: SbomFormat,
    platform: Option<&Platform>,
    store: &Store,
    options: &ClientOptions,
) -> Result<serde_json::Value, AttestError> {
    let found = list(reference, store, options).or_else(|e| match e {
        AttestError::NoAttestations { .. } => Ok(Vec::new()),
        e => Err(e),
    })?;
    // A single image is chosen whatever its platform, as `inspect` does.
    let single = found.iter().all(|f| f.manifest == found[0].manifest);
    let mut chosen = found.iter().filter(|f| single || platform.is_none_or(|p| f.platform == *p));
    let no_sbom = || AttestError::NoSbom {
        reference: reference.to_string(),
        format: format.name(),
        predicate: predicate_type(format),
    };
    let envelope = chosen.rfind(|f| f.predicate_type == predicate_type(format)).ok_or_else(no_sbom)?;
    let (_, statement) = dsse::open(&envelope.bytes).map_err(|reason| AttestError::Malformed {
        name: format!("{reference}: attestation {}", envelope.digest),
        reason: reason.to_string(),
    })?;
    Ok(statement.predicate)
}

/// One attestation that verified.
#[derive(Debug)]
pub(crate) struct Verified {
    pub manifest: Digest,
    pub predicate_type: String,
    pub digest: Digest,
}

/// Checks every attestation of every platform manifest of `reference`:
/// its DSSE signature by `key`, that its statement is about that
/// manifest, and that its predicate type is the one its layer announces.
/// Any that does not verify fails the whole, each named with why.
pub(crate) fn verify(
    reference: &ImageRef,
    key: &VerifyingKey,
    store: &Store,
    options: &ClientOptions,
) -> Result<Vec<Verified>, AttestError> {
    let mut verified = Vec::new();
    let mut failures = Vec::new();
    for found in list(reference, store, options)? {
        match dsse::verify(&found.bytes, key, &found.manifest, &found.predicate_type) {
            Ok(_) => verified.push(Verified {
                manifest: found.manifest,
                predicate_type: found.predicate_type,
                digest: found.digest,
            }),
            Err(reason) => failures.push(failure(&found, &reason)),
        }
    }
    if failures.is_empty() {
        Ok(verified)
    } else {
        Err(AttestError::Unverified { reference: reference.to_string(), failures })
    }
}

fn failure(found: &Found, reason: &Rejected) -> String {
    let kind = crate::text::escape(&found.predicate_type);
    format!("{} ({kind}, attestation {}): {reason}", found.manifest, found.digest)
}
