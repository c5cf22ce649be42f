//! OCI 1.1 referrers (image-spec 1.1, distribution-spec 1.1): artifacts
//! attached to a manifest, their *subject*.
//!
//! - An artifact is an image manifest with an `artifactType`, the empty
//!   config (`application/vnd.oci.empty.v1+json`, the blob `{}`), its
//!   blobs as layers, and `subject`, the descriptor of the manifest it is
//!   about ([`write_artifact`]).
//! - The referrers of a subject are listed as an image index whose entries
//!   carry each artifact's `artifactType` and annotations: what a
//!   registry's referrers API answers, and what the referrers tag
//!   `sha256-<hex>` ([`fallback_tag`]) points at on a registry without
//!   that API ([`index`], [`parse_index`], [`merge`]).
//! - Reading a referrers index is bounded: at most [`MAX_REFERRERS`]
//!   entries (and 4 MiB, as every document).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};
use thiserror::Error;

use super::json::canonical;
use super::manifest::{Desc, RawDesc};
use super::media;
use super::tagged::{Extra, Tagged};
use crate::digest::{Digest, ParseDigestError};
use crate::store::{Store, StoreError};

/// The most referrers of one subject compose-img reads.
pub(crate) const MAX_REFERRERS: usize = 1000;
/// The empty config of an artifact manifest.
pub(crate) const EMPTY_JSON: &[u8] = b"{}";

/// A referrers index or artifact manifest that cannot be used.
#[derive(Debug, Error)]
pub(crate) enum ReferrersError {
    #[error("not a referrers index: {0}")]
    NotAnIndex(serde_json::Error),
    #[error("not a referrers index: it is a {0}")]
    OtherType(String),
    #[error("not an artifact manifest: {0}")]
    NotAManifest(serde_json::Error),
    #[error(
        "the referrers index lists {0} manifests; compose-img reads at most {MAX_REFERRERS} referrers of a manifest"
    )]
    TooMany(usize),
    #[error("the referrers index lists {0}, which is not an image manifest")]
    NotAManifestEntry(String),
    #[error(transparent)]
    Digest(#[from] ParseDigestError),
    #[error("cannot write the artifact: {0}")]
    Json(serde_json::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The referrers tag of the manifest `digest`: `sha256-<hex>`.
pub(crate) fn fallback_tag(digest: &Digest) -> String {
    format!("sha256-{}", digest.hex())
}

/// One entry of a referrers index: an artifact manifest's descriptor with
/// its `artifactType` and annotations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Referrer {
    pub desc: Desc,
    pub artifact_type: String,
    pub annotations: BTreeMap<String, String>,
}

impl Referrer {
    /// The descriptor as an index (or a layout's `index.json`) lists it.
    pub(crate) fn to_json(&self) -> Value {
        let mut entry = json!({
            "mediaType": self.desc.media_type,
            "digest": self.desc.digest.as_str(),
            "size": self.desc.size,
            "artifactType": self.artifact_type,
        });
        if !self.annotations.is_empty() {
            entry["annotations"] = json!(self.annotations);
        }
        entry
    }
}

/// An artifact in the store: its manifest (as a [`Tagged`] whose one
/// extra holds its blobs), how a referrers index lists it, and its subject.
#[derive(Clone, Debug)]
pub(crate) struct Artifact {
    pub manifest: Tagged,
    pub referrer: Referrer,
    pub subject: Desc,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawIndex {
    manifests: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEntry {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    artifact_type: Option<String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// The referrers an index lists, in order (at most [`MAX_REFERRERS`]).
pub(crate) fn parse_index(bytes: &[u8]) -> Result<Vec<Referrer>, ReferrersError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Count {
        media_type: Option<String>,
        manifests: Option<Vec<serde::de::IgnoredAny>>,
    }
    // Counted before anything is kept: a huge index costs no memory.
    let counted = serde_json::from_slice::<Count>(bytes).map_err(ReferrersError::NotAnIndex)?;
    match (counted.media_type, &counted.manifests) {
        (Some(other), _) if other != media::INDEX => return Err(ReferrersError::OtherType(other)),
        (_, None) => return Err(ReferrersError::OtherType("document without `manifests`".into())),
        _ => {}
    }
    let count = counted.manifests.map_or(0, |m| m.len());
    if count > MAX_REFERRERS {
        return Err(ReferrersError::TooMany(count));
    }
    let raw: RawIndex = serde_json::from_slice(bytes).map_err(ReferrersError::NotAnIndex)?;
    raw.manifests
        .into_iter()
        .map(|entry| {
            if entry.media_type != media::MANIFEST {
                return Err(ReferrersError::NotAManifestEntry(format!("{} ({})", entry.digest, entry.media_type)));
            }
            Ok(Referrer {
                desc: Desc { media_type: entry.media_type, digest: Digest::parse(&entry.digest)?, size: entry.size },
                artifact_type: entry.artifact_type.unwrap_or_default(),
                annotations: entry.annotations,
            })
        })
        .collect()
}

/// The referrers index listing `referrers` (canonical JSON).
pub(crate) fn index(referrers: &[Referrer]) -> Result<Vec<u8>, ReferrersError> {
    let index = json!({
        "schemaVersion": 2,
        "mediaType": media::INDEX,
        "manifests": referrers.iter().map(Referrer::to_json).collect::<Vec<_>>(),
    });
    canonical(&index).map_err(ReferrersError::Json)
}

/// `existing` with each of `added` not already listed (by digest)
/// appended: nothing listed is ever lost. `None` when nothing is added.
pub(crate) fn merge(existing: &[Referrer], added: &[&Referrer]) -> Option<Vec<Referrer>> {
    let mut merged = existing.to_vec();
    for referrer in added {
        if !merged.iter().any(|r| r.desc.digest == referrer.desc.digest) {
            merged.push((*referrer).clone());
        }
    }
    (merged.len() > existing.len()).then_some(merged)
}

/// What an artifact manifest says about itself.
#[derive(Debug)]
pub(crate) struct ArtifactInfo {
    pub artifact_type: Option<String>,
    pub subject: Option<Desc>,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawArtifact {
    #[serde(default)]
    artifact_type: Option<String>,
    config: RawDesc,
    #[serde(default)]
    subject: Option<RawDesc>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// Reads an artifact manifest: its type (the manifest's `artifactType`,
/// else its config's media type, as image-spec 1.1 says), subject and
/// annotations.
pub(crate) fn parse_artifact(bytes: &[u8]) -> Result<ArtifactInfo, ReferrersError> {
    let raw: RawArtifact = serde_json::from_slice(bytes).map_err(ReferrersError::NotAManifest)?;
    let config_type = raw.config.media_type.clone();
    Ok(ArtifactInfo {
        artifact_type: raw.artifact_type.or((config_type != media::EMPTY).then_some(config_type)),
        subject: raw.subject.map(RawDesc::desc).transpose()?,
        annotations: raw.annotations,
    })
}

/// Writes to the store an artifact manifest of `artifact_type` about
/// `subject`: the empty config, `layers` (their blobs already in the
/// store), and `annotations` (on the manifest and on its referrers-index
/// entry). The same inputs give the same bytes.
pub(crate) fn write_artifact(
    artifact_type: &str,
    subject: &Desc,
    layers: &[Desc],
    annotations: &BTreeMap<String, String>,
    store: &Store,
) -> Result<Artifact, ReferrersError> {
    let config = store.write_blob(EMPTY_JSON)?;
    let config = Desc { media_type: media::EMPTY.to_owned(), digest: config.digest, size: config.size };
    let desc = |d: &Desc| json!({ "mediaType": d.media_type, "digest": d.digest.as_str(), "size": d.size });
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": media::MANIFEST,
        "artifactType": artifact_type,
        "config": desc(&config),
        "layers": layers.iter().map(desc).collect::<Vec<_>>(),
        "subject": desc(subject),
    });
    if !annotations.is_empty() {
        manifest["annotations"] = json!(annotations);
    }
    let root = store.write_blob(&canonical(&manifest).map_err(ReferrersError::Json)?)?;
    let manifest_desc = Desc { media_type: media::MANIFEST.to_owned(), digest: root.digest.clone(), size: root.size };
    let blobs = [config].into_iter().chain(layers.iter().cloned()).collect();
    Ok(Artifact {
        manifest: Tagged {
            media_type: media::MANIFEST.to_owned(),
            root,
            images: Vec::new(),
            extras: vec![Extra { manifest: manifest_desc.clone(), blobs }],
        },
        referrer: Referrer {
            desc: manifest_desc,
            artifact_type: artifact_type.to_owned(),
            annotations: annotations.clone(),
        },
        subject: subject.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn referrer(n: u8) -> Referrer {
        Referrer {
            desc: Desc { media_type: media::MANIFEST.into(), digest: Digest::of(&[n]), size: 3 },
            artifact_type: "a/b".into(),
            annotations: BTreeMap::new(),
        }
    }

    #[test]
    fn an_index_round_trips_and_merging_keeps_every_entry() {
        let (a, b, c) = (referrer(1), referrer(2), referrer(3));
        let bytes = index(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(parse_index(&bytes).unwrap(), vec![a.clone(), b.clone()]);
        assert_eq!(merge(&[a.clone(), b.clone()], &[&b]), None);
        assert_eq!(merge(&[a.clone(), b.clone()], &[&c, &a]), Some(vec![a, b, c]));
    }

    #[test]
    fn a_huge_index_is_refused_by_its_count() {
        let entry = referrer(1).to_json().to_string();
        let many = format!(r#"{{"schemaVersion":2,"manifests":[{}]}}"#, vec![entry; MAX_REFERRERS + 1].join(","));
        assert!(matches!(parse_index(many.as_bytes()), Err(ReferrersError::TooMany(n)) if n == MAX_REFERRERS + 1));
        let manifest = format!(r#"{{"schemaVersion":2,"mediaType":"{}","config":{{}},"layers":[]}}"#, media::MANIFEST);
        assert_eq!(
            parse_index(manifest.as_bytes()).unwrap_err().to_string(),
            format!("not a referrers index: it is a {}", media::MANIFEST)
        );
    }
}
