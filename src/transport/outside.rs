//! Pushing straight from the files of the source: `copy oci:DIR docker://…`
//! (or `dir:DIR`) uploads each layer blob from the layout's own file, never
//! copied into the store, while another thread reads the same file and
//! checks its digest, size and diff_id ([`super::diff_id`]); the upload
//! is committed only once that check accepts the bytes (and the registry
//! checks that what it received has the digest). Each push reads the file
//! again: a layout changed after a push is never trusted from memory; only
//! the verdict that the bytes of a digest uncompress to a diff_id is kept
//! in the store, as for any blob.

use std::collections::BTreeMap;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use super::{TransportError, diff_id, import};
use crate::digest::{Digest, HashingWriter};
use crate::oci::manifest::Desc;
use crate::oci::reference::ImageRef;
use crate::oci::tagged::Tagged;
use crate::registry::{Outside, RegistryError};
use crate::store::Store;

/// The layer blobs of an image, read from its OCI layout or `dir:`.
pub(crate) struct SourceFiles<'a> {
    /// How errors name the source.
    name: String,
    reference: &'a ImageRef,
    /// Each layer blob: its place in its image, media type and diff_id.
    layers: BTreeMap<Digest, (usize, &'static str, Digest)>,
    store: &'a Store,
}

impl<'a> SourceFiles<'a> {
    /// The layer blobs of `tagged` at `reference`, if its transport keeps
    /// blobs in files of their own (an OCI layout, `dir:`).
    pub(crate) fn new(reference: &'a ImageRef, tagged: &Tagged, store: &'a Store) -> Option<SourceFiles<'a>> {
        if !matches!(reference, ImageRef::Oci { .. } | ImageRef::Dir { .. }) {
            return None;
        }
        let layers = tagged
            .images
            .iter()
            .flat_map(|image| image.layers.iter().enumerate())
            .map(|(index, layer)| (layer.digest.clone(), (index, layer.media_type, layer.diff_id.clone())))
            .collect();
        Some(SourceFiles { name: reference.to_string(), reference, layers, store })
    }

    fn refused(&self, message: String) -> RegistryError {
        RegistryError::new(&self.name, message)
    }
}

impl Outside for SourceFiles<'_> {
    fn path(&self, digest: &Digest) -> Option<PathBuf> {
        if !self.layers.contains_key(digest) {
            return None;
        }
        match self.reference {
            ImageRef::Oci { dir, .. } => Some(dir.join("blobs").join("sha256").join(digest.hex())),
            ImageRef::Dir { dir } => Some(crate::oci::dir::blob_path(dir, digest)),
            _ => None,
        }
    }

    fn check(&self, digest: &Digest, size: u64, path: &Path) -> Result<(), RegistryError> {
        let Some((index, media_type, diff_id)) = self.layers.get(digest) else {
            return Err(self.refused(format!("blob {digest} is not a layer of the image")));
        };
        let (file, _) = crate::files::open_regular(path)
            .map_err(|e| self.refused(format!("cannot open blob {}: {e}", path.display())))?;
        // One byte past the size is enough to refuse the blob.
        let mut reader = BufReader::with_capacity(1 << 20, file).take(size.saturating_add(1));
        let mut hashed = HashingWriter::new(io::sink());
        // A digest known to uncompress to the diff_id needs no decoding:
        // hashing the file proves it is still those bytes.
        let (copied, found) = if self.store.is_verified(digest, diff_id) {
            (io::copy(&mut reader, &mut hashed), None)
        } else {
            let (copied, found) = diff_id::copy_decoding(&mut reader, &mut hashed, media_type);
            (copied, Some(found))
        };
        copied.map_err(|e| self.refused(format!("cannot read blob {digest}: {e}")))?;
        let (_, actual, len) = hashed.finish();
        let desc = Desc { media_type: (*media_type).to_owned(), digest: digest.clone(), size };
        if let Err(TransportError::Image { message, .. }) = import::check(&actual, len, &desc, &self.name) {
            return Err(self.refused(message));
        }
        if let Some(found) = found {
            if let Err(why) = diff_id::verdict(found, diff_id) {
                return Err(self.refused(format!("layer {index} ({digest}): {why}")));
            }
            // The verdict is a hint for later checks; failing to keep it fails nothing.
            let _ = self.store.mark_verified(digest, diff_id);
        }
        Ok(())
    }
}
