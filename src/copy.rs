//! One `compose-img copy`: every platform of an image, with the signatures
//! stored beside it (`sha256-<hex>.sig`, byte for byte), from any transport
//! to any other. A docker archive holds no signatures: they are dropped.

use thiserror::Error;

use crate::oci::reference::ImageRef;
use crate::oci::tagged::Tagged;
use crate::registry::ClientOptions;
use crate::sign::{self, SignError};
use crate::store::{Store, StoreError};
use crate::transport::{self, TransportError, Written};

#[derive(Debug, Error)]
pub(crate) enum CopyError {
    /// Reading the source or writing the destination.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// Reading the signatures beside the source.
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error("cannot use the store")]
    Store(#[from] StoreError),
}

pub(crate) struct Copied {
    pub tagged: Tagged,
    pub written: Written,
    /// Signature manifests carried along.
    pub signatures: usize,
}

/// Copies `source` to `destination`, keeping its manifests' bytes (and
/// digests). The tag written is the destination's, else the source's,
/// else `latest`.
pub(crate) fn copy(
    source: &ImageRef,
    destination: &ImageRef,
    store: &Store,
    options: &ClientOptions,
) -> Result<Copied, CopyError> {
    let tagged = transport::fetch(source, &transport::Want::All, store, options)?;
    let mut attachments = Vec::new();
    if !matches!(destination, ImageRef::DockerArchive { .. }) {
        for digest in sign::signed_digests(&tagged) {
            if let Some(signatures) = sign::fetch_attachment(source, digest, store, options)? {
                attachments.push((signatures, sign::artifact::tag(digest)));
            }
        }
    }
    let tag = destination.tag().or(source.tag()).unwrap_or("latest").to_owned();
    let repo = match source {
        ImageRef::Docker(reference) => reference.repo_name(),
        _ => format!("localhost/{}", transport::tag_less_name(destination)),
    };
    let written = transport::write(destination, &tagged, &[tag], &attachments, &repo, store, options)?;
    let mut blobs = tagged.blobs();
    blobs.extend(attachments.iter().flat_map(|(a, _)| a.blobs()));
    store.record_output(&destination.to_string(), &blobs)?;
    Ok(Copied { tagged, written, signatures: attachments.len() })
}
