//! The referrers of a manifest at any place that can hold them, fetched
//! into the store: through the registry's referrers API or referrers tag,
//! or the untagged artifact entries of a layout's or archive's
//! `index.json` whose manifest names the subject. Every artifact listed
//! for a subject must name that subject; at most
//! [`referrers::MAX_REFERRERS`] are read.

use std::path::Path;

use super::import::{self, read_document};
use super::sources::{self, Layout, Stored};
use super::{TransportError, Want};
use crate::oci::manifest::{self, Desc, IndexEntry, Parsed};
use crate::oci::reference::ImageRef;
use crate::oci::referrers::{self, Artifact, Referrer};
use crate::oci::{archive, media};
use crate::registry::{self, ClientOptions, Reference};
use crate::store::Store;

/// The artifacts attached to the manifest `subject` at `place` (none for a
/// place that cannot hold them), each fetched into the store.
pub(crate) fn fetch(
    place: &ImageRef,
    subject: &Desc,
    store: &Store,
    options: &ClientOptions,
) -> Result<Vec<Artifact>, TransportError> {
    let name = place.to_string();
    match place {
        ImageRef::Docker(target) => {
            let client = options.client(target)?;
            let listed = registry::referrers::list(&client, target, &subject.digest)?;
            listed
                .iter()
                .map(|referrer| {
                    let pinned = Reference { tag: None, digest: Some(referrer.desc.digest.clone()), ..target.clone() };
                    let source = sources::Registry::new(&client, &pinned);
                    artifact(&import::import(&source, &Want::All, store)?, subject, store, &name)
                })
                .collect()
        }
        ImageRef::Oci { dir, .. } => {
            let index = match crate::files::read_bounded(&dir.join("index.json"), import::MAX_DOCUMENT) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(TransportError::image(&name, format!("cannot read index.json: {e}"))),
            };
            let read = |desc: &Desc| {
                let path = dir.join("blobs").join("sha256").join(desc.digest.hex());
                let (file, _) = crate::files::open_regular(&path)
                    .map_err(|e| TransportError::image(&name, format!("cannot open blob {}: {e}", desc.digest)))?;
                read_document(std::io::BufReader::new(file), desc, &name)
            };
            let found = scan(&index, subject, read, &name, dir)?;
            found
                .into_iter()
                .map(|desc| {
                    let tagged = import::import(&Layout::at(dir, desc, name.clone()), &Want::All, store)?;
                    artifact(&tagged, subject, store, &name)
                })
                .collect()
        }
        ImageRef::OciArchive { file, .. } => {
            if !file.exists() {
                return Ok(Vec::new());
            }
            in_archive(file, &archive::ingest(file, store)?, subject, store, &name)
        }
        ImageRef::DockerArchive { .. } | ImageRef::Dir { .. } => Ok(Vec::new()),
    }
}

/// The artifacts attached to `subject` in the `oci-archive:` `file`, whose
/// blobs and `index.json` (`index`) are in the store already.
pub(crate) fn in_archive(
    file: &Path,
    index: &[u8],
    subject: &Desc,
    store: &Store,
    name: &str,
) -> Result<Vec<Artifact>, TransportError> {
    let found = scan(index, subject, |desc| sources::read_stored(store, desc, name), name, file)?;
    found
        .into_iter()
        .map(|desc| {
            let bytes = sources::read_stored(store, &desc, name)?;
            let source = Stored::new(store, name.to_owned(), bytes, Some(desc.media_type));
            artifact(&import::import(&source, &Want::All, store)?, subject, store, name)
        })
        .collect()
}

/// The untagged artifact entries of a layout's `index.json` (`bytes`, of
/// the layout at `path`) whose manifest names `subject`.
fn scan(
    bytes: &[u8],
    subject: &Desc,
    read: impl Fn(&Desc) -> Result<Vec<u8>, TransportError>,
    name: &str,
    path: &Path,
) -> Result<Vec<Desc>, TransportError> {
    let entries: Vec<IndexEntry> = match manifest::parse(bytes, Some(media::INDEX)) {
        Ok((_, Parsed::Index(entries))) => entries,
        _ => return Err(TransportError::image(name, format!("{}: not an image index", path.display()))),
    };
    let artifacts: Vec<&IndexEntry> = entries
        .iter()
        .filter(|e| e.artifact_type.is_some() && e.ref_name.is_none() && e.desc.media_type == media::MANIFEST)
        .collect();
    if artifacts.len() > referrers::MAX_REFERRERS {
        return Err(TransportError::image(
            name,
            format!(
                "index.json lists {} artifact manifests; compose-img reads at most {} referrers of a manifest",
                artifacts.len(),
                referrers::MAX_REFERRERS
            ),
        ));
    }
    let mut found = Vec::new();
    for entry in artifacts {
        let info = referrers::parse_artifact(&read(&entry.desc)?)
            .map_err(|e| TransportError::image(name, format!("{}: {e}", entry.desc.digest)))?;
        if info.subject.is_some_and(|s| s.digest == subject.digest) {
            found.push(entry.desc.clone());
        }
    }
    Ok(found)
}

/// The artifact `tagged` (fetched as a referrer of `subject`), checked to
/// be an artifact manifest about `subject`.
fn artifact(tagged: &super::Tagged, subject: &Desc, store: &Store, name: &str) -> Result<Artifact, TransportError> {
    let digest = &tagged.root.digest;
    let bad = |why: String| TransportError::image(name, format!("the referrer {digest} of {}: {why}", subject.digest));
    if !tagged.is_artifact() || tagged.media_type != media::MANIFEST {
        return Err(bad("it is not an artifact manifest".into()));
    }
    let bytes = sources::read_stored(
        store,
        &Desc { media_type: media::MANIFEST.into(), digest: digest.clone(), size: tagged.root.size },
        name,
    )?;
    let info = referrers::parse_artifact(&bytes).map_err(|e| bad(e.to_string()))?;
    match &info.subject {
        Some(s) if s.digest == subject.digest => {}
        Some(s) => return Err(bad(format!("its subject is another manifest, {}", s.digest))),
        None => return Err(bad("it has no subject".into())),
    }
    Ok(Artifact {
        manifest: tagged.clone(),
        referrer: Referrer {
            desc: Desc { media_type: media::MANIFEST.into(), digest: digest.clone(), size: tagged.root.size },
            artifact_type: info.artifact_type.unwrap_or_default(),
            annotations: info.annotations,
        },
        subject: subject.clone(),
    })
}
