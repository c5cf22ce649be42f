//! Plan stage: a validated recipe → what each of its layers will hold.
//!
//! - [`tree`]: one layer's sorted entries and the collision rules;
//! - [`copy`]: walking `copy` sources on the host (metadata only);
//! - [`links`]: grouping hard links so each names an earlier entry;
//! - [`inputs`]: content digests of host files, through the input index;
//! - [`graph`]: recipes and their `from.recipe` parents, cycles refused.
//!
//! Every conflict a layer can have is found by [`plan`], before anything is
//! written, so a bad recipe leaves no trace in the store or the output;
//! [`digest_inputs`] then keys the inputs through the store.

pub mod copy;
pub mod graph;
pub mod inputs;
pub mod links;
pub mod tree;

use std::sync::Arc;

use rayon::prelude::*;

use crate::recipe::{Entry, EntryKind, Layer, LocatedError, Platform, Recipe};
use crate::store::Store;
use tree::{FileSource, Node, NodeKind, Origin, Tree};

/// One image to build: its recipe, platform and resolved layers.
#[derive(Debug)]
pub struct ImagePlan {
    pub recipe: Arc<Recipe>,
    pub platform: Platform,
    pub layers: Vec<LayerPlan>,
}

#[derive(Debug)]
pub struct LayerPlan {
    pub name: String,
    pub tree: Tree,
}

/// Resolves every layer of `recipe` for `platform` (in parallel on the
/// current rayon pool). All layer errors are returned, in recipe order.
pub fn plan(recipe: Arc<Recipe>, platform: &Platform) -> Result<ImagePlan, Vec<LocatedError>> {
    let platform = platform.clone();
    let results: Vec<Result<LayerPlan, LocatedError>> =
        recipe.layers.par_iter().map(|layer| plan_layer(&recipe, layer, &platform)).collect();
    let mut layers = Vec::new();
    let mut errors = Vec::new();
    for result in results {
        match result {
            Ok(layer) => layers.push(layer),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() { Ok(ImagePlan { recipe, platform, layers }) } else { Err(errors) }
}

fn plan_layer(recipe: &Recipe, layer: &Layer, platform: &Platform) -> Result<LayerPlan, LocatedError> {
    let mut tree = Tree::default();
    for entry in &layer.entries {
        add_entry(&mut tree, entry, recipe, platform)?;
    }
    links::resolve(&mut tree)?;
    tree.check_whiteouts()?;
    Ok(LayerPlan { name: layer.name.clone(), tree })
}

/// Fills in the content digest of every host input of `plan` (through the
/// store's input index), the last step before layers can be keyed.
pub fn digest_inputs(plan: &mut ImagePlan, store: &Store) -> Result<(), Vec<LocatedError>> {
    let (recipe, platform) = (&plan.recipe, &plan.platform);
    let errors: Vec<LocatedError> = plan
        .layers
        .par_iter_mut()
        .filter_map(|layer| inputs::digest_inputs(&mut layer.tree, recipe, &layer.name, platform, store).err())
        .collect();
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

fn add_entry(tree: &mut Tree, entry: &Entry, recipe: &Recipe, platform: &Platform) -> Result<(), LocatedError> {
    let loc = entry.loc.clone();
    let node = |kind, mode, owner| Node { kind, mode, owner, loc: loc.clone(), origin: Origin::Explicit };
    match &entry.kind {
        EntryKind::Copy(copy) => copy::add_copy(tree, copy, &entry.loc, &recipe.dir, platform),
        EntryKind::File { path, content, mode, owner } => {
            tree.insert(path.clone(), node(NodeKind::File(FileSource::Inline(Arc::clone(content))), *mode, *owner))
        }
        EntryKind::Dir { path, mode, owner } => tree.insert(path.clone(), node(NodeKind::Dir, *mode, *owner)),
        EntryKind::Symlink { path, target, owner } => {
            tree.insert(path.clone(), node(NodeKind::Symlink(target.clone()), 0o777, *owner))
        }
        EntryKind::Hardlink { path, target } => {
            tree.insert(path.clone(), node(NodeKind::Hardlink(target.clone()), 0o644, Default::default()))
        }
        EntryKind::Remove { path, opaque: false } => tree.insert_whiteout(path, loc),
        EntryKind::Remove { path, opaque: true } => tree.insert_opaque(path, loc),
    }
}
