//! Where blobs were seen: `seen-v1/<hex>` lists the registry repositories
//! known to hold blob `<hex>` (one `REGISTRY/REPOSITORY` a line, the most
//! recent last, at most [`MAX_ORIGINS`]). A push mounts a blob from one of
//! them on the same registry instead of uploading it, and a layer found in
//! the shared cache is recorded here without its bytes being fetched.
//! A record is a hint, never trusted: a registry that no longer has the
//! blob answers a mount with an upload session, and the blob is uploaded.

use super::{SEEN, Store, StoreError};
use crate::digest::Digest;

/// Repositories remembered per blob.
const MAX_ORIGINS: usize = 8;

/// One place a blob was seen.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Origin {
    pub registry: String,
    pub repository: String,
}

impl Store {
    /// The repositories blob `digest` was seen in, most recent first.
    pub(crate) fn origins(&self, digest: &Digest) -> Vec<Origin> {
        let path = self.root.join(SEEN).join(digest.hex());
        let Ok(bytes) = crate::files::read_bounded(&path, 64 << 10) else { return Vec::new() };
        let text = String::from_utf8_lossy(&bytes);
        let parse = |line: &str| {
            let (registry, repository) = line.split_once('/')?;
            (!registry.is_empty() && !repository.is_empty())
                .then(|| Origin { registry: registry.to_owned(), repository: repository.to_owned() })
        };
        let mut origins: Vec<Origin> = text.lines().filter_map(parse).collect();
        origins.reverse();
        origins
    }

    /// Records that `registry`'s `repository` holds blob `digest`.
    pub(crate) fn record_origin(&self, digest: &Digest, registry: &str, repository: &str) -> Result<(), StoreError> {
        let seen = Origin { registry: registry.to_owned(), repository: repository.to_owned() };
        let mut origins = self.origins(digest);
        if origins.first() == Some(&seen) {
            return Ok(());
        }
        origins.retain(|o| *o != seen);
        origins.insert(0, seen);
        origins.truncate(MAX_ORIGINS);
        let text: String = origins.iter().rev().map(|o| format!("{}/{}\n", o.registry, o.repository)).collect();
        self.replace_file(&self.root.join(SEEN).join(digest.hex()), text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_ORIGINS, Origin, Store};
    use crate::digest::Digest;

    #[test]
    fn origins_are_kept_most_recent_first_without_repeats_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let digest = Digest::of(b"blob");
        assert!(store.origins(&digest).is_empty());
        for repo in ["a", "b", "a/c"] {
            store.record_origin(&digest, "r:5000", repo).unwrap();
        }
        store.record_origin(&digest, "r:5000", "a").unwrap();
        let names: Vec<String> = store.origins(&digest).into_iter().map(|o| o.repository).collect();
        assert_eq!(names, ["a", "a/c", "b"]);
        for n in 0..20 {
            store.record_origin(&digest, "other", &format!("r{n}")).unwrap();
        }
        let origins = store.origins(&digest);
        assert_eq!(origins.len(), MAX_ORIGINS);
        assert_eq!(origins[0], Origin { registry: "other".into(), repository: "r19".into() });
    }
}
