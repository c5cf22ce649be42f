//! Transports: reading images from, and writing them to, every place a
//! reference can name (containers-transports(5)): `oci:`, `oci-archive:`,
//! `docker-archive:`, `dir:` and `docker://`.
//!
//! - [`import`]: any [`import::Source`] → the store, every document and
//!   blob checked against its digest and size, each layer against its
//!   diff_id in the same pass ([`diff_id`]);
//! - [`diff_id`]: a layer's diff_id found from the bytes as they are
//!   downloaded or uploaded, by a decoder on another thread;
//! - [`outside`]: a push from an OCI layout or `dir:` reads each layer
//!   blob from its file (never copied into the store), checked while it
//!   is uploaded ([`fetch_for_push`], [`write_outgoing`]);
//! - [`sources`]: the source of each transport;
//! - [`fetch`] and [`write`](fn@write) pick the transport a reference names;
//! - [`resolve`](mod@resolve): what a reference names now, as digests,
//!   without fetching the image (lock files);
//! - [`referrers`](mod@referrers): the OCI 1.1 referrers of a manifest at
//!   any place, fetched; [`write`](fn@write) attaches them
//!   ([`Attachment::Referrer`]).
//!
//! The formats themselves live in [`crate::oci`] (layouts, archives) and
//! [`crate::registry`] (the distribution API).

pub(crate) mod diff_id;
pub(crate) mod import;
pub(crate) mod outside;
pub(crate) mod referrers;
pub(crate) mod resolve;
mod sources;

use rayon::prelude::*;
use thiserror::Error;

use crate::digest::HashingReader;
use crate::oci::archive;
use crate::oci::docker_archive;
use crate::oci::image::BuiltImage;
use crate::oci::layout::{LayoutError, write_layout};
use crate::oci::manifest::Desc;
use crate::oci::platform::Platform;
use crate::oci::reference::{ArchiveImage, ImageRef};
use crate::oci::referrers::{Artifact, Referrer};
use crate::oci::tagged::Tagged;
use crate::registry::{self, ClientOptions, PushStats, RegistryError};
use crate::store::{Store, StoreError};

#[derive(Debug, Error)]
pub(crate) enum TransportError {
    #[error("{name}: {message}")]
    Image { name: String, message: String },
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TransportError {
    /// The image does not exist (no such tag, file or repository).
    pub(crate) fn is_not_found(&self) -> bool {
        match self {
            TransportError::Layout(e) => e.is_not_found(),
            TransportError::Registry(e) => e.not_found,
            _ => false,
        }
    }

    pub(crate) fn image(name: &str, message: impl Into<String>) -> TransportError {
        TransportError::Image { name: name.to_owned(), message: message.into() }
    }
}

/// Which manifests of an index to fetch.
#[derive(Clone, Debug)]
pub(crate) enum Want {
    /// Every manifest (copying an image).
    All,
    /// The one for this platform (a parent image); a plain manifest must be for it.
    Platform(Platform),
}

/// Reads the image `reference` names into the store.
pub(crate) fn fetch(
    reference: &ImageRef,
    want: &Want,
    store: &Store,
    options: &ClientOptions,
) -> Result<Tagged, TransportError> {
    with_source(reference, store, options, |source| import::import(source, want, store))
}

/// Reads the manifest and config of the image `reference` names into the
/// store; from a registry, its layer blobs stay there (recorded as seen in
/// its repository, for a push to the same registry to mount them); from
/// any other transport, they are read as by [`fetch`].
pub(crate) fn fetch_documents(
    reference: &ImageRef,
    want: &Want,
    store: &Store,
    options: &ClientOptions,
) -> Result<Tagged, TransportError> {
    with_source(reference, store, options, |source| {
        import::import(&import::Documents::of_registry(source), want, store)
    })
}

/// Reads the image `reference` names into the store for a push, but for
/// the layer blobs of an OCI layout or `dir:`, which stay in their files:
/// [`outside::SourceFiles`] uploads them from there, checked as they go.
/// From any other transport, as [`fetch`].
pub(crate) fn fetch_for_push(
    reference: &ImageRef,
    want: &Want,
    store: &Store,
    options: &ClientOptions,
) -> Result<Tagged, TransportError> {
    if !matches!(reference, ImageRef::Oci { .. } | ImageRef::Dir { .. }) {
        return fetch(reference, want, store, options);
    }
    with_source(reference, store, options, |source| import::import(&import::Documents::of_files(source), want, store))
}

/// Calls `read` with the source of `reference`'s transport.
fn with_source<T>(
    reference: &ImageRef,
    store: &Store,
    options: &ClientOptions,
    read: impl FnOnce(&dyn import::Source) -> Result<T, TransportError>,
) -> Result<T, TransportError> {
    match reference {
        ImageRef::Oci { dir, tag } => read(&sources::Layout::open(dir, tag.as_deref(), reference.to_string())?),
        ImageRef::OciArchive { file, tag } => {
            let index = archive::ingest(file, store)?;
            let entry = crate::oci::layout::find_in_index(&index, tag.as_deref(), file)?;
            let root = sources::read_stored(store, &entry.desc, &reference.to_string())?;
            read(&sources::Stored::new(store, reference.to_string(), root, Some(entry.desc.media_type)))
        }
        ImageRef::DockerArchive { file, image } => {
            let root = docker_archive::ingest(file, store, image.as_ref())?;
            read(&sources::Stored::new(store, reference.to_string(), root, None))
        }
        ImageRef::Dir { dir } => read(&sources::Dir::new(dir, reference.to_string())),
        ImageRef::Docker(reference) => {
            let client = options.client(reference)?;
            read(&sources::Registry::new(&client, reference))
        }
    }
}

/// What writing to a registry did (nothing to report for files).
#[derive(Debug, Default)]
pub(crate) struct Written {
    pub push: Option<PushStats>,
}

/// What is written beside an image.
#[derive(Clone, Debug)]
pub(crate) enum Attachment {
    /// A manifest under a tag of its own (cosign's `sha256-<hex>.sig`).
    Tagged(Tagged, String),
    /// An OCI 1.1 referrer: an artifact manifest about one of the image's
    /// manifests, found through its subject.
    Referrer(Artifact),
}

impl Attachment {
    /// The manifest written.
    pub(crate) fn manifest(&self) -> &Tagged {
        match self {
            Attachment::Tagged(tagged, _) => tagged,
            Attachment::Referrer(artifact) => &artifact.manifest,
        }
    }
}

/// Writes `tagged` to `reference` under `tags`, and beside it each of
/// `attachments`: tagged ones under their tag, referrers as the place
/// keeps them (a layout's or archive's untagged `index.json` entries with
/// their `artifactType`; at a registry, pushed by digest and listed by the
/// referrers API or the referrers tag). `repo` names the image in a docker
/// archive's `RepoTags` (`REPO:TAG`).
///
/// An `oci-archive:` is written whole: the referrers it already holds for
/// the image's manifests are kept (a file that is not an OCI archive is
/// replaced).
pub(crate) fn write(
    reference: &ImageRef,
    tagged: &Tagged,
    tags: &[String],
    attachments: &[Attachment],
    repo: &str,
    store: &Store,
    options: &ClientOptions,
) -> Result<Written, TransportError> {
    write_outgoing(reference, &Outgoing { tagged, tags, outside: None }, attachments, repo, store, options)
}

/// An image to write: its manifests, the tags to write it under, and
/// where a push reads the blobs the store lacks.
pub(crate) struct Outgoing<'a> {
    pub tagged: &'a Tagged,
    pub tags: &'a [String],
    /// The source's own files (a push only), see [`outside`].
    pub outside: Option<&'a dyn registry::Outside>,
}

/// [`write`](fn@write), with blobs the store lacks read from
/// `outgoing.outside` when pushing.
pub(crate) fn write_outgoing(
    reference: &ImageRef,
    outgoing: &Outgoing<'_>,
    attachments: &[Attachment],
    repo: &str,
    store: &Store,
    options: &ClientOptions,
) -> Result<Written, TransportError> {
    let Outgoing { tagged, tags, outside } = *outgoing;
    let mut kept = Vec::new();
    // The referrers an OCI archive already holds for these manifests; a
    // file that is no OCI archive is replaced, as before.
    if let ImageRef::OciArchive { file, .. } = reference
        && let Ok(index) = archive::ingest(file, store)
    {
        for subject in subjects(tagged) {
            let found = referrers::in_archive(file, &index, &subject, store, &reference.to_string())?;
            kept.extend(found.into_iter().map(Attachment::Referrer));
        }
    }
    let attachments: Vec<&Attachment> = kept.iter().chain(attachments).collect();
    let attached: Vec<Vec<String>> = attachments
        .iter()
        .map(|a| match a {
            Attachment::Tagged(_, tag) => vec![tag.clone()],
            Attachment::Referrer(_) => Vec::new(),
        })
        .collect();
    let mut entries: Vec<(&Tagged, &[String])> = vec![(tagged, tags)];
    entries.extend(attachments.iter().zip(&attached).map(|(a, tags)| (a.manifest(), &tags[..])));
    let referrers: Vec<&Referrer> = attachments
        .iter()
        .filter_map(|a| match a {
            Attachment::Referrer(artifact) => Some(&artifact.referrer),
            Attachment::Tagged(..) => None,
        })
        .collect();
    match reference {
        ImageRef::Oci { dir, .. } => write_layout(dir, store, &entries, &referrers, repo)?,
        ImageRef::OciArchive { file, .. } => archive::write(file, store, &entries, &referrers, repo)?,
        ImageRef::DockerArchive { file, image: chosen } => {
            if !attachments.is_empty() {
                return Err(TransportError::image(&reference.to_string(), "a docker archive cannot hold signatures"));
            }
            if tagged.is_artifact() {
                return Err(TransportError::image(
                    &reference.to_string(),
                    "a docker archive holds images; this is an artifact (its config is not an image config)",
                ));
            }
            let [image] = &tagged.images[..] else {
                return Err(TransportError::image(
                    &reference.to_string(),
                    "a docker archive holds one platform: pick one with --platform",
                ));
            };
            let repo_tags: Vec<String> = match chosen {
                // The name the reference gives, as skopeo writes it.
                Some(ArchiveImage::Named(named)) => tags.iter().map(|t| format!("{}:{t}", named.repo_name())).collect(),
                Some(ArchiveImage::Index(n)) => {
                    return Err(TransportError::image(
                        &reference.to_string(),
                        format!("@{n} chooses an image to read; to write, name it (docker-archive:FILE:NAME:TAG)"),
                    ));
                }
                None => tags.iter().map(|t| format!("{repo}:{t}")).collect(),
            };
            docker_archive::write(file, store, image, &repo_tags)?;
        }
        ImageRef::Dir { dir } => {
            if !attachments.is_empty() {
                return Err(TransportError::image(
                    &reference.to_string(),
                    "a dir: image cannot hold cosign signatures",
                ));
            }
            crate::oci::dir::write(dir, store, tagged)?;
        }
        ImageRef::Docker(target) => {
            if target.digest.is_some() && !tags.is_empty() {
                return Err(TransportError::image(
                    &reference.to_string(),
                    "cannot push to a digest: name a tag (or none, for the recipe's tags)",
                ));
            }
            let client = options.client(target)?;
            let mut stats = registry::push_from(&client, target, tagged, tags, store, outside)?;
            let mut artifacts = Vec::new();
            for attachment in &attachments {
                match attachment {
                    Attachment::Tagged(manifest, tag) => {
                        stats += registry::push(&client, target, manifest, std::slice::from_ref(tag), store)?;
                    }
                    Attachment::Referrer(artifact) => artifacts.push(artifact),
                }
            }
            stats += registry::referrers::attach(&client, target, &artifacts, store)?;
            return Ok(Written { push: Some(stats) });
        }
    }
    Ok(Written::default())
}

/// The descriptor of every manifest of `tagged` that can be a subject:
/// the root, and each platform manifest of an index.
pub(crate) fn subjects(tagged: &Tagged) -> Vec<Desc> {
    let mut subjects = vec![Desc {
        media_type: tagged.media_type.clone(),
        digest: tagged.root.digest.clone(),
        size: tagged.root.size,
    }];
    if tagged.is_index() {
        subjects.extend(tagged.images.iter().map(|i| Desc {
            media_type: i.media_type.clone(),
            digest: i.manifest.digest.clone(),
            size: i.manifest.size,
        }));
    }
    subjects
}

/// A repository name for an image that has none: the destination file's
/// stem (`hello.tar` → `hello`), lowercased.
pub(crate) fn tag_less_name(reference: &ImageRef) -> String {
    let path = match reference {
        ImageRef::Oci { dir: path, .. }
        | ImageRef::OciArchive { file: path, .. }
        | ImageRef::DockerArchive { file: path, .. }
        | ImageRef::Dir { dir: path } => path,
        ImageRef::Docker(r) => return r.repository.clone(),
    };
    let stem = path.file_stem().map(|s| s.to_string_lossy().to_lowercase()).unwrap_or_default();
    let clean: String = stem.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let clean = clean.trim_matches('-');
    if clean.is_empty() { "image".to_owned() } else { clean.to_owned() }
}

/// Checks, once per blob, that every layer of `image` (a parent about to
/// be built on) uncompresses to the diff_id its config gives: a layer
/// declared gzip whose bytes are not, or whose content differs, stops the
/// build naming the image and the layer, before a child carries it on.
/// Layers fetched by [`fetch`] were checked as they arrived; the others
/// (from an archive) are checked here, in parallel.
pub(crate) fn verify_layers(image: &BuiltImage, name: &str, store: &Store) -> Result<(), TransportError> {
    verify(image, name, store, false)
}

/// [`verify_layers`] for the layers whose blob is in the store: the others
/// are checked as they are pushed from the source's files ([`outside`]).
pub(crate) fn verify_stored_layers(image: &BuiltImage, name: &str, store: &Store) -> Result<(), TransportError> {
    verify(image, name, store, true)
}

fn verify(image: &BuiltImage, name: &str, store: &Store, stored_only: bool) -> Result<(), TransportError> {
    // Every layer checked; the first bad one in the image's order named.
    let verdicts: Vec<Result<(), TransportError>> = image
        .layers
        .par_iter()
        .enumerate()
        .map(|(index, layer)| {
            if store.is_verified(&layer.digest, &layer.diff_id) || (stored_only && !store.has_blob(&layer.digest)) {
                return Ok(());
            }
            let bad = |why: &dyn std::fmt::Display| import::layer_error(name, index, &layer.digest, why);
            let blob = store.blob_path(&layer.digest);
            let file = std::fs::File::open(&blob).map_err(|e| bad(&format_args!("cannot read it: {e}")))?;
            let found = diff_id::uncompressed_digest(layer.media_type, std::io::BufReader::new(file));
            diff_id::verdict(found, &layer.diff_id).map_err(|why| bad(&why))?;
            Ok(store.mark_verified(&layer.digest, &layer.diff_id)?)
        })
        .collect();
    verdicts.into_iter().collect()
}

/// Reads each of `blobs` again from where `reference` names, never from
/// the store (which may hold a good copy of a blob that is corrupted
/// there), and checks its digest and size: `verify` checks the bytes it
/// was given.
pub(crate) fn check_blobs(reference: &ImageRef, blobs: &[Desc], options: &ClientOptions) -> Result<(), TransportError> {
    let name = reference.to_string();
    if let ImageRef::OciArchive { file, .. } = reference {
        let digests: Vec<&crate::digest::Digest> = blobs.iter().map(|b| &b.digest).collect();
        return Ok(archive::check_blobs(file, &digests)?);
    }
    for desc in blobs {
        let reader: Box<dyn std::io::Read> = match reference {
            ImageRef::Oci { dir, .. } => {
                let path = dir.join("blobs").join("sha256").join(desc.digest.hex());
                let (file, _) = crate::files::open_regular(&path)
                    .map_err(|e| TransportError::image(&name, format!("cannot open blob {}: {e}", path.display())))?;
                Box::new(std::io::BufReader::new(file))
            }
            ImageRef::Docker(r) => {
                let client = options.client(r)?;
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(
                    &mut std::io::Read::take(client.get_blob(&r.repository, &desc.digest, desc.size)?, desc.size + 1),
                    &mut bytes,
                )
                .map_err(|e| TransportError::image(&name, format!("cannot read blob {}: {e}", desc.digest)))?;
                Box::new(std::io::Cursor::new(bytes))
            }
            ImageRef::OciArchive { .. } | ImageRef::DockerArchive { .. } | ImageRef::Dir { .. } => continue,
        };
        let mut counted = CountingReader { inner: std::io::Read::take(reader, desc.size.saturating_add(1)), read: 0 };
        let actual = HashingReader::new(&mut counted)
            .finish()
            .map_err(|e| TransportError::image(&name, format!("cannot read blob {}: {e}", desc.digest)))?;
        import::check(&actual, counted.read, desc, &name)?;
    }
    Ok(())
}

/// Counts the bytes read through it.
struct CountingReader<R> {
    inner: R,
    read: u64,
}

impl<R: std::io::Read> std::io::Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// The image for `platform` whose manifest `manifest` the store already
/// holds with all its blobs, read from the store alone (no transport):
/// what `plan` knows of a parent without fetching it. `None` if anything
/// of it is not there.
pub(crate) fn stored_image(store: &Store, manifest: &crate::digest::Digest, platform: &Platform) -> Option<BuiltImage> {
    let name = manifest.to_string();
    let bytes = crate::files::read_bounded(&store.blob_path(manifest), import::MAX_DOCUMENT).ok()?;
    let source = sources::Stored::new(store, name, bytes, None);
    let tagged = import::import(&source, &Want::Platform(platform.clone()), store).ok()?;
    tagged.images.into_iter().next()
}

/// The repository an image in a file was written under (its layout's
/// `io.containerd.image.name`, without the tag), which signing it takes as
/// the identity; `None` if the file records none.
pub(crate) fn recorded_name(reference: &ImageRef, store: &Store) -> Result<Option<String>, TransportError> {
    let entry = match reference {
        ImageRef::Oci { dir, tag } => crate::oci::layout::find(dir, tag.as_deref())?,
        ImageRef::OciArchive { file, tag } => {
            let index = archive::ingest(file, store)?;
            crate::oci::layout::find_in_index(&index, tag.as_deref(), file)?
        }
        _ => return Ok(None),
    };
    Ok(entry.image_name.map(|name| match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo.to_owned(),
        _ => name,
    }))
}
