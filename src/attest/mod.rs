//! Attest stage: what a build says about the images it made, as cosign
//! attaches it.
//!
//! - [`contents`]: what an image holds that its SBOM lists: the regular
//!   files this build's layers added (hashes, sizes, origins), read back
//!   from the store, and the packages its databases declare (`packages`);
//! - `spdx`, `cyclonedx`: the SPDX 2.3 and CycloneDX 1.6 JSON documents;
//!   `provenance`: the SLSA provenance v1 predicate;
//! - [`dsse`]: in-toto v1 Statements in DSSE envelopes, signed and checked
//!   with cosign keys;
//! - [`attached`]: the attestation manifests (`sha256-<hex>.att`, one layer
//!   per envelope), written beside an image with the ones already there,
//!   read back, listed and verified.
//!
//! Every document is reproducible: times from the build's epoch, ids
//! derived from digests (UUIDv5), arrays sorted, JSON canonical.

pub(crate) mod attached;
pub(crate) mod contents;
mod cyclonedx;
pub(crate) mod dsse;
mod packages;
mod provenance;
mod spdx;

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use thiserror::Error;

use crate::digest::Digest;
use crate::oci::compress::Compression;
use crate::oci::image::BuiltImage;
use crate::oci::platform::Platform;
use crate::recipe::{Recipe, SbomFormat};
use crate::sign::SignError;
use crate::store::{Store, StoreError};
use crate::transport::TransportError;

/// The predicate type of an SPDX JSON document (as cosign's `--type spdxjson`).
pub(crate) const SPDX_PREDICATE: &str = "https://spdx.dev/Document";
/// The predicate type of a CycloneDX document (cosign's `--type cyclonedx`).
pub(crate) const CYCLONEDX_PREDICATE: &str = "https://cyclonedx.org/bom";
/// SLSA provenance v1 (cosign's `--type slsaprovenance1`).
pub(crate) const PROVENANCE_PREDICATE: &str = "https://slsa.dev/provenance/v1";

/// The predicate type of `format`'s documents.
pub(crate) fn predicate_type(format: SbomFormat) -> &'static str {
    match format {
        SbomFormat::Spdx => SPDX_PREDICATE,
        SbomFormat::CycloneDx => CYCLONEDX_PREDICATE,
    }
}

#[derive(Debug, Error)]
pub(crate) enum AttestError {
    #[error("cannot read the layer {digest}")]
    Layer {
        digest: Digest,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the package database {path}: {reason}")]
    Database { path: String, reason: String },
    #[error("cannot {action} {}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the {what} document: {source}")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// An attestation manifest or envelope that cannot be read.
    #[error("{name}: {reason}")]
    Malformed { name: String, reason: String },
    #[error("{reference} has no {format} SBOM attached (no attestation of type {predicate}); build it with --sbom")]
    NoSbom { reference: String, format: &'static str, predicate: &'static str },
    #[error("{reference} has no attestations ({tag} not found)")]
    NoAttestations { reference: String, tag: String },
    /// `verify --attestations` found some that do not verify.
    #[error("attestations that do not verify for {reference}:\n  {}", .failures.join("\n  "))]
    Unverified { reference: String, failures: Vec<String> },
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Transport(#[from] TransportError),
}

impl AttestError {
    fn json(what: &'static str) -> impl Fn(serde_json::Error) -> AttestError {
        move |source| AttestError::Json { what, source }
    }
}

/// One platform image a build made, and what made it.
pub(crate) struct Subject<'a> {
    pub image: &'a BuiltImage,
    /// The repository the recipe names (`localhost/app`): the statement's
    /// subject name and the SBOM's image name.
    pub name: &'a str,
    /// The recipes whose layers this build made, the image's own last.
    pub recipes: Vec<Made<'a>>,
    /// The images it stacks on, nearest first.
    pub parents: Vec<Parent>,
    pub flags: Flags<'a>,
    /// The directory of the recipe the build was asked for (canonical):
    /// documents name files relative to it.
    pub root: &'a Path,
}

/// A recipe whose layers are in the image.
pub(crate) struct Made<'a> {
    pub recipe: &'a Recipe,
    /// Index of its first layer in the image.
    pub first_layer: usize,
    /// How documents name it: relative to the directory of the recipe the
    /// build was asked for, so the same build elsewhere says the same.
    pub uri: String,
}

/// A parent image, by reference and manifest digest.
#[derive(Debug, Clone)]
pub(crate) struct Parent {
    pub name: String,
    pub digest: Digest,
}

/// What changes the bytes of a build besides its inputs.
#[derive(Clone, Copy)]
pub(crate) struct Flags<'a> {
    pub epoch: u64,
    pub compression: Compression,
    /// The platforms the recipe was built for.
    pub platforms: &'a [Platform],
}

/// The name documents give `path` (canonical): relative to `root` (a
/// canonical directory), with `..` where it is outside it.
pub(crate) fn uri(path: &Path, root: &Path) -> String {
    let (path, root): (Vec<_>, Vec<_>) = (path.components().collect(), root.components().collect());
    let common = path.iter().zip(&root).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = root[common..].iter().map(|_| "..".to_owned()).collect();
    parts.extend(path[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
    parts.join("/")
}

/// RFC 3339 time of `epoch` seconds.
fn time(epoch: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(epoch)).to_string()
}

/// An RFC 4122 version 5 UUID of `name` in the URL namespace: the same
/// name always gives the same id.
fn uuid_v5(name: &str) -> String {
    use sha1::{Digest as _, Sha1};
    const URL_NAMESPACE: [u8; 16] =
        [0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8];
    let mut hasher = Sha1::new();
    hasher.update(URL_NAMESPACE);
    hasher.update(name.as_bytes());
    let mut bytes: [u8; 16] = hasher.finalize()[..16].try_into().unwrap_or([0; 16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x50;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = contents::hex(&bytes);
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// The package URL of an image: `pkg:oci/NAME@DIGEST?repository_url=REPO`.
fn image_purl(repository: &str, digest: &Digest) -> String {
    let (repo, name) = match repository.rsplit_once('/') {
        Some((_, name)) => (repository, name),
        None => (repository, repository),
    };
    format!("pkg:oci/{name}@sha256%3A{}?repository_url={repo}", digest.hex())
}

/// By platform manifest: the statements to attach to it, as (predicate
/// type, statement bytes).
pub(crate) type Statements = Vec<(Digest, Vec<(&'static str, Vec<u8>)>)>;

/// The statements a build attaches to `subject`: each SBOM asked for and
/// the provenance, as (predicate type, statement bytes).
pub(crate) fn statements(
    subject: &Subject,
    formats: &[SbomFormat],
    store: &Store,
) -> Result<Vec<(&'static str, Vec<u8>)>, AttestError> {
    let mut out = Vec::new();
    if !formats.is_empty() {
        let contents = contents::read(subject, store)?;
        for &format in formats {
            let document = match format {
                SbomFormat::Spdx => spdx::document(subject, &contents),
                SbomFormat::CycloneDx => cyclonedx::document(subject, &contents),
            };
            out.push((predicate_type(format), dsse::statement(subject, predicate_type(format), document)?));
        }
    }
    let predicate = provenance::predicate(subject)?;
    out.push((PROVENANCE_PREDICATE, dsse::statement(subject, PROVENANCE_PREDICATE, predicate)?));
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn documents_name_files_relative_to_the_recipe_asked_for() {
        use std::path::Path;
        assert_eq!(super::uri(Path::new("/w/r/app.toml"), Path::new("/w/r")), "app.toml");
        assert_eq!(super::uri(Path::new("/w/plugins/u.rhai"), Path::new("/w/r")), "../plugins/u.rhai");
    }

    #[test]
    fn uuid_v5_matches_rfc_4122() {
        // Python: uuid.uuid5(uuid.NAMESPACE_URL, "https://example.com/")
        assert_eq!(super::uuid_v5("https://example.com/"), "dd2c1780-811a-5296-81c5-178a0ef488bc");
    }
}
