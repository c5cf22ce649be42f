//! Planning every unit before anything is built: walk its layers' sources,
//! key the layers without plugins from the walk and, when building with
//! reuse, leave those the store has as [`Planned::Cached`] without building
//! their trees; refuse bad recipes before the store is touched. Then open
//! the store, key the layers whose plugins ran and digest the inputs of
//! every layer that needs it for the [`Purpose`].

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use rayon::ThreadPool;
use rayon::prelude::*;

use crate::digest::Digest;
use crate::layer::BuildSettings;
use crate::layer::cache::{layer_key, stat_key, walk_key};
use crate::oci::platform::Platform;
use crate::plan::graph::RecipeGraph;
use crate::plan::{self, ImagePlan, Planned, Walk};
use crate::recipe::{LocatedError, Recipe};
use crate::store::Store;

use super::ComposeError;
use super::units::Units;

/// What [`prepare`] prepares for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    /// `compose-img plan`, which shows every cache key: a layer the store
    /// has under its walk key is shown from its entry (as a build reuses
    /// it without building its tree), every other layer's inputs hashed.
    Plan,
    /// A build: mostly unknown inputs are left to the layer writer (unless
    /// `keyed`: a shared cache is looked up by every layer's key before any
    /// is built), and with `reuse` a layer found under its stat key needs
    /// no input hashed.
    Build { reuse: bool, keyed: bool },
}

impl Purpose {
    fn reuse(self) -> bool {
        matches!(self, Purpose::Build { reuse: true, .. })
    }

    /// Whether unknown inputs may be left for the layer writer to hash.
    fn defer(self) -> bool {
        matches!(self, Purpose::Build { keyed: false, .. })
    }
}

/// Every unit planned, and the store opened.
pub(super) struct Prepared {
    /// By unit.
    pub units: Vec<PlannedUnit>,
    pub store: Store,
}

/// One unit's plan and the key its layers may be cached under before
/// their contents are digested.
pub(super) struct PlannedUnit {
    pub plan: ImagePlan,
    /// By layer of the plan: the key from its walk or, for a layer whose
    /// plugins ran, from its tree; none when it cannot be keyed that way.
    pub stat_keys: Vec<Option<Digest>>,
}

/// How a layer can be keyed before it is planned.
enum EarlyKey {
    /// From the walk of its sources (none if the walk cannot key it).
    Walked(Option<Digest>),
    /// From its tree, once its plugins ran.
    FromTree,
    /// Its walk failed: planning reports why.
    None,
}

pub(super) fn prepare(
    graph: &RecipeGraph,
    units: &Units,
    root: &Path,
    pool: &ThreadPool,
    settings: &BuildSettings,
    purpose: Purpose,
) -> Result<Prepared, ComposeError> {
    let walked_since = crate::store::gc::now();
    let mut planned = Vec::with_capacity(units.units.len());
    for unit in &units.units {
        let recipe = graph.recipe_for(unit.recipe, &unit.platform);
        let plan = pool.install(|| plan_unit(recipe, &unit.platform, root, settings, purpose, walked_since));
        planned.push(plan.map_err(|errors| ComposeError::Plan { recipe: recipe.file.name.clone(), errors })?);
    }
    let store = Store::open(root)?;
    for unit in &mut planned {
        pool.install(|| digest_inputs(unit, &store, purpose))
            .map_err(|errors| ComposeError::Plan { recipe: unit.plan.recipe.file.name.clone(), errors })?;
    }
    Ok(Prepared { units: planned, store })
}

/// Walks and plans one unit, leaving a layer the cache in `root` has
/// under its walk key unplanned when reusing.
fn plan_unit(
    recipe: &Arc<Recipe>,
    platform: &Platform,
    root: &Path,
    settings: &BuildSettings,
    purpose: Purpose,
    walked_since: SystemTime,
) -> Result<PlannedUnit, Vec<LocatedError>> {
    let walks = plan::walk_sources(recipe, platform);
    let early: Vec<EarlyKey> = walks
        .par_iter()
        .map(|walk| match walk {
            Walk::Walked(layer) => EarlyKey::Walked(walk_key(layer, settings, walked_since)),
            Walk::WithPlugins => EarlyKey::FromTree,
            Walk::Failed(_) => EarlyKey::None,
        })
        .collect();
    let cached: Vec<bool> = early
        .iter()
        .map(|key| match key {
            // `plan` shows such a layer from its entry: the entry must say
            // how many entries the layer has.
            EarlyKey::Walked(Some(key)) if purpose == Purpose::Plan => {
                Store::cached_layer_at(root, key).is_some_and(|entry| entry.entries.is_some())
            }
            EarlyKey::Walked(Some(key)) => purpose.reuse() && Store::has_cached_layer(root, key),
            _ => false,
        })
        .collect();
    let plan = plan::plan(Arc::clone(recipe), platform, settings.source_date_epoch, walks, &cached)?;
    let stat_keys = plan
        .layers
        .par_iter()
        .zip(early)
        .map(|(layer, key)| match (key, layer) {
            (EarlyKey::Walked(key), _) => key,
            (EarlyKey::FromTree, Planned::Tree(layer)) if !layer.reads_lower() => {
                stat_key(&layer.tree, &layer.salt, settings, walked_since)
            }
            (EarlyKey::FromTree | EarlyKey::None, _) => None,
        })
        .collect();
    Ok(PlannedUnit { plan, stat_keys })
}

/// Digests the inputs of every layer of `unit` that is not already found
/// in the store by its stat key.
fn digest_inputs(unit: &mut PlannedUnit, store: &Store, purpose: Purpose) -> Result<(), Vec<LocatedError>> {
    let found: Vec<bool> = unit
        .plan
        .layers
        .iter()
        .zip(&unit.stat_keys)
        .map(|(layer, key)| match layer {
            Planned::Cached(_) => true,
            Planned::Tree(_) => purpose.reuse() && key.as_ref().is_some_and(|key| store.cached_layer(key).is_some()),
        })
        .collect();
    plan::digest_inputs(&mut unit.plan, store, purpose.defer(), &found)
}

/// By unit and layer: the layer's content key when it is known before
/// building: from the store's entry for a layer it has under its stat key,
/// else from the layer's tree when every input's content is known; none for
/// a layer whose plugins read the layers below (its key needs them).
pub(super) fn content_keys(
    planned: &[PlannedUnit],
    store: &Store,
    settings: &BuildSettings,
) -> Vec<Vec<Option<Digest>>> {
    planned
        .iter()
        .map(|unit| {
            let layers = unit.plan.layers.par_iter().zip(&unit.stat_keys);
            layers
                .map(|(layer, stat)| {
                    let local = stat.as_ref().and_then(|stat| store.cached_layer(stat));
                    if let Some(key) = local.and_then(|entry| Digest::parse(&entry.key).ok()) {
                        return Some(key);
                    }
                    match layer {
                        Planned::Tree(tree) if !tree.reads_lower() && super::nodes::inputs_known(&tree.tree) => {
                            Some(layer_key(&tree.tree, &tree.salt, settings))
                        }
                        _ => None,
                    }
                })
                .collect()
        })
        .collect()
}
