//! Sign stage: cosign-compatible signatures.
//!
//! - [`keys`]: cosign's encrypted private keys and PKIX public keys;
//! - [`payload`]: the simple-signing payload (which digest, which repository);
//! - [`artifact`]: signature manifests (`sha256-<hex>.sig`), and any cosign
//!   attachment manifest, read and written; [`fetch_tagged`] fetches one
//!   from beside an image;
//! - [`bundle`]: the same signatures as cosign 3 writes them, Sigstore
//!   bundles attached as OCI 1.1 referrers;
//! - [`limits`]: how much is read: key files, signature manifests and
//!   payloads are regular files read within limits;
//! - [`attachments`] signs what a tag points at (the index and every
//!   platform manifest), adding to the signatures already at the
//!   destination; [`verify`] checks them.

pub(crate) mod artifact;
pub(crate) mod bundle;
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
use crate::oci::manifest::Desc;
use crate::oci::media;
use crate::oci::reference::ImageRef;
use crate::oci::referrers::Artifact;
use crate::oci::tagged::Tagged;
use crate::registry::ClientOptions;
use crate::store::{Store, StoreError};
use crate::transport::{self, Attachment, TransportError, Want};
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

/// The signatures to write beside `tagged` at `destination`, in both
/// formats: per manifest, the signature manifest `sha256-<hex>.sig` (the
/// signatures already there plus a new one, kept once if the same
/// signature is there already), and a Sigstore bundle as a referrer.
pub(crate) fn attachments(
    tagged: &Tagged,
    destination: &ImageRef,
    identity: &str,
    key: &SigningKey,
    store: &Store,
    options: &ClientOptions,
) -> Result<Vec<Attachment>, SignError> {
    let mut out = Vec::new();
    for subject in transport::subjects(tagged) {
        let digest = &subject.digest;
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
        out.push(Attachment::Tagged(artifact::write(&signatures, store)?, artifact::tag(digest)));
        out.push(Attachment::Referrer(bundle::artifact(key, identity, &subject, store)?));
    }
    Ok(out)
}

/// The manifest cosign tags `sha256-<hex>.SUFFIX` beside `digest` at
/// `place` (`sig`: signatures, `att`: attestations), if there is one.
pub(crate) fn fetch_tagged(
    place: &ImageRef,
    digest: &Digest,
    suffix: &str,
    store: &Store,
    options: &ClientOptions,
) -> Result<Option<Tagged>, SignError> {
    if !place.holds_signatures() {
        return Ok(None);
    }
    let tag = format!("sha256-{}.{suffix}", digest.hex());
    match transport::fetch(&place.with_tag(&tag), &Want::All, store, options) {
        Ok(tagged) => Ok(Some(tagged)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The signature manifest of `digest` stored at `place`, if there is one.
pub(crate) fn fetch_attachment(
    place: &ImageRef,
    digest: &Digest,
    store: &Store,
    options: &ClientOptions,
) -> Result<Option<Tagged>, SignError> {
    fetch_tagged(place, digest, "sig", store, options)
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

/// A signature format `verify` checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// cosign's signature manifest `sha256-<hex>.sig` (cosign 2, podman).
    Sig,
    /// A Sigstore bundle v0.3 referrer (cosign 3).
    Bundle,
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Sig => ".sig",
            Format::Bundle => "bundle",
        })
    }
}

/// One verified manifest: in which formats a signature by the key verified.
#[derive(Debug)]
pub(crate) struct Verified {
    pub digest: Digest,
    pub identity: String,
    pub formats: Vec<Format>,
}

/// Checks that every manifest `reference` names (the index and each
/// platform manifest) has a signature by `key`, in either format, for its
/// digest and for `identity` (default: a registry reference's repository;
/// for files any identity is accepted and reported). Each failure says
/// why; a signature bundle that cannot be read is an error.
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
    for subject in transport::subjects(&tagged) {
        let digest = &subject.digest;
        let mut formats = Vec::new();
        let mut identities = Vec::new();
        let mut reasons = Vec::new();
        let signatures = existing(reference, digest, store, options)?;
        if !signatures.is_empty() {
            // The payloads as they are where the signatures were found,
            // not the store's copies: a payload corrupted there must not
            // verify.
            let payloads: Vec<Desc> = signatures
                .iter()
                .map(|s| Desc { media_type: media::SIMPLESIGNING.to_owned(), digest: s.payload.clone(), size: s.size })
                .collect();
            transport::check_blobs(&reference.with_tag(&artifact::tag(digest)), &payloads, options)?;
            match check_all(&signatures, key, digest, expected.as_deref(), store)? {
                Ok(identity) => {
                    formats.push(Format::Sig);
                    identities.push(identity);
                }
                Err(why) => reasons.push(why.to_string()),
            }
        }
        let bundles: Vec<Artifact> = transport::referrers::fetch(reference, &subject, store, options)?
            .into_iter()
            .filter(bundle::is_signature)
            .collect();
        if !bundles.is_empty() {
            match check_bundles(&bundles, reference, key, digest, expected.as_deref(), store)? {
                Ok(identity) => {
                    formats.push(Format::Bundle);
                    identities.push(identity);
                }
                Err(why) => reasons.push(format!("bundle: {why}")),
            }
        }
        if let Some(identity) = identities.into_iter().next() {
            verified.push(Verified { digest: digest.clone(), identity, formats });
        } else if signatures.is_empty() && bundles.is_empty() {
            failures.push(format!(
                "{digest}: no signature ({} not found, nor a signature bundle among its referrers)",
                artifact::tag(digest)
            ));
        } else {
            failures.push(format!("{digest}: {}", reasons.join("; ")));
        }
    }
    if failures.is_empty() {
        Ok(verified)
    } else {
        Err(SignError::Unverified(format!("no valid signature for {reference}:\n  {}", failures.join("\n  "))))
    }
}

/// The identity of the first of `signatures` (a `.sig` manifest's) that
/// verifies, or why none does. Each distinct signature is checked once,
/// its payload read only when the signature matches; the same reason is
/// reported once, with a count.
fn check_all(
    signatures: &[Signature],
    key: &VerifyingKey,
    digest: &Digest,
    expected: Option<&str>,
    store: &Store,
) -> Result<Result<String, Reasons>, SignError> {
    let mut seen = BTreeSet::new();
    let mut reasons = Reasons::default();
    for signature in signatures {
        if !seen.insert((&signature.payload, &signature.signature)) {
            continue;
        }
        match check(signature, key, digest, expected, store)? {
            Ok(identity) => return Ok(Ok(identity)),
            Err(reason) => reasons.add(reason.to_string()),
        }
    }
    Ok(Err(reasons))
}

/// The identity of the first of `bundles` (referrers of `digest` at
/// `place`) that verifies, or why none does; an error for a bundle that
/// cannot be read as one.
fn check_bundles(
    bundles: &[Artifact],
    place: &ImageRef,
    key: &VerifyingKey,
    digest: &Digest,
    expected: Option<&str>,
    store: &Store,
) -> Result<Result<String, Reasons>, SignError> {
    let mut reasons = Reasons::default();
    let mut found = None;
    for artifact in bundles {
        let name = &artifact.referrer.desc.digest;
        let corrupt =
            |why: String| SignError::Invalid(format!("{place}: the signature bundle {name} of {digest}: {why}"));
        let layers =
            artifact.manifest.extras.iter().flat_map(|e| &e.blobs).filter(|b| b.media_type == media::SIGSTORE_BUNDLE);
        let [layer] = layers.collect::<Vec<_>>()[..] else {
            return Err(corrupt("it does not hold exactly one bundle layer".into()));
        };
        if layer.size > limits::MAX_PAYLOAD {
            return Err(corrupt(format!(
                "its bundle is {} bytes, over the {} limit",
                layer.size,
                limits::shown(limits::MAX_PAYLOAD)
            )));
        }
        let (bytes, _) = limits::read_regular(&store.blob_path(&layer.digest), limits::MAX_PAYLOAD)
            .map_err(|e| corrupt(format!("cannot read its bundle {}: {e}", layer.digest)))?;
        // Every bundle is read, so that a corrupted one is never skipped.
        match bundle::check(&bytes, key, digest, expected).map_err(|e| corrupt(e.to_string()))? {
            Ok(identity) => found = found.or(Some(identity)),
            Err(reason) => reasons.add(reason.to_string()),
        }
    }
    Ok(found.ok_or(reasons))
}

/// Reasons signatures do not verify, each kept once with its count.
#[derive(Default)]
struct Reasons(Vec<(String, usize)>);

impl Reasons {
    fn add(&mut self, reason: String) {
        match self.0.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, count)) => *count += 1,
            None => self.0.push((reason, 1)),
        }
    }
}

impl std::fmt::Display for Reasons {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: Vec<String> = self
            .0
            .iter()
            .map(|(reason, count)| if *count == 1 { reason.clone() } else { format!("{reason} ({count} signatures)") })
            .collect();
        f.write_str(&shown.join("; "))
    }
}

/// Why one signature does not verify.
#[derive(Debug, Error)]
pub(crate) enum Rejected {
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
    #[error("not an image signature: its predicate type is {}", payload::printable(.0))]
    NotASignature(String),
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
