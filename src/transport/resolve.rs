//! What a reference names now, without fetching the image: the digest of
//! the document it names (an index or a manifest) and, for each platform
//! asked, the digest of the manifest a build on it would use, chosen as
//! [`fetch`](super::fetch) chooses. Only the root document is read (an
//! archive is ingested into the store to find it); what it names is
//! checked when it is fetched.

use std::collections::BTreeMap;

use super::import::{choose, read_root};
use super::{TransportError, Want, with_source};
use crate::digest::Digest;
use crate::oci::manifest::Parsed;
use crate::oci::platform::Platform;
use crate::oci::reference::ImageRef;
use crate::registry::ClientOptions;
use crate::store::Store;

/// The digests a reference resolves to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// The document the reference names: an index, or a plain manifest.
    pub digest: Digest,
    /// By platform asked: the manifest for it (for a plain manifest, the
    /// manifest itself; its platform is checked when it is fetched).
    pub platforms: BTreeMap<Platform, Digest>,
}

/// Resolves `reference` for `platforms`.
pub(crate) fn resolve(
    reference: &ImageRef,
    platforms: &[Platform],
    store: &Store,
    options: &ClientOptions,
) -> Result<Resolved, TransportError> {
    with_source(reference, store, options, |source| {
        let (bytes, _, parsed) = read_root(source)?;
        let digest = Digest::of(&bytes);
        let mut resolved = BTreeMap::new();
        for platform in platforms {
            let manifest = match &parsed {
                Parsed::Manifest { .. } => digest.clone(),
                Parsed::Index(entries) => {
                    let chosen = choose(entries.clone(), &Want::Platform(platform.clone()), &source.name())?;
                    chosen.into_iter().next().map(|entry| entry.desc.digest).ok_or_else(|| {
                        TransportError::image(&source.name(), format!("the index has no image for {platform}"))
                    })?
                }
            };
            resolved.insert(platform.clone(), manifest);
        }
        Ok(Resolved { digest, platforms: resolved })
    })
}
