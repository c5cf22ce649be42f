//! Plan stage: a validated recipe → what each of its layers will hold.
//!
//! - [`tree`]: one layer's sorted entries and the collision rules;
//! - [`copy`]: `copy` sources on the host (metadata only), walked by [`walk`];
//! - [`links`]: grouping hard links so each names an earlier entry;
//! - [`pending`]: what a plugin sees of the entries above it in its layer,
//!   and how what it writes replaces them;
//! - [`inputs`]: content digests of host files, through the input index;
//! - [`graph`]: recipes and their `from.recipe` parents, cycles refused.
//!
//! Planning is two steps: [`walk_sources`] reads the metadata of every `copy`
//! source of the layers without plugins (all their I/O), so that the build
//! can key such a layer from the walk and look it up in the cache; [`plan`]
//! then builds the tree of every layer not found there, running plugins.
//! Every conflict a layer can have is found by these two, before anything
//! is written, so a bad recipe leaves no trace in the store or the output;
//! [`digest_inputs`] then keys the inputs through the store.

pub(crate) mod copy;
pub(crate) mod graph;
pub(crate) mod inputs;
pub(crate) mod links;
mod pending;
pub(crate) mod tree;
pub(crate) mod walk;

use std::borrow::Cow;
use std::sync::Arc;

use rayon::prelude::*;

use crate::oci::platform::Platform;
use crate::plugins::{self, ctx::LayerCtx, ctx::Setting, lower::LowerFs};
use crate::recipe::{Base, Entry, EntryKind, Layer, LocatedError, PluginUse, Recipe};
use crate::store::Store;
use copy::Host;
use tree::{FileSource, Node, NodeKind, Origin, Tree};

/// One image to build: its recipe, platform and resolved layers.
#[derive(Debug)]
pub(crate) struct ImagePlan {
    pub recipe: Arc<Recipe>,
    pub platform: Platform,
    pub layers: Vec<Planned>,
    /// Warnings and notes about the recipe's entries, in layer order.
    pub remarks: Vec<LocatedError>,
}

/// One layer of an [`ImagePlan`].
#[derive(Debug)]
pub(crate) enum Planned {
    Tree(LayerPlan),
    /// Found in the layer cache by a key made from its walk: its tree is
    /// only built ([`Planned::arranged`]) if the cached blob is unusable.
    Cached(WalkedLayer),
}

impl Planned {
    pub(crate) fn name(&self) -> &str {
        match self {
            Planned::Tree(layer) => &layer.name,
            Planned::Cached(walked) => &walked.layer().name,
        }
    }

    pub(crate) fn reads_lower(&self) -> bool {
        matches!(self, Planned::Tree(layer) if layer.reads_lower())
    }

    /// The layer's tree, built now if it was found in the cache.
    pub(crate) fn arranged(&self) -> Result<Cow<'_, LayerPlan>, LocatedError> {
        match self {
            Planned::Tree(layer) => Ok(Cow::Borrowed(layer)),
            Planned::Cached(walked) => walked.clone().arrange().map(Cow::Owned),
        }
    }
}

/// What [`walk_sources`] did with one layer.
pub(crate) enum Walk {
    Walked(WalkedLayer),
    /// A layer with plugins: its sources are walked as [`plan`] runs them.
    WithPlugins,
    Failed(LocatedError),
}

/// A layer without plugins with its `copy` sources walked: with its recipe
/// entries, all its tree is made of.
#[derive(Clone)]
pub(crate) struct WalkedLayer {
    recipe: Arc<Recipe>,
    platform: Platform,
    index: usize,
    /// By entry: what the source of a `copy` is.
    walks: Vec<Option<copy::Walked>>,
}

impl std::fmt::Debug for WalkedLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WalkedLayer({} of {})", self.layer().name, self.recipe.file.name)
    }
}

impl WalkedLayer {
    pub(crate) fn layer(&self) -> &Layer {
        &self.recipe.layers[self.index]
    }

    /// What `.composeignore` beside the recipe says, if there is one.
    pub(crate) fn ignore_text(&self) -> Option<&str> {
        self.recipe.ignore.as_ref().map(|rules| rules.text.as_str())
    }

    /// The warnings and notes of its copies.
    fn remarks(&self) -> Vec<LocatedError> {
        let copies = self.entries().filter_map(|(entry, walked)| match (&entry.kind, walked) {
            (EntryKind::Copy(copy), Some(walked)) => Some(copy::remarks(copy, &entry.loc, walked)),
            _ => None,
        });
        copies.flatten().collect()
    }

    /// Each entry, with what was walked for a `copy`.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&Entry, Option<&copy::Walked>)> {
        self.layer().entries.iter().zip(self.walks.iter().map(Option::as_ref))
    }

    /// Builds the layer's tree from the walk.
    fn arrange(self) -> Result<LayerPlan, LocatedError> {
        let below = self.has_lower();
        let layer = &self.recipe.layers[self.index];
        let mut plan = LayerPlan::empty(&layer.name);
        for (entry, walked) in layer.entries.iter().zip(self.walks) {
            match (&entry.kind, walked) {
                (EntryKind::Copy(copy), Some(walked)) => copy::add_walked(&mut plan.tree, copy, &entry.loc, walked)?,
                _ => add_entry(&mut plan.tree, entry, Host::of(&self.recipe), &self.platform)?,
            }
        }
        links::resolve(&mut plan.tree)?;
        plan.tree.check_whiteouts()?;
        if below {
            plan.tree.leave_out_undeclared_dirs();
        }
        Ok(plan)
    }

    /// Whether layers lie below this one in the image (a parent image or
    /// recipe, or earlier layers): then the directories it does not
    /// declare are left out of it ([`tree::Tree::leave_out_undeclared_dirs`]).
    pub(crate) fn has_lower(&self) -> bool {
        has_lower(&self.recipe, self.index)
    }
}

/// Whether layer `index` of `recipe` has layers below it.
fn has_lower(recipe: &Recipe, index: usize) -> bool {
    index > 0 || !matches!(recipe.from, Base::Scratch)
}

#[derive(Clone, Debug)]
pub(crate) struct LayerPlan {
    pub name: String,
    pub tree: Tree,
    /// What the cache key takes besides the tree: each plugin's source
    /// digest and args, and the diff_ids of the layers below once a plugin
    /// has read them.
    pub salt: Vec<String>,
    /// Plugins whose `layer` hook reads the layers below: they run when the
    /// layer is built ([`complete`]), and the layer waits for those below.
    pub deferred: Vec<PluginUse>,
    /// What plugins printed while planning.
    pub log: Vec<String>,
}

impl LayerPlan {
    fn empty(name: &str) -> LayerPlan {
        LayerPlan {
            name: name.to_owned(),
            tree: Tree::default(),
            salt: Vec::new(),
            deferred: Vec::new(),
            log: Vec::new(),
        }
    }

    pub(crate) fn reads_lower(&self) -> bool {
        !self.deferred.is_empty()
    }
}

/// Walks the `copy` sources of every layer of `recipe` without plugins, in
/// parallel on the current rayon pool.
pub(crate) fn walk_sources(recipe: &Arc<Recipe>, platform: &Platform) -> Vec<Walk> {
    recipe
        .layers
        .par_iter()
        .enumerate()
        .map(|(index, layer)| {
            if layer.entries.iter().any(|e| matches!(e.kind, EntryKind::Plugin(_))) {
                return Walk::WithPlugins;
            }
            let walks = layer.entries.iter().map(|entry| match &entry.kind {
                EntryKind::Copy(c) => copy::walk_copy(c, &entry.loc, Host::of(recipe), platform).map(Some),
                _ => Ok(None),
            });
            match walks.collect() {
                Ok(walks) => {
                    Walk::Walked(WalkedLayer { recipe: Arc::clone(recipe), platform: platform.clone(), index, walks })
                }
                Err(error) => Walk::Failed(error),
            }
        })
        .collect()
}

/// Resolves every layer of `recipe` for `platform` (in parallel on the
/// current rayon pool) from what [`walk_sources`] found, except those `cached`,
/// running plugin `layer` hooks that do not read the layers below. All
/// layer errors are returned, in recipe order.
pub(crate) fn plan(
    recipe: Arc<Recipe>,
    platform: &Platform,
    epoch: u64,
    walks: Vec<Walk>,
    cached: &[bool],
) -> Result<ImagePlan, Vec<LocatedError>> {
    let platform = platform.clone();
    let results: Vec<Result<(Planned, Vec<LocatedError>), LocatedError>> = recipe
        .layers
        .par_iter()
        .zip(walks)
        .enumerate()
        .map(|(index, (layer, walk))| match walk {
            Walk::Walked(walked) => {
                let remarks = walked.remarks();
                if cached.get(index).copied().unwrap_or(false) {
                    Ok((Planned::Cached(walked), remarks))
                } else {
                    walked.arrange().map(|plan| (Planned::Tree(plan), remarks))
                }
            }
            Walk::WithPlugins => plan_layer(&recipe, layer, &platform, epoch, has_lower(&recipe, index))
                .map(|(plan, remarks)| (Planned::Tree(plan), remarks)),
            Walk::Failed(error) => Err(error),
        })
        .collect();
    let mut layers = Vec::new();
    let mut remarks = Vec::new();
    // Image-level plugins run at assembly; compiling them and checking
    // their arguments now reports a mistake before anything is built.
    let mut errors: Vec<LocatedError> = recipe.plugins.iter().filter_map(|p| plugins::check(p).err()).collect();
    for result in results {
        match result {
            Ok((layer, more)) => {
                layers.push(layer);
                remarks.extend(more);
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() { Ok(ImagePlan { recipe, platform, layers, remarks }) } else { Err(errors) }
}

fn plan_layer(
    recipe: &Recipe,
    layer: &Layer,
    platform: &Platform,
    epoch: u64,
    below: bool,
) -> Result<(LayerPlan, Vec<LocatedError>), LocatedError> {
    let mut plan = LayerPlan::empty(&layer.name);
    let mut remarks = Vec::new();
    for entry in &layer.entries {
        match &entry.kind {
            EntryKind::Copy(c) => {
                let walked = copy::walk_copy(c, &entry.loc, Host::of(recipe), platform)?;
                remarks.extend(copy::remarks(c, &entry.loc, &walked));
                copy::add_walked(&mut plan.tree, c, &entry.loc, walked)?;
            }
            // A plugin after one that reads the layers below runs after it,
            // when the layer is built, so that it sees what that one wrote.
            EntryKind::Plugin(plugin) if plan.reads_lower() => {
                plan.salt.push(plugins::load(plugin)?.key(&plugin.with));
                plan.deferred.push(plugin.clone());
            }
            EntryKind::Plugin(plugin) => {
                let setting = Setting {
                    recipe_dir: recipe.dir.clone(),
                    platform: platform.clone(),
                    source_date_epoch: epoch,
                    lower: None,
                };
                if !run_layer_plugin(&mut plan, plugin, setting, Host::of(recipe))? {
                    plan.deferred.push(plugin.clone());
                }
            }
            _ => add_entry(&mut plan.tree, entry, Host::of(recipe), platform)?,
        }
    }
    if !plan.reads_lower() {
        links::resolve(&mut plan.tree)?;
        plan.tree.check_whiteouts()?;
        if below {
            plan.tree.leave_out_undeclared_dirs();
        }
    }
    Ok((plan, remarks))
}

/// Runs the `layer` hook of `entry` into `plan`. Returns false, adding
/// nothing, when the hook wants the layers below and none were given.
fn run_layer_plugin(
    plan: &mut LayerPlan,
    entry: &PluginUse,
    setting: Setting,
    host: Host<'_>,
) -> Result<bool, LocatedError> {
    let plugin = plugins::load(entry)?;
    if !plugin.defines("layer") {
        return Err(entry.loc.error(format!("{} defines no `fn layer(ctx, args)`", entry.shown), "layer plugin"));
    }
    let (platform, planning) = (setting.platform.clone(), setting.lower.is_none());
    let ctx = LayerCtx::new(setting);
    let (result, log) = plugin.run_layer(&ctx, entry);
    plan.log.extend(log.into_iter().map(|line| format!("{}: {line}", entry.shown)));
    let mut state = ctx.state();
    if planning && state.wants_lower {
        plan.salt.push(plugin.key(&entry.with));
        return Ok(false);
    }
    result.map_err(|e| entry.loc.error(e.0, "layer plugin"))?;
    plan.salt.push(plugin.key(&entry.with));
    for kind in std::mem::take(&mut state.ops) {
        forget_replaced(&mut plan.tree, &kind, &entry.loc);
        add_entry(&mut plan.tree, &Entry { loc: entry.loc.clone(), kind }, host, &platform)?;
    }
    Ok(true)
}

/// A plugin's entry replaces what the entries above it in its layer wrote
/// at its path ([`tree::Tree::forget_earlier`]).
fn forget_replaced(tree: &mut Tree, kind: &EntryKind, plugin: &crate::recipe::Loc) {
    match kind {
        EntryKind::File { path, .. } | EntryKind::Symlink { path, .. } | EntryKind::Hardlink { path, .. } => {
            tree.forget_earlier(path, plugin, false, false);
        }
        EntryKind::Dir { path, .. } => tree.forget_earlier(path, plugin, true, false),
        EntryKind::Remove { path, .. } => tree.forget_earlier(path, plugin, true, true),
        EntryKind::Copy(_) | EntryKind::Plugin(_) => {}
    }
}

/// Completes a layer that reads the layers below, once they are built:
/// runs its deferred plugins on `lower` (whose layers have `lower_ids` as
/// diff_ids), then checks links and whiteouts and digests new inputs.
pub(crate) fn complete(
    layer: &LayerPlan,
    recipe: &Recipe,
    platform: &Platform,
    epoch: u64,
    lower: Arc<LowerFs>,
    lower_ids: &[String],
    store: &Store,
) -> Result<LayerPlan, LocatedError> {
    let mut plan = LayerPlan {
        name: layer.name.clone(),
        tree: layer.tree.clone(),
        salt: layer.salt.clone(),
        deferred: Vec::new(),
        log: Vec::new(),
    };
    plan.salt.extend(lower_ids.iter().map(|id| format!("lower {id}")));
    for entry in &layer.deferred {
        let view = pending::view(&lower, &plan.tree, &entry.loc).map(Arc::new);
        let setting = Setting {
            recipe_dir: recipe.dir.clone(),
            platform: platform.clone(),
            source_date_epoch: epoch,
            lower: Some(view.unwrap_or_else(|| Arc::clone(&lower))),
        };
        run_layer_plugin(&mut plan, entry, setting, Host::of(recipe))?;
        plan.salt.pop();
    }
    links::resolve(&mut plan.tree)?;
    plan.tree.check_whiteouts()?;
    if !lower_ids.is_empty() {
        plan.tree.leave_out_undeclared_dirs();
    }
    inputs::digest_inputs(&mut plan.tree, recipe, &plan.name, platform, store, false)?;
    Ok(plan)
}

/// Fills in the content hash of every host input of `plan` (through the
/// store's input index), the last step before layers can be keyed, except
/// in the layers marked `known` (already found in the cache); with
/// `defer`, a layer whose inputs are mostly unknown is left for its writer
/// to hash ([`inputs::digest_inputs`]).
pub(crate) fn digest_inputs(
    plan: &mut ImagePlan,
    store: &Store,
    defer: bool,
    known: &[bool],
) -> Result<(), Vec<LocatedError>> {
    let (recipe, platform) = (&plan.recipe, &plan.platform);
    let errors: Vec<LocatedError> = plan
        .layers
        .par_iter_mut()
        .enumerate()
        .filter(|(i, _)| !known.get(*i).copied().unwrap_or(false))
        .filter_map(|(_, layer)| match layer {
            Planned::Tree(layer) => {
                inputs::digest_inputs(&mut layer.tree, recipe, &layer.name, platform, store, defer).err()
            }
            Planned::Cached(_) => None,
        })
        .collect();
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

/// Puts one entry (of the recipe, or recorded by a plugin) in `tree`;
/// relative copy sources start from `dir`.
fn add_entry(tree: &mut Tree, entry: &Entry, host: Host<'_>, platform: &Platform) -> Result<(), LocatedError> {
    let loc = entry.loc.clone();
    let node = |kind, mode, owner| Node { kind, mode, owner, loc: loc.clone(), origin: Origin::Explicit };
    match &entry.kind {
        EntryKind::Copy(copy) => copy::add_copy(tree, copy, &entry.loc, host, platform),
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
        EntryKind::Plugin(plugin) => Err(plugin.loc.error("a plugin cannot add another plugin", "layer plugin")),
    }
}
