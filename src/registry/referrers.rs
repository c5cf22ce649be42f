//! Referrers at a registry (distribution-spec 1.1): listed through the
//! referrers API when the registry answers it, else through the referrers
//! tag `sha256-<hex>`; attached by pushing the artifact manifest and, on a
//! registry without the API, adding it to that tag's index by
//! read-modify-write (every entry already there is kept).

use std::collections::BTreeMap;

use super::{Client, PushStats, Reference, RegistryError, push};
use crate::digest::Digest;
use crate::oci::media;
use crate::oci::referrers::{self, Artifact, Referrer};
use crate::store::Store;

/// The referrers of the manifest `subject` in `target`'s repository (none
/// when there are none), at most [`referrers::MAX_REFERRERS`].
pub(crate) fn list(client: &Client, target: &Reference, subject: &Digest) -> Result<Vec<Referrer>, RegistryError> {
    let repo = &target.repository;
    if let Some(bytes) = client.get_referrers(repo, subject)? {
        let name = format!("{}/{repo}@{subject} (referrers API)", target.registry);
        return referrers::parse_index(&bytes).map_err(|e| RegistryError::new(&name, e.to_string()));
    }
    fallback(client, target, subject)
}

/// The referrers the tag `sha256-<hex>` lists (none without the tag).
fn fallback(client: &Client, target: &Reference, subject: &Digest) -> Result<Vec<Referrer>, RegistryError> {
    let tag = referrers::fallback_tag(subject);
    match client.get_manifest(&target.repository, &tag) {
        Ok((bytes, _)) => referrers::parse_index(&bytes).map_err(|e| {
            RegistryError::new(&format!("{}/{}:{tag}", target.registry, target.repository), e.to_string())
        }),
        Err(e) if e.not_found => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Pushes each artifact to `target`'s repository; where the registry has
/// no referrers API, adds them to the referrers tag of their subject.
pub(crate) fn attach(
    client: &Client,
    target: &Reference,
    artifacts: &[&Artifact],
    store: &Store,
) -> Result<PushStats, RegistryError> {
    let mut stats = PushStats::default();
    let mut by_subject: BTreeMap<&Digest, Vec<&Referrer>> = BTreeMap::new();
    for artifact in artifacts {
        stats += push(client, target, &artifact.manifest, &[], store)?;
        by_subject.entry(&artifact.subject.digest).or_default().push(&artifact.referrer);
    }
    for (subject, added) in by_subject {
        if client.get_referrers(&target.repository, subject)?.is_some() {
            continue;
        }
        let existing = fallback(client, target, subject)?;
        if let Some(merged) = referrers::merge(&existing, &added) {
            let tag = referrers::fallback_tag(subject);
            let name = format!("{}/{}:{tag}", target.registry, target.repository);
            if merged.len() > referrers::MAX_REFERRERS {
                return Err(RegistryError::new(
                    &name,
                    format!("already lists {} referrers, the most compose-img reads; not adding more", existing.len()),
                ));
            }
            let bytes = referrers::index(&merged).map_err(|e| RegistryError::new(&name, e.to_string()))?;
            client.put_manifest(&target.repository, &tag, media::INDEX, &bytes)?;
        }
    }
    Ok(stats)
}
