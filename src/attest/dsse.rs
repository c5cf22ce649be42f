//! in-toto v1 Statements in DSSE envelopes: the statement about an image
//! (its subject the image manifest's digest), signed over DSSE's
//! pre-authentication encoding with a cosign key (ECDSA P-256, SHA-256, a
//! base64 DER signature), and checked again.
//!
//! The envelope's `keyid` is the hex SHA-256 of the signer's public key
//! (PKIX DER), the id go-securesystemslib (and so cosign) derives from a
//! key, so verifiers that match key ids find it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{DerSignature, SigningKey, VerifyingKey};
use p256::pkcs8::EncodePublicKey as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use thiserror::Error;

use super::{AttestError, Subject};
use crate::digest::Digest;
use crate::oci::json::canonical;

/// The payload type of an in-toto statement.
pub(crate) const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The in-toto Statement v1 type.
const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";

/// A DSSE envelope.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Envelope {
    pub payload_type: String,
    /// Base64 of the statement.
    pub payload: String,
    pub signatures: Vec<EnvelopeSignature>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct EnvelopeSignature {
    #[serde(default)]
    pub keyid: String,
    pub sig: String,
}

/// What an envelope's statement says, as far as compose-img reads it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Statement {
    #[serde(rename = "_type")]
    pub kind: String,
    pub subject: Vec<StatementSubject>,
    pub predicate_type: String,
    pub predicate: Value,
}

#[derive(Debug, Deserialize)]
pub(crate) struct StatementSubject {
    pub digest: std::collections::BTreeMap<String, String>,
}

/// Why an envelope does not verify.
#[derive(Debug, Error, PartialEq, Eq)]
pub(crate) enum Rejected {
    #[error("the envelope is not DSSE JSON: {0}")]
    NotEnvelope(String),
    #[error("the payload type is {0:?}, not {PAYLOAD_TYPE:?}")]
    PayloadType(String),
    #[error("the payload is not base64")]
    PayloadNotBase64,
    #[error("the envelope is not signed")]
    Unsigned,
    #[error("no signature matches the payload with this key (wrong key, or an edited payload or signature)")]
    Mismatch,
    #[error("the payload is not an in-toto statement: {0}")]
    NotStatement(String),
    #[error("the statement is about {0}, not this image")]
    Subject(String),
    #[error("the statement's predicate type is {statement:?}, the manifest says {annotation:?}")]
    PredicateType { statement: String, annotation: String },
}

/// The statement about `subject` with `predicate`, canonical JSON.
pub(super) fn statement(subject: &Subject, predicate_type: &str, predicate: Value) -> Result<Vec<u8>, AttestError> {
    let statement = json!({
        "_type": STATEMENT_TYPE,
        "subject": [{ "name": subject.name, "digest": { "sha256": subject.image.manifest.digest.hex() } }],
        "predicateType": predicate_type,
        "predicate": predicate,
    });
    canonical(&statement).map_err(AttestError::json("statement"))
}

/// DSSE's pre-authentication encoding of `payload`.
pub(crate) fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {payload_type} {} ", payload_type.len(), payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// The key id of `key`: hex SHA-256 of its PKIX DER encoding.
pub(crate) fn key_id(key: &VerifyingKey) -> String {
    key.to_public_key_der().map(|der| Digest::of(der.as_bytes()).hex().to_owned()).unwrap_or_default()
}

/// `statement` in an envelope, signed with `key` when there is one (else
/// with no signatures: an unsigned attestation).
pub(crate) fn envelope(statement: &[u8], key: Option<&SigningKey>) -> Envelope {
    let signatures = key
        .map(|key| {
            let signature: DerSignature = key.sign(&pae(PAYLOAD_TYPE, statement));
            EnvelopeSignature { keyid: key_id(key.verifying_key()), sig: STANDARD.encode(signature.as_bytes()) }
        })
        .into_iter()
        .collect();
    Envelope { payload_type: PAYLOAD_TYPE.to_owned(), payload: STANDARD.encode(statement), signatures }
}

/// Parses an envelope and its payload (signatures not checked).
fn parse(bytes: &[u8]) -> Result<(Envelope, Vec<u8>), Rejected> {
    let envelope: Envelope = serde_json::from_slice(bytes).map_err(|e| Rejected::NotEnvelope(e.to_string()))?;
    if envelope.payload_type != PAYLOAD_TYPE {
        return Err(Rejected::PayloadType(envelope.payload_type));
    }
    let payload = STANDARD.decode(&envelope.payload).map_err(|_| Rejected::PayloadNotBase64)?;
    Ok((envelope, payload))
}

/// The statement of a payload.
fn statement_of(payload: &[u8]) -> Result<Statement, Rejected> {
    let statement: Statement = serde_json::from_slice(payload).map_err(|e| Rejected::NotStatement(e.to_string()))?;
    if statement.kind != STATEMENT_TYPE {
        return Err(Rejected::NotStatement(format!("its _type is {:?}", statement.kind)));
    }
    Ok(statement)
}

/// Parses an envelope and its statement (signatures not checked).
pub(crate) fn open(bytes: &[u8]) -> Result<(Envelope, Statement), Rejected> {
    let (envelope, payload) = parse(bytes)?;
    Ok((envelope, statement_of(&payload)?))
}

/// Checks `envelope` (as stored) against `key`, then that its statement
/// is about `digest` (the image) with the predicate type its manifest
/// layer announces (`annotation`). The payload is read only once a
/// signature matches.
pub(crate) fn verify(
    bytes: &[u8],
    key: &VerifyingKey,
    digest: &Digest,
    annotation: &str,
) -> Result<Statement, Rejected> {
    let (envelope, payload) = parse(bytes)?;
    if envelope.signatures.is_empty() {
        return Err(Rejected::Unsigned);
    }
    let pae = pae(&envelope.payload_type, &payload);
    let matches = envelope.signatures.iter().any(|s| {
        let der = STANDARD.decode(&s.sig).ok();
        let der = der.as_deref().and_then(|d| DerSignature::try_from(d).ok());
        der.is_some_and(|der| key.verify(&pae, &der).is_ok())
    });
    if !matches {
        return Err(Rejected::Mismatch);
    }
    let statement = statement_of(&payload)?;
    if !statement.subject.iter().any(|s| s.digest.get("sha256").is_some_and(|hex| hex == digest.hex())) {
        let named: Vec<String> =
            statement.subject.iter().flat_map(|s| s.digest.iter().map(|(a, h)| format!("{a}:{h}"))).collect();
        return Err(Rejected::Subject(if named.is_empty() { "nothing".into() } else { named.join(", ") }));
    }
    if statement.predicate_type != annotation {
        return Err(Rejected::PredicateType {
            statement: statement.predicate_type.clone(),
            annotation: annotation.to_owned(),
        });
    }
    Ok(statement)
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::elliptic_curve::Generate as _;

    #[test]
    fn pae_is_dsse_v1() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }

    #[test]
    fn an_envelope_verifies_only_unchanged_and_with_its_key() {
        let key = SigningKey::generate();
        let digest = Digest::of(b"image");
        let statement = serde_json::to_vec(&json!({
            "_type": STATEMENT_TYPE,
            "subject": [{ "name": "a", "digest": { "sha256": digest.hex() } }],
            "predicateType": "t",
            "predicate": {},
        }))
        .unwrap();
        let bytes = serde_json::to_vec(&envelope(&statement, Some(&key))).unwrap();
        assert!(verify(&bytes, key.verifying_key(), &digest, "t").is_ok());
        assert_eq!(
            verify(&bytes, SigningKey::generate().verifying_key(), &digest, "t").unwrap_err(),
            Rejected::Mismatch
        );
        assert!(matches!(verify(&bytes, key.verifying_key(), &Digest::of(b"other"), "t"), Err(Rejected::Subject(_))));
        let unsigned = serde_json::to_vec(&envelope(&statement, None)).unwrap();
        assert_eq!(verify(&unsigned, key.verifying_key(), &digest, "t").unwrap_err(), Rejected::Unsigned);
    }
}
