//! What `compose-img plan` reports: every unit with its layers, each with
//! its cache key and whether a build would reuse it from the store or
//! find it in the shared cache.

use std::sync::Arc;

use crate::digest::Digest;
use crate::layer::BuildSettings;
use crate::layer::cache::layer_key;
use crate::lock::Pin;
use crate::oci::image::BuiltLayer;
use crate::oci::media;
use crate::plan::inputs::digest_inputs;
use crate::plan::{ImagePlan, LayerPlan, Planned};
use crate::plugins::lower::{LowerFs, LowerLayer};
use crate::recipe::Base;
use crate::store::Store;

use super::ComposeError;
use super::prepare::PlannedUnit;

/// One recipe and platform of `compose-img plan`.
#[derive(Debug)]
pub(crate) struct PlannedImage {
    pub recipe: String,
    pub image: String,
    pub platform: String,
    /// Index of the parent (the parent recipe for the same platform) in the report.
    pub parent: Option<usize>,
    /// The parent image (`from.image`), fetched when building.
    pub parent_image: Option<String>,
    /// The manifest of it a build uses, from the recipe's lock file.
    pub parent_digest: Option<Digest>,
    pub layers: Vec<PlannedLayer>,
}

#[derive(Debug)]
pub(crate) struct PlannedLayer {
    pub name: String,
    pub entries: usize,
    /// A plugin of it reads the layers below: it waits for them, and its
    /// key is only known once they are (or, for `plan`, are in the store).
    pub reads_lower: bool,
    /// `key` is the key a build would use: false for a layer that reads
    /// the layers below when the store does not have them all.
    pub key_known: bool,
    pub key: Digest,
    /// A build would reuse it.
    pub cached: bool,
    /// Whether the shared cache has it: none when no cache was asked for,
    /// or it could not be looked up.
    pub remote: Option<bool>,
}

impl PlannedImage {
    /// `base` is the parent's layers, when the store has them all (none
    /// for scratch): a layer that reads the layers below is then completed
    /// on them, as a build would, and keyed and looked up as a build would.
    /// Also returns this image's layers when the store has them all.
    pub(super) fn new(
        unit: &PlannedUnit,
        parent: Option<usize>,
        pin: Option<&Pin>,
        base: Option<Vec<BuiltLayer>>,
        store: &Store,
        settings: &BuildSettings,
    ) -> Result<(PlannedImage, Option<Vec<BuiltLayer>>), ComposeError> {
        let recipe = &unit.plan.recipe;
        let error = |e| ComposeError::Plan { recipe: recipe.file.name.clone(), errors: vec![e] };
        let mut stack = base;
        let mut layers = Vec::new();
        for (layer, stat_key) in unit.plan.layers.iter().zip(&unit.stat_keys) {
            let below = Below { layers: stack.as_deref(), plan: &unit.plan, store };
            let (planned, built) = PlannedLayer::new(layer, stat_key.as_ref(), &below, settings).map_err(error)?;
            layers.push(planned);
            stack = match (stack, built) {
                (Some(mut stack), Some(built)) => {
                    stack.push(built);
                    Some(stack)
                }
                _ => None,
            };
        }
        let image = PlannedImage {
            recipe: recipe.file.name.clone(),
            image: recipe.image.name.clone(),
            platform: unit.plan.platform.to_string(),
            parent,
            parent_image: match &recipe.from {
                Base::Image { name, .. } => Some(name.clone()),
                _ => None,
            },
            parent_digest: pin.map(|pin| pin.manifest.clone()),
            layers,
        };
        Ok((image, stack))
    }
}

/// The layers below one layer, when the store has them all.
struct Below<'a> {
    layers: Option<&'a [BuiltLayer]>,
    plan: &'a ImagePlan,
    store: &'a Store,
}

impl PlannedLayer {
    /// The layer as a build would find it, and the cached layer itself.
    fn new(
        layer: &Planned,
        stat_key: Option<&Digest>,
        below: &Below,
        settings: &BuildSettings,
    ) -> Result<(PlannedLayer, Option<BuiltLayer>), crate::recipe::LocatedError> {
        let store = below.store;
        if let Some(shown) = from_entry(layer, stat_key, store) {
            return Ok(shown);
        }
        let mut arranged = layer.arranged()?;
        if let Planned::Cached(_) = layer {
            // Its entry went away since planning: its inputs were not hashed.
            let plan = below.plan;
            let tree = arranged.to_mut();
            digest_inputs(&mut tree.tree, &plan.recipe, &tree.name, &plan.platform, store, false)?;
        }
        let reads_lower = arranged.reads_lower();
        let (key, known) = match (reads_lower, below.layers) {
            (false, _) => (layer_key(&arranged.tree, &arranged.salt, settings), true),
            (true, Some(lower)) => match complete(&arranged, lower, below.plan, store, settings)? {
                Some(completed) => (layer_key(&completed.tree, &completed.salt, settings), true),
                None => (layer_key(&arranged.tree, &arranged.salt, settings), false),
            },
            (true, None) => (layer_key(&arranged.tree, &arranged.salt, settings), false),
        };
        let found = if known { cached(store, &key).or_else(|| stat_key.and_then(|k| cached(store, k))) } else { None };
        let planned = PlannedLayer {
            name: arranged.name.clone(),
            entries: arranged.tree.len(),
            reads_lower,
            key_known: known,
            key,
            cached: found.is_some(),
            remote: None,
        };
        if found.is_some() && !reads_lower {
            note_entries(store, std::iter::once(&planned.key).chain(stat_key), planned.entries);
        }
        Ok((planned, found))
    }
}

/// Adds the entry count to the store's entries under `keys` that lack it
/// (written before entries were counted), so the next `plan` shows the
/// layer from its entry. Failing to write it costs only that.
fn note_entries<'a>(store: &Store, keys: impl Iterator<Item = &'a Digest>, entries: usize) {
    for key in keys {
        if let Some(mut entry) = store.cached_layer(key).filter(|entry| entry.entries.is_none()) {
            entry.entries = Some(entries as u64);
            let _ = store.put_cached_layer(key, &entry);
        }
    }
}

/// A layer found by its walk key ([`Planned::Cached`]), shown from the
/// store's entry as a build reuses it: its content key and entry count
/// from the entry, its tree never built nor its inputs hashed.
fn from_entry(layer: &Planned, stat_key: Option<&Digest>, store: &Store) -> Option<(PlannedLayer, Option<BuiltLayer>)> {
    let Planned::Cached(walked) = layer else { return None };
    let entry = store.cached_layer(stat_key?)?;
    let (entries, key) = (entry.entries?, Digest::parse(&entry.key).ok()?);
    let found = cached(store, stat_key?);
    let planned = PlannedLayer {
        name: walked.layer().name.clone(),
        entries: usize::try_from(entries).ok()?,
        reads_lower: false,
        key_known: true,
        key,
        cached: found.is_some(),
        remote: None,
    };
    Some((planned, found))
}

/// `layer` completed on `lower` as a build completes it (its deferred
/// plugins run on the merged layers below); `None` if a layer below cannot
/// be read.
fn complete(
    layer: &LayerPlan,
    lower: &[BuiltLayer],
    plan: &ImagePlan,
    store: &Store,
    settings: &BuildSettings,
) -> Result<Option<LayerPlan>, crate::recipe::LocatedError> {
    let lower_ids: Vec<String> = lower.iter().map(|l| l.diff_id.to_string()).collect();
    let layers = lower.iter().map(|l| LowerLayer {
        path: store.blob_path(&l.digest),
        media_type: l.media_type,
        diff_id: l.diff_id.clone(),
    });
    let Ok(fs) = LowerFs::open(layers.collect()) else { return Ok(None) };
    let epoch = settings.source_date_epoch;
    crate::plan::complete(layer, &plan.recipe, &plan.platform, epoch, Arc::new(fs), &lower_ids, store).map(Some)
}

/// The layer the store has cached under `key`, with its blob.
fn cached(store: &Store, key: &Digest) -> Option<BuiltLayer> {
    let entry = store.cached_layer(key)?;
    let digest = Digest::parse(&entry.digest).ok()?;
    store.blob_stamp(&digest)?;
    let media_type =
        [media::LAYER_ZSTD, media::LAYER_GZIP, media::LAYER_TAR].into_iter().find(|m| *m == entry.media_type)?;
    let diff_id = Digest::parse(&entry.diff_id).ok()?;
    Some(BuiltLayer { reused: true, name: String::new(), digest, size: entry.size, diff_id, media_type })
}
