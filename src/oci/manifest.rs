//! Reading manifests and indexes written by anyone: OCI image manifests and
//! indexes, Docker schema 2 manifests and manifest lists. Only what a
//! composer needs is kept: descriptors and platforms.

use oci_spec::image::ANNOTATION_REF_NAME;
use serde::Deserialize;
use thiserror::Error;

use super::media;
use crate::digest::{Digest, ParseDigestError};
use crate::oci::platform::Platform;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Desc {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
}

#[derive(Debug)]
pub(crate) enum Parsed {
    Manifest { config: Desc, layers: Vec<Desc> },
    Index(Vec<IndexEntry>),
}

#[derive(Clone, Debug)]
pub(crate) struct IndexEntry {
    pub desc: Desc,
    pub platform: Option<Platform>,
    /// `org.opencontainers.image.ref.name` (tags in a layout's index).
    pub ref_name: Option<String>,
    /// The descriptor's `artifactType`: set for artifacts, never for images.
    pub artifact_type: Option<String>,
    /// `io.containerd.image.name`: the name (`REPO:TAG`) it was written under.
    pub image_name: Option<String>,
}

impl IndexEntry {
    /// Whether the entry can be an image: a manifest or index, not a
    /// signature (`sha256-<hex>.sig` and cosign's other attachment tags)
    /// nor an artifact.
    pub(crate) fn may_be_image(&self) -> bool {
        is_manifest_or_index(&self.desc.media_type)
            && self.artifact_type.is_none()
            && !self.ref_name.as_deref().is_some_and(is_attachment_tag)
    }
}

/// Whether `media_type` is one of the manifest and index types read.
pub(crate) fn is_manifest_or_index(media_type: &str) -> bool {
    matches!(media_type, media::MANIFEST | media::DOCKER_MANIFEST | media::INDEX | media::DOCKER_LIST)
}

/// The tags of what is attached to an image: cosign's `sha256-<hex>.sig`,
/// `.att`, `.sbom`, and the referrers tag `sha256-<hex>` of registries
/// without the referrers API (an index of artifacts).
pub(crate) fn is_attachment_tag(tag: &str) -> bool {
    let Some(rest) = tag.strip_prefix("sha256-") else {
        return false;
    };
    let (digest, suffix) = rest.split_once('.').unwrap_or((rest, ""));
    digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()) && matches!(suffix, "" | "sig" | "att" | "sbom")
}

/// A document that is not a manifest or index compose-img reads.
#[derive(Debug, Error)]
pub(crate) enum ManifestError {
    #[error("not a manifest or index: {0}")]
    Json(serde_json::Error),
    #[error(
        "schema version {} is not supported (only OCI and Docker schema 2)",
        .0.map_or("none".to_owned(), |v| v.to_string())
    )]
    SchemaVersion(Option<u32>),
    #[error("the manifest has no config")]
    NoConfig,
    #[error("the index has no manifests")]
    NoManifests,
    #[error(transparent)]
    Digest(#[from] ParseDigestError),
    #[error("media type `{0}` is not an image manifest or index")]
    MediaType(String),
    #[error("its descriptor says {declared}, but the document is {actual}")]
    Disagrees { declared: String, actual: String },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDoc {
    schema_version: Option<u32>,
    media_type: Option<String>,
    config: Option<RawDesc>,
    layers: Option<Vec<RawDesc>>,
    manifests: Option<Vec<RawDesc>>,
}

/// A descriptor as JSON has it, before its digest is checked.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawDesc {
    pub(super) media_type: String,
    digest: String,
    size: u64,
    platform: Option<RawPlatform>,
    artifact_type: Option<String>,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

impl RawDesc {
    /// The descriptor, its digest checked for form.
    pub(super) fn desc(self) -> Result<Desc, crate::digest::ParseDigestError> {
        Ok(Desc { digest: Digest::parse(&self.digest)?, size: self.size, media_type: self.media_type })
    }
}

#[derive(Deserialize)]
struct RawPlatform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

/// Parses `bytes`, whose media type the transport may know (`hint`).
/// Returns the document's media type and content.
pub(crate) fn parse(bytes: &[u8], hint: Option<&str>) -> Result<(String, Parsed), ManifestError> {
    let doc: RawDoc = serde_json::from_slice(bytes).map_err(ManifestError::Json)?;
    if doc.schema_version != Some(2) {
        return Err(ManifestError::SchemaVersion(doc.schema_version));
    }
    let media_type = doc
        .media_type
        .clone()
        .or_else(|| hint.filter(|h| !h.is_empty() && *h != "application/json").map(str::to_owned))
        .unwrap_or_else(|| if doc.manifests.is_some() { media::INDEX } else { media::MANIFEST }.to_owned());
    let desc = |raw: RawDesc| -> Result<Desc, ManifestError> { Ok(raw.desc()?) };
    match media_type.as_str() {
        media::MANIFEST | media::DOCKER_MANIFEST => {
            let config = desc(doc.config.ok_or(ManifestError::NoConfig)?)?;
            let layers = doc.layers.unwrap_or_default().into_iter().map(desc).collect::<Result<_, _>>()?;
            Ok((media_type, Parsed::Manifest { config, layers }))
        }
        media::INDEX | media::DOCKER_LIST => {
            let entries = doc
                .manifests
                .ok_or(ManifestError::NoManifests)?
                .into_iter()
                .map(|mut raw| {
                    let platform = raw.platform.take().map(|p| Platform {
                        os: p.os,
                        architecture: p.architecture,
                        variant: p.variant.filter(|v| !v.is_empty()),
                    });
                    let ref_name = raw.annotations.remove(ANNOTATION_REF_NAME);
                    let artifact_type = raw.artifact_type.take();
                    let image_name = raw.annotations.remove(super::layout::IMAGE_NAME);
                    Ok(IndexEntry { desc: desc(raw)?, platform, ref_name, artifact_type, image_name })
                })
                .collect::<Result<_, ManifestError>>()?;
            Ok((media_type, Parsed::Index(entries)))
        }
        other => Err(ManifestError::MediaType(other.to_owned())),
    }
}

/// Parses `bytes` that a descriptor of `declared` named: the document
/// must be of that type (skopeo and podman refuse a descriptor that
/// disagrees with what it points at, and so does compose-img).
pub(crate) fn parse_declared(bytes: &[u8], declared: &str) -> Result<(String, Parsed), ManifestError> {
    let (actual, parsed) = parse(bytes, Some(declared))?;
    let structure = match parsed {
        Parsed::Manifest { .. } => "a manifest",
        Parsed::Index(_) => "an index",
    };
    if !is_manifest_or_index(declared) {
        return Err(ManifestError::Disagrees {
            declared: declared.to_owned(),
            actual: format!("{structure} ({actual})"),
        });
    }
    if actual != declared {
        return Err(ManifestError::Disagrees { declared: declared.to_owned(), actual });
    }
    Ok((actual, parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_and_oci_documents() {
        let d = format!("sha256:{}", "a".repeat(64));
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{d}","size":2}},"layers":[{{"mediaType":"{}","digest":"{d}","size":3}}]}}"#,
            media::DOCKER_MANIFEST,
            "application/vnd.docker.container.image.v1+json",
            media::DOCKER_LAYER_GZIP
        );
        let (kind, Parsed::Manifest { layers, .. }) = parse(manifest.as_bytes(), None).unwrap() else { panic!() };
        assert_eq!((kind.as_str(), layers.len()), (media::DOCKER_MANIFEST, 1));
        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{}","digest":"{d}","size":1,"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}}]}}"#,
            media::MANIFEST
        );
        let (kind, Parsed::Index(entries)) = parse(index.as_bytes(), None).unwrap() else { panic!() };
        assert_eq!(kind, media::INDEX);
        assert_eq!(entries[0].platform.as_ref().unwrap().to_string(), "linux/arm64/v8");
        assert_eq!(
            parse(br#"{"schemaVersion":1}"#, None).unwrap_err().to_string(),
            "schema version 1 is not supported (only OCI and Docker schema 2)"
        );
        assert!(parse(br#"{}"#, None).unwrap_err().to_string().starts_with("schema version none "));
        let bad_digest = r#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"md5:0","size":1}}"#;
        assert_eq!(
            parse(bad_digest.as_bytes(), None).unwrap_err().to_string(),
            "`md5:0` is not a sha256 digest (sha256:<hex>)"
        );
    }
}
