//! One `compose-img copy`: the platforms asked for of an image (every one
//! by default, or the machine's own into a docker archive, which holds one),
//! with what is attached to it, byte for byte: cosign's `sha256-<hex>.sig`,
//! `.att` and `.sbom` manifests and the OCI 1.1 referrers of each of its
//! manifests (signature bundles, attestations, any artifact), from any
//! transport to any other; every layer verified against
//! its diff_id once per blob. A docker archive or a `dir:` holds no
//! attachments: they are dropped. Into an OCI layout or archive, Docker
//! manifests and lists are rewritten with OCI media types (new digests)
//! unless the digests are to be preserved.

use std::collections::BTreeSet;

use rayon::prelude::*;

use thiserror::Error;

use crate::oci::convert::{self, ConvertError};
use crate::oci::image::BuiltImage;
use crate::oci::manifest::Desc;
use crate::oci::platform::Platform;
use crate::oci::reference::ImageRef;
use crate::oci::tagged::Tagged;
use crate::registry::ClientOptions;
use crate::sign::{self, SignError};
use crate::store::{Store, StoreError};
use crate::transport::{self, Attachment, Outgoing, TransportError, Want, Written};

#[derive(Debug, Error)]
pub(crate) enum CopyError {
    /// Reading the source or writing the destination.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// Reading the signatures beside the source.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// Rewriting Docker documents with OCI media types.
    #[error(transparent)]
    Convert(#[from] ConvertError),
    /// What was asked cannot be done with this image or destination.
    #[error("{reference}: {message}")]
    Refused { reference: String, message: String },
    #[error("cannot use the store")]
    Store(#[from] StoreError),
}

/// What to copy, as skopeo's flags say it.
#[derive(Debug, Default)]
pub(crate) struct CopyOptions {
    /// Only these platforms of an index (`--platform`, repeatable).
    pub platforms: Vec<Platform>,
    /// Every platform, whatever the destination (`--all`).
    pub all: bool,
    /// Manifests byte for byte, never rewritten (`--preserve-digests`).
    pub preserve_digests: bool,
}

pub(crate) struct Copied {
    pub tagged: Tagged,
    pub written: Written,
    /// Manifests carried along under cosign's tags (`.sig`, `.att`, `.sbom`).
    pub signatures: usize,
    /// Attestation manifests (`sha256-<hex>.att`) carried along.
    pub attestations: usize,
    /// OCI 1.1 referrers carried along.
    pub referrers: usize,
    /// The destination with the tag written: what to paste into skopeo,
    /// podman or compose-img to read the copy.
    pub reference: ImageRef,
    /// The source was an index of this many images, of which only the
    /// machine's platform was copied (no `--platform` nor `--all`).
    pub narrowed_from: Option<usize>,
}

/// Copies `source` to `destination`. The tag written is the destination's,
/// else the source's, else `latest`.
pub(crate) fn copy(
    source: &ImageRef,
    destination: &ImageRef,
    options: &CopyOptions,
    store: &Store,
    client: &ClientOptions,
) -> Result<Copied, CopyError> {
    let refused = |reference: &ImageRef, message: &str| CopyError::Refused {
        reference: reference.to_string(),
        message: message.to_owned(),
    };
    let to_docker_archive = matches!(destination, ImageRef::DockerArchive { .. });
    if options.preserve_digests && to_docker_archive {
        return Err(refused(destination, "a docker archive keeps no manifest: digests cannot be preserved"));
    }
    let want = match &options.platforms[..] {
        [one] => Want::Platform(one.clone()),
        _ => Want::All,
    };
    // A push from an OCI layout or `dir:` uploads the layers from their
    // files, each checked while it is sent: none is copied into the store.
    let from_files = matches!(destination, ImageRef::Docker(_));
    let mut tagged = if from_files {
        transport::fetch_for_push(source, &want, store, client)?
    } else {
        transport::fetch(source, &want, store, client)?
    };
    let mut narrowed_from = None;
    if options.platforms.len() > 1 {
        if options.preserve_digests && tagged.is_index() {
            return Err(refused(source, "several --platform make a new index: digests cannot be preserved"));
        }
        tagged = narrow(&tagged, &options.platforms, source, store)?;
    } else if options.platforms.is_empty() && !options.all && tagged.is_index() {
        // skopeo's default: the machine's own platform.
        let platforms = tagged.images.len();
        tagged = narrow(&tagged, &[Platform::host()], source, store)?;
        narrowed_from = Some(platforms);
    }
    // A layer that is not what its descriptor and config say (declared
    // gzip but not, another diff_id) is not carried on: each blob is
    // verified once, its verdict kept in the store.
    for image in &tagged.images {
        if from_files {
            transport::verify_stored_layers(image, &source.to_string(), store)?;
        } else {
            transport::verify_layers(image, &source.to_string(), store)?;
        }
    }
    let attachments =
        if destination.holds_signatures() { attached(source, &tagged, store, client)? } else { Vec::new() };
    let to_oci = matches!(destination, ImageRef::Oci { .. } | ImageRef::OciArchive { .. });
    if to_oci && !options.preserve_digests && convert::has_docker_types(&tagged) {
        if !attachments.is_empty() {
            return Err(refused(
                source,
                "it is signed, and OCI media types would change its digests: copy with --preserve-digests to keep the Docker types and the signatures",
            ));
        }
        tagged = convert::to_oci(&tagged, store)?;
    }
    let tag = destination.tag().or(source.tag()).unwrap_or("latest").to_owned();
    let repo = match source {
        ImageRef::Docker(reference) => reference.repo_name(),
        _ => format!("localhost/{}", transport::tag_less_name(destination)),
    };
    let files = if from_files { transport::outside::SourceFiles::new(source, &tagged, store) } else { None };
    let outgoing = Outgoing {
        tagged: &tagged,
        tags: std::slice::from_ref(&tag),
        outside: files.as_ref().map(|f| f as &dyn crate::registry::Outside),
    };
    let written = transport::write_outgoing(destination, &outgoing, &attachments, &repo, store, client)?;
    let mut blobs = tagged.blobs();
    blobs.extend(attachments.iter().flat_map(|a| a.manifest().blobs()));
    store.record_output(&destination.absolute().to_string(), &blobs)?;
    let reference = destination.with_tag(&tag);
    let tagged_as = |suffix: &str| {
        attachments.iter().filter(|a| matches!(a, Attachment::Tagged(_, tag) if tag.ends_with(suffix))).count()
    };
    let referrers = attachments.iter().filter(|a| matches!(a, Attachment::Referrer(_))).count();
    let (signatures, attestations) = (tagged_as(".sig") + tagged_as(".sbom"), tagged_as(".att"));
    Ok(Copied { tagged, written, signatures, attestations, referrers, reference, narrowed_from })
}

/// Everything attached to the manifests of `tagged` at `source`: cosign's
/// `sha256-<hex>.sig`, `.att` and `.sbom` manifests, and the OCI 1.1
/// referrers of each manifest.
fn attached(
    source: &ImageRef,
    tagged: &Tagged,
    store: &Store,
    client: &ClientOptions,
) -> Result<Vec<Attachment>, CopyError> {
    // Every question at once (on the current pool): each is a round trip
    // to a registry. The answers keep the order of the questions.
    let subjects = transport::subjects(tagged);
    let asked: Vec<(&Desc, Option<&str>)> = subjects
        .iter()
        .flat_map(|subject| ["sig", "att", "sbom"].map(Some).into_iter().chain([None]).map(move |s| (subject, s)))
        .collect();
    let answers: Vec<Vec<Attachment>> = asked
        .par_iter()
        .map(|&(subject, suffix)| match suffix {
            Some(suffix) => {
                let found = sign::fetch_tagged(source, &subject.digest, suffix, store, client)?;
                let tag = format!("sha256-{}.{suffix}", subject.digest.hex());
                Ok(found.map(|manifest| Attachment::Tagged(manifest, tag)).into_iter().collect())
            }
            None => {
                let referrers = transport::referrers::fetch(source, subject, store, client)?;
                Ok(referrers.into_iter().map(Attachment::Referrer).collect())
            }
        })
        .collect::<Result<_, CopyError>>()?;
    Ok(answers.into_iter().flatten().collect())
}

/// The images of `tagged` for `platforms` (each must have one): the one
/// image's manifest, or a new index of several (attestations left behind).
fn narrow(tagged: &Tagged, platforms: &[Platform], source: &ImageRef, store: &Store) -> Result<Tagged, CopyError> {
    let refused = |message: String| CopyError::Refused { reference: source.to_string(), message };
    let offered = || tagged.images.iter().map(|i| i.platform.to_string()).collect::<Vec<_>>().join(", ");
    if let Some(missing) = platforms.iter().find(|p| !tagged.images.iter().any(|i| p.matches(&i.platform))) {
        return Err(refused(format!(
            "no image for {missing} (it has: {}); choose with --platform, or --all",
            offered()
        )));
    }
    // In the index's own order, each once.
    let chosen: Vec<&BuiltImage> =
        tagged.images.iter().filter(|i| platforms.iter().any(|p| p.matches(&i.platform))).collect();
    if let [one] = chosen[..] {
        return Ok(Tagged::single(one.clone()));
    }
    let keep: BTreeSet<&str> = chosen.iter().map(|i| i.manifest.digest.as_str()).collect();
    let bytes = crate::files::read_bounded(&store.blob_path(&tagged.root.digest), 4 << 20)
        .map_err(|e| refused(format!("cannot read index {}: {e}", tagged.root.digest)))?;
    let mut index: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| refused(format!("index {} is not JSON: {e}", tagged.root.digest)))?;
    if let Some(entries) = index["manifests"].as_array_mut() {
        entries.retain(|e| e["digest"].as_str().is_some_and(|d| keep.contains(d)));
    }
    let bytes = crate::oci::json::canonical(&index).map_err(|e| refused(format!("cannot write the new index: {e}")))?;
    let root = store.write_blob(&bytes)?;
    Ok(Tagged {
        media_type: tagged.media_type.clone(),
        root,
        images: chosen.into_iter().cloned().collect(),
        extras: Vec::new(),
    })
}
