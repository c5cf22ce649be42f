//! The simple-signing payload cosign signs: which manifest digest, for
//! which repository.

use serde::Deserialize;
use serde_json::json;
use thiserror::Error;

use crate::digest::Digest;

const TYPE: &str = "cosign container image signature";

/// The payload for `digest` pushed to `identity` (`HOST/REPO`, or a
/// layout's image name), as compact JSON with sorted keys.
pub(crate) fn payload(identity: &str, digest: &Digest) -> Vec<u8> {
    let value = json!({
        "critical": {
            "identity": { "docker-reference": identity },
            "image": { "docker-manifest-digest": digest.as_str() },
            "type": TYPE,
        },
        "optional": null,
    });
    serde_json::to_vec(&value).unwrap_or_else(|_| unreachable!("a JSON value serialises"))
}

/// What a payload claims.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Claim {
    pub identity: String,
    pub digest: String,
}

#[derive(Deserialize)]
struct Raw {
    critical: Critical,
}

#[derive(Deserialize)]
struct Critical {
    identity: Identity,
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    reference: String,
}

#[derive(Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    digest: String,
}

/// A payload that is not a cosign simple-signing payload.
#[derive(Debug, Error)]
pub(crate) enum PayloadError {
    #[error("the payload is not a simple-signing payload: {0}")]
    Json(serde_json::Error),
    #[error("the payload's type is `{}`, not `{TYPE}`", printable(.0), TYPE = TYPE)]
    Type(String),
}

/// `text` with control characters written visibly ([`crate::text::escape`]).
pub(crate) use crate::text::escape as printable;

pub(crate) fn parse(bytes: &[u8]) -> Result<Claim, PayloadError> {
    let raw: Raw = serde_json::from_slice(bytes).map_err(PayloadError::Json)?;
    if raw.critical.kind != TYPE {
        return Err(PayloadError::Type(raw.critical.kind));
    }
    Ok(Claim { identity: raw.critical.identity.reference, digest: raw.critical.image.digest })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_cosigns_format() {
        let digest = Digest::of(b"x");
        let bytes = payload("r.io/a", &digest);
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"r.io/a"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
            )
        );
        assert_eq!(parse(&bytes).unwrap(), Claim { identity: "r.io/a".into(), digest: digest.to_string() });
        let other = String::from_utf8(bytes).unwrap().replace("cosign container image signature", "x");
        assert_eq!(
            parse(other.as_bytes()).unwrap_err().to_string(),
            "the payload's type is `x`, not `cosign container image signature`"
        );
    }
}
