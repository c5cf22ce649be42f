//! Plan stage: a validated recipe → what each of its layers will hold.
//!
//! - [`tree`]: one layer's sorted entries and the collision rules;
//! - [`copy`]: walking `copy` sources on the host (metadata only);
//! - [`links`]: grouping hard links so each names an earlier entry.
//!
//! Every conflict a layer can have is found here, before anything is
//! written, so a bad recipe leaves no trace in the store or the output.

pub mod copy;
pub mod links;
pub mod tree;

use std::sync::Arc;

use rayon::prelude::*;

use crate::recipe::{Base, Entry, EntryKind, Layer, LocatedError, Platform, Recipe};
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

/// Resolves every layer of `recipe` (in parallel on the current rayon pool).
/// All layer errors are returned, in recipe order.
pub fn plan(recipe: Arc<Recipe>) -> Result<ImagePlan, Vec<LocatedError>> {
    match &recipe.from {
        Base::Scratch => {}
        Base::Image { loc, .. } => {
            return Err(vec![
                loc.error("parent images (`from.image`) are not supported yet by this version", "parent image"),
            ]);
        }
        Base::Recipe { loc, .. } => {
            return Err(vec![
                loc.error("parent recipes (`from.recipe`) are not supported yet by this version", "parent recipe"),
            ]);
        }
    }
    let platform = recipe.image.platforms[0].clone();
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
