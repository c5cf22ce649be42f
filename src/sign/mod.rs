//! Sign stage: cosign-compatible signatures.
//!
//! - [`keys`]: cosign's encrypted private keys and PKIX public keys;
//! - [`payload`]: the simple-signing payload (which digest, which repository);
//! - [`artifact`]: signature manifests (`sha256-<hex>.sig`), read and written;
//! - [`attachments`] signs what a tag points at (the index and every
//!   platform manifest), adding to the signatures already at the
//!   destination; [`verify`] checks them.

pub mod artifact;
pub mod keys;
pub mod payload;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{DerSignature, SigningKey, VerifyingKey};
use thiserror::Error;

use crate::digest::Digest;
use crate::oci::reference::ImageRef;
use crate::oci::tagged::Tagged;
use crate::registry::ClientOptions;
use crate::store::{Store, StoreError};
use crate::transport::{self, TransportError, Want};
use artifact::Signature;

#[derive(Debug, Error)]
pub enum SignError {
    #[error("{0}")]
    Key(String),
    #[error("{0}")]
    Invalid(String),
    /// Verification found no valid signature for some manifest.
    #[error("{0}")]
    Unverified(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// Every manifest a tag needs signed: the root, and each platform
/// manifest of an index.
pub fn signed_digests(tagged: &Tagged) -> Vec<&Digest> {
    let mut digests = vec![&tagged.root.digest];
    if tagged.is_index() {
        digests.extend(tagged.images.iter().map(|i| &i.manifest.digest));
    }
    digests
}

/// The signature of `digest` for `identity`.
pub fn sign(key: &SigningKey, identity: &str, digest: &Digest) -> Signature {
    let payload = payload::payload(identity, digest);
    let signature: DerSignature = key.sign(&payload);
    Signature { payload, signature: keys::signature_b64(signature.as_bytes()) }
}

/// The signature manifests to write beside `tagged` at `destination`
/// (each with its tag): the signatures already there plus a new one per
/// manifest (kept once if the same signature is there already).
pub fn attachments(
    tagged: &Tagged,
    destination: &ImageRef,
    identity: &str,
    key: &SigningKey,
    store: &Store,
    options: &ClientOptions,
) -> Result<Vec<(Tagged, String)>, SignError> {
    let mut out = Vec::new();
    for digest in signed_digests(tagged) {
        let mut signatures = existing(destination, digest, store, options)?;
        let new = sign(key, identity, digest);
        if !signatures.contains(&new) {
            signatures.push(new);
        }
        out.push((artifact::write(&signatures, store)?, artifact::tag(digest)));
    }
    Ok(out)
}

/// The signature manifest of `digest` stored at `place`, if there is one.
pub fn fetch_attachment(
    place: &ImageRef,
    digest: &Digest,
    store: &Store,
    options: &ClientOptions,
) -> Result<Option<Tagged>, SignError> {
    if let ImageRef::DockerArchive { .. } = place {
        return Ok(None);
    }
    match transport::fetch(&place.with_tag(&artifact::tag(digest)), &Want::All, store, options) {
        Ok(tagged) => Ok(Some(tagged)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The signatures of `digest` stored at `place` (none if there are none).
pub fn existing(
    place: &ImageRef,
    digest: &Digest,
    store: &Store,
    options: &ClientOptions,
) -> Result<Vec<Signature>, SignError> {
    match fetch_attachment(place, digest, store, options)? {
        Some(tagged) => artifact::read(&tagged, store),
        None => Ok(Vec::new()),
    }
}

/// One verified manifest.
#[derive(Debug)]
pub struct Verified {
    pub digest: Digest,
    pub identity: String,
}

/// Checks that every manifest `reference` names (the index and each
/// platform manifest) has a signature by `key` for its digest and for
/// `identity` (default: a registry reference's repository; for files any
/// identity is accepted and reported). Each failure says why.
pub fn verify(
    reference: &ImageRef,
    key: &VerifyingKey,
    identity: Option<&str>,
    store: &Store,
    options: &ClientOptions,
) -> Result<Vec<Verified>, SignError> {
    let tagged = transport::fetch(reference, &Want::All, store, options)?;
    let expected = identity.map(str::to_owned).or(match reference {
        ImageRef::Docker(r) => Some(r.repo_name()),
        _ => None,
    });
    let mut verified = Vec::new();
    let mut failures = Vec::new();
    for digest in signed_digests(&tagged) {
        let signatures = existing(reference, digest, store, options)?;
        if signatures.is_empty() {
            failures.push(format!("{digest}: no signature ({} not found)", artifact::tag(digest)));
            continue;
        }
        let mut reasons = Vec::new();
        let found = signatures.iter().find_map(|s| match check(s, key, digest, expected.as_deref()) {
            Ok(identity) => Some(identity),
            Err(reason) => {
                reasons.push(reason);
                None
            }
        });
        match found {
            Some(identity) => verified.push(Verified { digest: digest.clone(), identity }),
            None => failures.push(format!("{digest}: {}", reasons.join("; "))),
        }
    }
    if failures.is_empty() {
        Ok(verified)
    } else {
        Err(SignError::Unverified(format!("no valid signature for {reference}:\n  {}", failures.join("\n  "))))
    }
}

/// Checks one signature; returns the identity it was made for.
fn check(signature: &Signature, key: &VerifyingKey, digest: &Digest, identity: Option<&str>) -> Result<String, String> {
    let der = STANDARD.decode(&signature.signature).map_err(|_| "the signature annotation is not base64".to_owned())?;
    let der =
        DerSignature::try_from(der.as_slice()).map_err(|_| "the signature is not a DER ECDSA signature".to_owned())?;
    key.verify(&signature.payload, &der).map_err(|_| {
        "the signature does not match the payload with this key (wrong key or edited payload)".to_owned()
    })?;
    let claim = payload::parse(&signature.payload)?;
    if claim.digest != digest.as_str() {
        return Err(format!("digest mismatch: the signature is for {}", claim.digest));
    }
    if let Some(expected) = identity
        && claim.identity != expected
    {
        return Err(format!("identity mismatch: signed for {}, expected {expected}", claim.identity));
    }
    Ok(claim.identity)
}
