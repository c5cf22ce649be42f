//! Building one layer in a single streaming pass:
//! tar writer → diff_id hasher → compressor → blob writer (digest hasher).

use super::cache::layer_key_with;
use super::encoder::Encoder;
use super::progress::LayerProgress;
use super::tar_writer::write_tree;
use super::{BuildError, BuildErrorKind, BuildSettings};
use crate::digest::{ContentHash, Digest, HashingWriter};
use crate::oci::image::BuiltLayer;
use crate::oci::media;
use crate::plan::LayerPlan;
use crate::plan::tree::NodeKind;
use crate::recipe::ImagePath;
use crate::store::layer_cache::{BlobCheck, CachedLayer};
use crate::store::{Store, StoreError};

/// A layer built or reused, with its cache key.
#[derive(Debug)]
pub(crate) struct LayerBuild {
    pub layer: BuiltLayer,
    pub key: Digest,
    /// Host files whose content the plan did not know, hashed while written.
    pub hashed: Vec<(ImagePath, ContentHash)>,
}

/// What a layer's cache entry is (or will be) filed under.
#[derive(Debug, Default)]
pub(crate) struct LayerKeys {
    /// The cache key, when the plan knows every input's content; without it
    /// (a cold build, where hashing inputs first would read them twice)
    /// the layer is written while its unknown inputs are hashed, and keyed
    /// afterwards.
    pub content: Option<Digest>,
    /// The stat key ([`super::cache::stat_key`]), when its inputs are not
    /// too recent to trust.
    pub stat: Option<Digest>,
}

/// Builds `layer`, or reuses the cached blob of an identical one when
/// `reuse` is set and that blob is intact. Its entry is filed under both
/// of `keys`.
pub(crate) fn build_layer(
    layer: &LayerPlan,
    keys: &LayerKeys,
    settings: &BuildSettings,
    store: &Store,
    reuse: bool,
    progress: &dyn LayerProgress,
) -> Result<LayerBuild, BuildError> {
    let fail = |kind| BuildError { layer: layer.name.clone(), kind };
    if reuse && let Some(reused) = reuse_cached(&layer.name, keys, store)? {
        return Ok(reused);
    }
    let blob = store.blob_writer().map_err(|e| fail(e.into()))?;
    let encoder = Encoder::new(blob, settings.compression, settings.jobs);
    let mut tar = HashingWriter::new(encoder);
    let bytes = layer.tree.iter().map(|(_, n)| if let NodeKind::File(s) = &n.kind { s.size() } else { 0 }).sum();
    progress.started(layer.tree.len() as u64, bytes);
    let hashed = write_tree(&layer.tree, settings.source_date_epoch, &mut tar, &|bytes| progress.advanced(bytes))
        .map_err(|e| fail(e.into()))?;
    let key = match &keys.content {
        Some(key) => key.clone(),
        None => layer_key_with(&layer.tree, &layer.salt, settings, &hashed),
    };
    let (encoder, diff_id, _) = tar.finish();
    let blob = encoder.finish().map_err(|e| fail(BuildErrorKind::Compress(e)))?;
    let written = blob.complete().map_err(|e| fail(e.into()))?;
    let media_type = settings.compression.media_type();
    if let Some(stamp) = store.blob_stamp(&written.digest) {
        let entry = CachedLayer {
            key: key.to_string(),
            digest: written.digest.to_string(),
            size: written.size,
            diff_id: diff_id.to_string(),
            media_type: media_type.to_owned(),
            stamp,
            entries: Some(layer.tree.len() as u64),
        };
        for filed_under in std::iter::once(&key).chain(&keys.stat) {
            store.put_cached_layer(filed_under, &entry).map_err(|e| fail(e.into()))?;
        }
    }
    let layer = BuiltLayer {
        reused: false,
        name: layer.name.clone(),
        digest: written.digest,
        size: written.size,
        diff_id,
        media_type,
    };
    Ok(LayerBuild { layer, key, hashed })
}

/// The cached layer `name` under the stat key, else the cache key, if its
/// entry is readable and its blob intact. Its entry is rewritten under the
/// stat key and the cache key (also when only found by stat): the entry's
/// age is what `store gc` goes by, and the next build finds it either way.
pub(crate) fn reuse_cached(name: &str, keys: &LayerKeys, store: &Store) -> Result<Option<LayerBuild>, BuildError> {
    let fail = |e: StoreError| BuildError { layer: name.to_owned(), kind: e.into() };
    for key in keys.stat.iter().chain(&keys.content) {
        let Some(mut entry) = store.cached_layer(key) else { continue };
        let (Ok(digest), Ok(diff_id), Ok(content_key)) =
            (Digest::parse(&entry.digest), Digest::parse(&entry.diff_id), Digest::parse(&entry.key))
        else {
            continue;
        };
        let media_type = match entry.media_type.as_str() {
            media::LAYER_ZSTD => media::LAYER_ZSTD,
            media::LAYER_GZIP => media::LAYER_GZIP,
            media::LAYER_TAR => media::LAYER_TAR,
            _ => continue,
        };
        let BlobCheck::Valid(stamp) = store.check_blob(&digest, &entry.stamp).map_err(fail)? else { continue };
        entry.stamp = stamp;
        for filed_under in keys.stat.iter().chain([&content_key]) {
            store.put_cached_layer(filed_under, &entry).map_err(fail)?;
        }
        let layer = BuiltLayer { reused: true, name: name.to_owned(), digest, size: entry.size, diff_id, media_type };
        return Ok(Some(LayerBuild { layer, key: content_key, hashed: Vec::new() }));
    }
    Ok(None)
}
