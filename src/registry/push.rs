//! Pushing an image from the store: blobs first (skipped when the registry
//! has them, mounted when another repository of the same registry has
//! them: the image's origin or where the store saw them, `store::origins`;
//! uploaded otherwise: from the store, or from the source's own files,
//! checked while they are sent, [`Outside`]), every repository pushed to
//! recorded as an origin, then the manifests with their exact bytes (the
//! platform images' and the index's other entries, such as attestations),
//! the index last, under each tag.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{Client, Reference, RegistryError};
use crate::digest::Digest;
use crate::oci::tagged::Tagged;
use crate::store::Store;

/// What a push did with the blobs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PushStats {
    pub uploaded: usize,
    pub uploaded_bytes: u64,
    /// Blobs the repository already had.
    pub present: usize,
    /// Blobs mounted from another repository of the registry.
    pub mounted: usize,
}

impl std::ops::AddAssign for PushStats {
    fn add_assign(&mut self, other: PushStats) {
        self.uploaded += other.uploaded;
        self.uploaded_bytes += other.uploaded_bytes;
        self.present += other.present;
        self.mounted += other.mounted;
    }
}

enum Sent {
    Present,
    Mounted,
    Uploaded(u64),
}

/// Blobs a push reads from the files of its source (an OCI layout,
/// `dir:`) rather than from the store, which never holds a copy of them.
pub(crate) trait Outside: Sync {
    /// The file blob `digest` is read from, if it is read from outside.
    fn path(&self, digest: &Digest) -> Option<PathBuf>;
    /// Checks the bytes of blob `digest` at `path` (its digest, size and,
    /// for a layer, diff_id) while they are uploaded: the registry keeps
    /// the blob only once this accepts it.
    fn check(&self, digest: &Digest, size: u64, path: &Path) -> Result<(), RegistryError>;
}

/// Pushes `tagged` from the store under `tags` (see the module's docs).
pub(crate) fn push(
    client: &Client,
    target: &Reference,
    tagged: &Tagged,
    tags: &[String],
    store: &Store,
) -> Result<PushStats, RegistryError> {
    push_from(client, target, tagged, tags, store, None)
}

/// Like [`push`], reading the blobs the store lacks from `outside`.
pub(crate) fn push_from(
    client: &Client,
    target: &Reference,
    tagged: &Tagged,
    tags: &[String],
    store: &Store,
    outside: Option<&dyn Outside>,
) -> Result<PushStats, RegistryError> {
    let repo = target.repository.as_str();
    let mut blobs: Vec<(&Digest, u64, Option<&str>)> = Vec::new();
    for image in &tagged.images {
        let origin = image.origin.as_ref().filter(|o| o.registry == target.registry && o.repository != repo);
        let origin = origin.map(|o| o.repository.as_str());
        for layer in &image.layers {
            blobs.push((&layer.digest, layer.size, origin));
        }
        blobs.push((&image.config.digest, image.config.size, origin));
    }
    for extra in &tagged.extras {
        blobs.extend(extra.blobs.iter().map(|d| (&d.digest, d.size, None)));
    }
    blobs.sort_by(|a, b| a.0.cmp(b.0));
    blobs.dedup_by(|a, b| a.0 == b.0);
    let sent: Vec<Sent> = blobs
        .par_iter()
        .map(|&(digest, size, origin)| {
            let sent = send_blob(client, target, (digest, size, origin), store, outside)?;
            // A hint for later pushes; failing to write it fails nothing.
            let _ = store.record_origin(digest, &target.registry, repo);
            Ok(sent)
        })
        .collect::<Result<_, RegistryError>>()?;
    let mut stats = PushStats::default();
    for s in sent {
        match s {
            Sent::Present => stats.present += 1,
            Sent::Mounted => stats.mounted += 1,
            Sent::Uploaded(size) => {
                stats.uploaded += 1;
                stats.uploaded_bytes += size;
            }
        }
    }
    let read = |digest: &Digest| {
        std::fs::read(store.blob_path(digest))
            .map_err(|e| RegistryError::new(&target.to_string(), format!("cannot read {digest} from the store: {e}")))
    };
    if tagged.is_index() {
        for image in &tagged.images {
            client.put_manifest(
                repo,
                image.manifest.digest.as_str(),
                &image.media_type,
                &read(&image.manifest.digest)?,
            )?;
        }
        for extra in &tagged.extras {
            let desc = &extra.manifest;
            client.put_manifest(repo, desc.digest.as_str(), &desc.media_type, &read(&desc.digest)?)?;
        }
    }
    let root = read(&tagged.root.digest)?;
    if tags.is_empty() {
        client.put_manifest(repo, tagged.root.digest.as_str(), &tagged.media_type, &root)?;
    }
    for tag in tags {
        client.put_manifest(repo, tag, &tagged.media_type, &root)?;
    }
    Ok(stats)
}

/// Sends one blob: nothing if the repository has it, else mounted from
/// `origin` or a repository of the same registry the store saw it in, else
/// uploaded from the store.
fn send_blob(
    client: &Client,
    target: &Reference,
    (digest, size, origin): (&Digest, u64, Option<&str>),
    store: &Store,
    outside: Option<&dyn Outside>,
) -> Result<Sent, RegistryError> {
    let repo = target.repository.as_str();
    if client.blob_exists(repo, digest)? {
        return Ok(Sent::Present);
    }
    let seen = store.origins(digest);
    let seen = seen.iter().filter(|o| o.registry == target.registry).map(|o| o.repository.as_str());
    let mut tried: Vec<&str> = Vec::new();
    for from in origin.into_iter().chain(seen).filter(|&from| from != repo) {
        if tried.contains(&from) {
            continue;
        }
        tried.push(from);
        // A repository that refuses (no pull right there) is one less hint.
        if matches!(client.mount_blob(repo, from, digest), Ok(true)) {
            return Ok(Sent::Mounted);
        }
    }
    let path = store.blob_path(digest);
    if !path.is_file()
        && let Some((outside, file)) = outside.and_then(|o| Some((o, o.path(digest)?)))
    {
        upload_checked(client, repo, (digest, size), &file, outside)?;
        return Ok(Sent::Uploaded(size));
    }
    if !path.is_file() && !tried.iter().any(|from| fetch_into_store(client, from, digest, size, store).is_ok()) {
        let message = format!(
            "blob {digest} is neither in the store nor in a repository of this registry to mount or download from"
        );
        return Err(RegistryError::new(&target.to_string(), message));
    }
    client.upload_blob(repo, digest, &path, size)?;
    Ok(Sent::Uploaded(size))
}

/// Uploads blob `digest` from `file` while `outside` checks it on another
/// thread: the upload is committed only once the check accepts the bytes.
/// The registry also checks that what it received has the digest, so a
/// file changed between the two reads is refused there.
fn upload_checked(
    client: &Client,
    repo: &str,
    (digest, size): (&Digest, u64),
    file: &Path,
    outside: &dyn Outside,
) -> Result<(), RegistryError> {
    std::thread::scope(|scope| {
        let mut check = Some(scope.spawn(|| outside.check(digest, size, file)));
        let mut gate = || match check.take().map(|c| c.join()) {
            Some(Ok(verdict)) => verdict,
            // A panic of the check is the program's bug: carried on.
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => Ok(()),
        };
        client.upload_blob_gated(repo, digest, file, size, Some(&mut gate))
    })
}

/// Downloads `digest` from repository `from` into the store, checked
/// against its digest and size (a blob the registry refused to mount
/// elsewhere: the push then uploads it). A failure only means this
/// repository cannot give it.
fn fetch_into_store(client: &Client, from: &str, digest: &Digest, size: u64, store: &Store) -> Result<(), Unusable> {
    let body = client.get_blob(from, digest, size).map_err(|_| Unusable)?;
    let mut writer = store.blob_writer()?;
    std::io::copy(&mut std::io::Read::take(body, size.saturating_add(1)), &mut writer).map_err(|_| Unusable)?;
    writer.complete_if(|got, got_size| if got == digest && got_size == size { Ok(()) } else { Err(Unusable) })?;
    Ok(())
}

/// A repository that could not give a blob (unreachable, refused, other
/// bytes, or the store could not keep it).
struct Unusable;

impl From<crate::store::StoreError> for Unusable {
    fn from(_: crate::store::StoreError) -> Unusable {
        Unusable
    }
}
