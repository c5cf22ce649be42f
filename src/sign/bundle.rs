//! Signatures as cosign 3 writes them by default: a Sigstore bundle v0.3
//! (`application/vnd.dev.sigstore.bundle.v0.3+json`) attached to the
//! signed manifest as an OCI 1.1 referrer.
//!
//! The bundle holds a DSSE envelope around an in-toto Statement v1 whose
//! subject is the manifest digest (named by the identity) and whose
//! predicate type is `https://sigstore.dev/cosign/sign/v1`; the ECDSA
//! P-256 signature (DER, base64) covers the envelope's PAE encoding. Its
//! verification material is the key's hint (base64 of the SHA-256 of the
//! public key's DER), with no transparency-log entry: key-based, offline.
//!
//! A bundle that is not one (bad JSON, bad base64, another media type, no
//! envelope) is an error when verifying, never a signature silently
//! ignored; one that parses but was signed by another key, or for another
//! digest or identity, is a signature that does not verify.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{DerSignature, SigningKey, VerifyingKey};
use p256::pkcs8::EncodePublicKey as _;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use thiserror::Error;

use super::{Rejected, SignError};
use crate::digest::Digest;
use crate::oci::json::canonical;
use crate::oci::manifest::Desc;
use crate::oci::media;
use crate::oci::referrers::{self, Artifact};
use crate::store::Store;

/// The predicate type of a cosign 3 image signature.
pub(crate) const PREDICATE_TYPE: &str = "https://sigstore.dev/cosign/sign/v1";
/// The DSSE payload type of an in-toto statement.
const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The annotations cosign 3 puts on a bundle's referrer manifest.
pub(crate) const CONTENT_ANNOTATION: &str = "dev.sigstore.bundle.content";
pub(crate) const PREDICATE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";

/// A bundle that cannot be read as one.
#[derive(Debug, Error)]
pub(crate) enum BundleError {
    #[error("not a Sigstore bundle: {0}")]
    NotJson(serde_json::Error),
    #[error("media type `{}`, not {}", super::payload::printable(.0), media::SIGSTORE_BUNDLE)]
    MediaType(String),
    #[error("it holds no DSSE envelope (compose-img verifies bundles of image signatures)")]
    NoEnvelope,
    #[error("its {0} is not base64")]
    Base64(&'static str),
    #[error("its envelope carries `{}`, not an in-toto statement", super::payload::printable(.0))]
    PayloadType(String),
    #[error("its envelope has no signature")]
    NoSignature,
    #[error("its payload is not an in-toto statement: {0}")]
    Statement(serde_json::Error),
}

/// The in-toto statement signed for `digest` pushed to `identity`.
fn statement(identity: &str, digest: &Digest) -> Vec<u8> {
    let statement = json!({
        "_type": STATEMENT_TYPE,
        "predicate": {},
        "predicateType": PREDICATE_TYPE,
        "subject": [{ "digest": { "sha256": digest.hex() }, "name": identity }],
    });
    canonical(&statement).unwrap_or_else(|_| unreachable!("a JSON value serialises"))
}

/// DSSE's pre-authentication encoding: what the signature covers.
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {payload_type} {} ", payload_type.len(), payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// The key hint of a bundle's verification material: the base64 of the
/// SHA-256 of the public key's DER (SubjectPublicKeyInfo).
pub(crate) fn hint(key: &VerifyingKey) -> Result<String, SignError> {
    let der = key.to_public_key_der().map_err(|e| SignError::Key(format!("cannot encode the public key: {e}")))?;
    Ok(STANDARD.encode(Sha256::digest(der.as_bytes())))
}

/// The bundle of `key`'s signature of `digest` for `identity`.
pub(crate) fn bundle(key: &SigningKey, identity: &str, digest: &Digest) -> Result<Vec<u8>, SignError> {
    let payload = statement(identity, digest);
    let signature: DerSignature = key.sign(&pae(PAYLOAD_TYPE, &payload));
    let bundle = json!({
        "dsseEnvelope": {
            "payload": STANDARD.encode(&payload),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{ "sig": STANDARD.encode(signature.as_bytes()) }],
        },
        "mediaType": media::SIGSTORE_BUNDLE,
        "verificationMaterial": { "publicKey": { "hint": hint(key.verifying_key())? }, "tlogEntries": [] },
    });
    canonical(&bundle).map_err(|e| SignError::Invalid(e.to_string()))
}

/// The referrer of `subject` carrying `key`'s bundle for `identity`, in
/// the store: an artifact manifest as cosign 3 writes it.
pub(crate) fn artifact(key: &SigningKey, identity: &str, subject: &Desc, store: &Store) -> Result<Artifact, SignError> {
    let blob = store.write_blob(&bundle(key, identity, &subject.digest)?)?;
    let layer = Desc { media_type: media::SIGSTORE_BUNDLE.to_owned(), digest: blob.digest, size: blob.size };
    let annotations = BTreeMap::from([
        (CONTENT_ANNOTATION.to_owned(), "dsse-envelope".to_owned()),
        (PREDICATE_ANNOTATION.to_owned(), PREDICATE_TYPE.to_owned()),
    ]);
    referrers::write_artifact(media::SIGSTORE_BUNDLE, subject, &[layer], &annotations, store)
        .map_err(|e| SignError::Invalid(format!("cannot write the signature bundle of {}: {e}", subject.digest)))
}

/// The referrer of `subject` carrying an attestation as cosign 3 attaches
/// one: its DSSE `envelope` (already signed by `key`) in a bundle whose
/// artifact annotations say the statement's `predicate_type`.
pub(crate) fn attestation_artifact(
    envelope: serde_json::Value,
    predicate_type: &str,
    key: &VerifyingKey,
    subject: &Desc,
    store: &Store,
) -> Result<Artifact, SignError> {
    let bundle = json!({
        "dsseEnvelope": envelope,
        "mediaType": media::SIGSTORE_BUNDLE,
        "verificationMaterial": { "publicKey": { "hint": hint(key)? }, "tlogEntries": [] },
    });
    let blob = store.write_blob(&canonical(&bundle).map_err(|e| SignError::Invalid(e.to_string()))?)?;
    let layer = Desc { media_type: media::SIGSTORE_BUNDLE.to_owned(), digest: blob.digest, size: blob.size };
    let annotations = BTreeMap::from([
        (CONTENT_ANNOTATION.to_owned(), "dsse-envelope".to_owned()),
        (PREDICATE_ANNOTATION.to_owned(), predicate_type.to_owned()),
    ]);
    referrers::write_artifact(media::SIGSTORE_BUNDLE, subject, &[layer], &annotations, store)
        .map_err(|e| SignError::Invalid(format!("cannot write the attestation bundle of {}: {e}", subject.digest)))
}

/// Whether `artifact` is a signature bundle (an attestation in a bundle
/// says another predicate type).
pub(crate) fn is_signature(artifact: &Artifact) -> bool {
    artifact.referrer.artifact_type == media::SIGSTORE_BUNDLE
        && artifact.referrer.annotations.get(PREDICATE_ANNOTATION).is_none_or(|t| t == PREDICATE_TYPE)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBundle {
    media_type: String,
    dsse_envelope: Option<RawEnvelope>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEnvelope {
    payload: String,
    payload_type: String,
    #[serde(default)]
    signatures: Vec<RawSignature>,
}

#[derive(Deserialize)]
struct RawSignature {
    sig: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawStatement {
    predicate_type: String,
    #[serde(default)]
    subject: Vec<RawSubject>,
}

#[derive(Deserialize)]
struct RawSubject {
    #[serde(default)]
    name: String,
    #[serde(default)]
    digest: BTreeMap<String, String>,
}

/// Checks the bundle `bytes` against `key`, `digest` and (if given)
/// `identity`: the identity it was made for, or why it does not verify;
/// an error when it is not a bundle at all.
pub(crate) fn check(
    bytes: &[u8],
    key: &VerifyingKey,
    digest: &Digest,
    identity: Option<&str>,
) -> Result<Result<String, Rejected>, BundleError> {
    let bundle: RawBundle = serde_json::from_slice(bytes).map_err(BundleError::NotJson)?;
    if bundle.media_type != media::SIGSTORE_BUNDLE {
        return Err(BundleError::MediaType(bundle.media_type));
    }
    let envelope = bundle.dsse_envelope.ok_or(BundleError::NoEnvelope)?;
    if envelope.payload_type != PAYLOAD_TYPE {
        return Err(BundleError::PayloadType(envelope.payload_type));
    }
    let payload = STANDARD.decode(&envelope.payload).map_err(|_| BundleError::Base64("payload"))?;
    if envelope.signatures.is_empty() {
        return Err(BundleError::NoSignature);
    }
    let signed = pae(&envelope.payload_type, &payload);
    let mut rejected = Rejected::NotDer;
    let mut matched = false;
    for signature in &envelope.signatures {
        let der = STANDARD.decode(&signature.sig).map_err(|_| BundleError::Base64("signature"))?;
        match DerSignature::try_from(der.as_slice()) {
            Ok(der) if key.verify(&signed, &der).is_ok() => {
                matched = true;
                break;
            }
            Ok(_) => rejected = Rejected::Mismatch,
            Err(_) => {}
        }
    }
    if !matched {
        return Ok(Err(rejected));
    }
    let statement: RawStatement = serde_json::from_slice(&payload).map_err(BundleError::Statement)?;
    if statement.predicate_type != PREDICATE_TYPE {
        return Ok(Err(Rejected::NotASignature(statement.predicate_type)));
    }
    let Some(subject) =
        statement.subject.iter().find(|s| s.digest.get("sha256").map(String::as_str) == Some(digest.hex()))
    else {
        let named = statement.subject.iter().filter_map(|s| s.digest.get("sha256")).map(|h| format!("sha256:{h}"));
        return Ok(Err(Rejected::Digest(named.collect::<Vec<_>>().join(", "))));
    };
    if let Some(expected) = identity
        && subject.name != expected
    {
        return Ok(Err(Rejected::Identity { signed: subject.name.clone(), expected: expected.to_owned() }));
    }
    Ok(Ok(subject.name.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::elliptic_curve::Generate as _;

    #[test]
    fn a_bundle_verifies_with_its_key_only_and_for_its_digest_only() {
        let key = SigningKey::generate();
        let digest = Digest::of(b"image");
        let bytes = bundle(&key, "r.io/a", &digest).unwrap();
        assert_eq!(check(&bytes, key.verifying_key(), &digest, Some("r.io/a")).unwrap().unwrap(), "r.io/a");
        let other = SigningKey::generate();
        assert!(matches!(check(&bytes, other.verifying_key(), &digest, None).unwrap(), Err(Rejected::Mismatch)));
        assert!(matches!(
            check(&bytes, key.verifying_key(), &Digest::of(b"other"), None).unwrap(),
            Err(Rejected::Digest(_))
        ));
        assert!(matches!(
            check(&bytes, key.verifying_key(), &digest, Some("r.io/b")).unwrap(),
            Err(Rejected::Identity { .. })
        ));
        let text = String::from_utf8(bytes).unwrap().replace("\"payload\":\"", "\"payload\":\"!");
        assert!(matches!(check(text.as_bytes(), key.verifying_key(), &digest, None), Err(BundleError::Base64(_))));
    }

    #[test]
    fn the_same_key_and_digest_give_the_same_bundle() {
        let key = SigningKey::generate();
        let digest = Digest::of(b"image");
        assert_eq!(bundle(&key, "r.io/a", &digest).unwrap(), bundle(&key, "r.io/a", &digest).unwrap());
    }
}
