//! Building one layer in a single streaming pass:
//! tar writer → diff_id hasher → compressor → blob writer (digest hasher).

use super::compress::Encoder;
use super::tar_writer::write_tree;
use super::{BuildError, BuildErrorKind, BuildSettings};
use crate::digest::{Digest, HashingWriter};
use crate::plan::LayerPlan;
use crate::store::Store;

/// A layer blob in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltLayer {
    pub name: String,
    /// Digest of the compressed blob.
    pub digest: Digest,
    /// Size of the compressed blob.
    pub size: u64,
    /// Digest of the uncompressed tar.
    pub diff_id: Digest,
    pub media_type: &'static str,
}

pub fn build_layer(layer: &LayerPlan, settings: &BuildSettings, store: &Store) -> Result<BuiltLayer, BuildError> {
    let fail = |kind| BuildError { layer: layer.name.clone(), kind };
    let blob = store.blob_writer().map_err(|e| fail(e.into()))?;
    let encoder =
        Encoder::new(blob, settings.compression, settings.jobs).map_err(|e| fail(BuildErrorKind::Compress(e)))?;
    let mut tar = HashingWriter::new(encoder);
    write_tree(&layer.tree, settings.source_date_epoch, &mut tar).map_err(|e| fail(e.into()))?;
    let (encoder, diff_id, _) = tar.finish();
    let blob = encoder.finish().map_err(|e| fail(BuildErrorKind::Compress(e)))?;
    let written = blob.complete().map_err(|e| fail(e.into()))?;
    Ok(BuiltLayer {
        name: layer.name.clone(),
        digest: written.digest,
        size: written.size,
        diff_id,
        media_type: settings.compression.media_type(),
    })
}
