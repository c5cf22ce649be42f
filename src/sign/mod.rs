//! Sign stage: cosign-compatible signatures.
//!
//! - [`keys`]: cosign's encrypted private keys and PKIX public keys;
//! - [`payload`]: the simple-signing payload (which digest, which repository);
//! - [`artifact`]: signature manifests (`sha256-<hex>.sig`), and any cosign
//!   attachment manifest, read and written; [`fetch_tagged`] fetches one
//!   from beside an image;
//! - [`limits`]: how much is read: key files, signature manifests and
//!   payloads are regular files read within limits;
//! - [`attachments`] signs what a tag points at (the index and every
//!   platform manifest), adding to the signatures already at the
//!   destination; [`verify`] checks them.

pub(crate) mod artifact;
pub(crate) mod keys;
pub(crate) mod limits;
pub(crate) mod payload;

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
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
pub(crate) enum SignError {
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
pub(crate) fn signed_digests(tagged: &Tagged) -> Vec<&Digest> {
    let mut digests = vec![&tagged.root.digest];
    if tagged.is_index() {
        digests.extend(tagged.images.iter().map(|i| &i.manifest.digest));
    }
    digests
}

/// The signature of `digest` for `identity`, its payload written to the
/// store.
pub(crate) fn sign(key: &SigningKey, identity: &str, digest: &Digest, store: &Store) -> Result<Signature, SignError> {
    let payload = payload::payload(identity, digest);
    let signature: DerSignature = key.sign(&payload);
    artifact::store_payload(&payload, keys::signature_b64(signature.as_bytes()), store)
}

/// The signature manifests to write beside `tagged` at `destination`
/// (each with its tag): the signatures already there plus a new one per
/// manifest (kept once if the same signature is there already).
pub(crate) fn attachments(
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
        let new = sign(key, identity, digest, store)?;
        if !signatures.contains(&new) {
            if signatures.len() >= limits::MAX_SIGNATURES {
                return Err(SignError::Invalid(format!(
                    "{}: already holds {} signatures, the most compose-img reads; not adding another",
                    attachment_name(destination, digest),
                    signatures.len()
                )));
            }
            signatures.push(new);
        }
        out.push((artifact::write(&signatures, store)?, artifact::tag(digest)));
    }
    Ok(out)
}

/// The signature manifest of `digest` stored at `place`, if there is one.
pub(crate) fn fetch_attachment(
    place: &ImageRef,
    digest: &Digest,
    store: &Store,
    options: &ClientOptions,
) -> Result<Option<Tagged>, SignError> {
    fetch_tagged(place, &artifact::tag(digest), store, options)
}

/// The attachment manifest (signatures, attestations) tagged `tag` beside
/// the image at `place`, if there is one.
pub(crate) fn fetch_tagged(
    place: &ImageRef,
    tag: &str,
    store: &Store,
    options: &ClientOptions,
) -> Result<Option<Tagged>, SignError> {
    if !place.holds_signatures() {
        return Ok(None);
    }
    match transport::fetch(&place.with_tag(tag), &Want::All, store, options) {
        Ok(tagged) => Ok(Some(tagged)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The signature manifest of `digest` at `place`, as messages name it.
fn attachment_name(place: &ImageRef, digest: &Digest) -> String {
    place.with_tag(&artifact::tag(digest)).to_string()
}

/// The signatures of `digest` stored at `place` (none if there are none),
/// within [`limits`]; their payloads stay in the store.
pub(crate) fn existing(
    place: &ImageRef,
    digest: &Digest,
    store: &Store,
    options: &ClientOptions,
) -> Result<Vec<Signature>, SignError> {
    match fetch_attachment(place, digest, store, options)? {
        Some(tagged) => artifact::read(&tagged, store, &attachment_name(place, digest)),
        None => Ok(Vec::new()),
    }
}

/// One verified manifest.
#[derive(Debug)]
pub(crate) struct Verified {
    pub digest: Digest,
    pub identity: String,
}

/// Checks that every manifest `reference` names (the index and each
/// platform manifest) has a signature by `key` for its digest and for
/// `identity` (default: a registry reference's repository; for files any
/// identity is accepted and reported). Each failure says why.
pub(crate) fn verify(
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
        // Each distinct signature is checked once, its payload read only
        // when the signature matches; the same reason is reported once.
        let mut seen = BTreeSet::new();
        let mut reasons: Vec<(String, usize)> = Vec::new();
        let mut found = None;
        for signature in &signatures {
            if !seen.insert((&signature.payload, &signature.signature)) {
                continue;
            }
            match check(signature, key, digest, expected.as_deref(), store)? {
                Ok(identity) => {
                    found = Some(identity);
                    break;
                }
                Err(reason) => {
                    let reason = reason.to_string();
                    match reasons.iter_mut().find(|(r, _)| *r == reason) {
                        Some((_, count)) => *count += 1,
                        None => reasons.push((reason, 1)),
                    }
                }
            }
        }
        let reasons: Vec<String> = reasons
            .into_iter()
            .map(|(reason, count)| if count == 1 { reason } else { format!("{reason} ({count} signatures)") })
            .collect();
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

/// Why one signature does not verify.
#[derive(Debug, Error)]
enum Rejected {
    #[error("the signature annotation is not base64")]
    NotBase64,
    #[error("the signature is not a DER ECDSA signature")]
    NotDer,
    #[error("the signature does not match the payload with this key (wrong key or edited payload)")]
    Mismatch,
    #[error(transparent)]
    Payload(#[from] payload::PayloadError),
    #[error("digest mismatch: the signature is for {}", payload::printable(.0))]
    Digest(String),
    #[error("identity mismatch: signed for {}, expected {}", payload::printable(.signed), payload::printable(.expected))]
    Identity { signed: String, expected: String },
}

/// Checks one signature; returns the identity it was made for, or why it
/// does not verify (an error when its payload cannot be read).
///
/// The signature is checked against the payload's digest, which is the
/// SHA-256 the ECDSA signature covers: the payload itself is read (and
/// checked against that digest) only once the signature matches.
fn check(
    signature: &Signature,
    key: &VerifyingKey,
    digest: &Digest,
    identity: Option<&str>,
    store: &Store,
) -> Result<Result<String, Rejected>, SignError> {
    let Ok(der) = STANDARD.decode(&signature.signature) else {
        return Ok(Err(Rejected::NotBase64));
    };
    let Ok(der) = DerSignature::try_from(der.as_slice()) else {
        return Ok(Err(Rejected::NotDer));
    };
    if key.verify_prehash(&sha256_bytes(&signature.payload), &der).is_err() {
        return Ok(Err(Rejected::Mismatch));
    }
    let claim = match payload::parse(&artifact::payload(signature, store)?) {
        Ok(claim) => claim,
        Err(e) => return Ok(Err(e.into())),
    };
    if claim.digest != digest.as_str() {
        return Ok(Err(Rejected::Digest(claim.digest)));
    }
    if let Some(expected) = identity
        && claim.identity != expected
    {
        return Ok(Err(Rejected::Identity { signed: claim.identity, expected: expected.to_owned() }));
    }
    Ok(Ok(claim.identity))
}

/// The 32 bytes of a sha256 digest.
fn sha256_bytes(digest: &Digest) -> [u8; 32] {
    let nibble = |c: u8| if c.is_ascii_digit() { c - b'0' } else { c - b'a' + 10 };
    let hex = digest.hex().as_bytes();
    std::array::from_fn(|i| (nibble(hex[2 * i]) << 4) | nibble(hex[2 * i + 1]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier as _;
    use p256::elliptic_curve::Generate as _;

    #[test]
    fn checking_against_the_payload_digest_is_checking_the_payload() {
        let key = SigningKey::generate();
        let digest = Digest::of(b"image");
        let payload = payload::payload("r.io/a", &digest);
        let signature: DerSignature = key.sign(&payload);
        let prehash = sha256_bytes(&Digest::of(&payload));
        assert!(key.verifying_key().verify(&payload, &signature).is_ok());
        assert!(key.verifying_key().verify_prehash(&prehash, &signature).is_ok());
        assert!(key.verifying_key().verify_prehash(&sha256_bytes(&digest), &signature).is_err());
    }
}
