//! What `compose-img plan` reports: every unit with its layers, each with
//! its cache key and whether a build would reuse it from the store or
//! find it in the shared cache.

use crate::digest::Digest;
use crate::layer::BuildSettings;
use crate::layer::cache::layer_key;
use crate::lock::Pin;
use crate::plan::Planned;
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
    /// key (here without them) is only known once they are built.
    pub reads_lower: bool,
    pub key: Digest,
    /// A build would reuse it.
    pub cached: bool,
    /// Whether the shared cache has it: none when no cache was asked for,
    /// or it could not be looked up.
    pub remote: Option<bool>,
}

impl PlannedImage {
    pub(super) fn new(
        unit: &PlannedUnit,
        parent: Option<usize>,
        pin: Option<&Pin>,
        store: &Store,
        settings: &BuildSettings,
    ) -> Result<PlannedImage, ComposeError> {
        let recipe = &unit.plan.recipe;
        let layers = unit.plan.layers.iter().zip(&unit.stat_keys);
        Ok(PlannedImage {
            recipe: recipe.file.name.clone(),
            image: recipe.image.name.clone(),
            platform: unit.plan.platform.to_string(),
            parent,
            parent_image: match &recipe.from {
                Base::Image { name, .. } => Some(name.clone()),
                _ => None,
            },
            parent_digest: pin.map(|pin| pin.manifest.clone()),
            layers: layers
                .map(|(layer, stat_key)| {
                    PlannedLayer::new(layer, stat_key.as_ref(), store, settings)
                        .map_err(|e| ComposeError::Plan { recipe: recipe.file.name.clone(), errors: vec![e] })
                })
                .collect::<Result<_, _>>()?,
        })
    }
}

impl PlannedLayer {
    fn new(
        layer: &Planned,
        stat_key: Option<&Digest>,
        store: &Store,
        settings: &BuildSettings,
    ) -> Result<PlannedLayer, crate::recipe::LocatedError> {
        let layer = layer.arranged()?;
        let key = layer_key(&layer.tree, &layer.salt, settings);
        let cached = cached(store, &key) || stat_key.is_some_and(|key| cached(store, key));
        Ok(PlannedLayer {
            name: layer.name.clone(),
            entries: layer.tree.len(),
            reads_lower: layer.reads_lower(),
            key,
            cached: cached && !layer.reads_lower(),
            remote: None,
        })
    }
}

/// Whether the store has a layer cached under `key`, with its blob.
fn cached(store: &Store, key: &Digest) -> bool {
    store
        .cached_layer(key)
        .is_some_and(|entry| Digest::parse(&entry.digest).is_ok_and(|d| store.blob_stamp(&d).is_some()))
}
