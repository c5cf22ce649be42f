//! One `compose-img build`, phase by phase:
//!
//! 1. load: the recipes named and their parents (`plan::graph`);
//! 2. `units`: one unit per recipe and platform, tied to its parent's unit;
//! 3. `outputs`: where each named recipe goes, checked against what it builds;
//! 4. `sources`: the files copies take from other images, extracted;
//!    `locks`: each recipe's lock file read (`--locked` refuses what one
//!    lacks);
//! 5. `prepare`: every unit planned, the store opened, inputs digested;
//!    then what the lock files lack resolved, and each `from.image` parent
//!    pinned to its locked digest (`locks`);
//!    `shared_cache`: with `--cache`, every layer's content key looked up
//!    in the registry cache at once;
//! 6. `nodes`: the build graph (parent fetches, layers, images) run on the
//!    ready-queue executor; a layer the shared cache has is fetched and
//!    checked, or left in the registry for the push to mount when every
//!    output goes there and nothing reads layer bytes (`outputs::mount_only`,
//!    which also spares a registry parent's layers); the layers the shared
//!    cache missed are published once built;
//! 7. assemble: the index of a multi-platform recipe;
//! 8. `attestations`: the SBOMs and provenance of each image, when the
//!    build signs or is asked for SBOMs; `outputs`: each destination
//!    written, signed and attested if asked;
//! 9. the lock files that gained references written (`locks`);
//! 10. `summary`: what was built, reused and written.
//!
//! Everything that can be refused is refused before the first blob is
//! written; outputs are written only once every image is built.
//! [`plan_only`] stops after the plan and reports it (`planned`); [`lock`]
//! is `compose-img lock` (`lock_command`); [`reproduce()`] rebuilds a recipe
//! in a scratch store and compares it with a published image
//! (`reproduce`). Every failure is a
//! [`ComposeError`] (`error`).

mod attestations;
mod error;
mod lock_command;
mod locks;
mod nodes;
mod outputs;
mod planned;
mod prepare;
mod reproduce;
mod shared_cache;
mod sources;
mod summary;
mod units;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use p256::ecdsa::SigningKey;

use crate::digest::Digest;
use crate::layer::BuildSettings;
use crate::layer::progress::Progress;
use crate::lock::Pin;
use crate::oci::image::BuiltLayer;
use crate::oci::platform::Platform;
use crate::oci::reference::ImageRef;
use crate::plan::graph::{self, RecipeGraph};
use crate::recipe::LocatedError;
use crate::recipe::vars::Given;
use crate::registry::ClientOptions;
use crate::store::Store;

pub(crate) use error::ComposeError;
pub(crate) use lock_command::{ChangeKind, LockAction, LockChange, LockRequest, lock};
pub(crate) use planned::{PlannedImage, PlannedLayer};
pub(crate) use reproduce::{ReproduceRequest, reproduce};
pub(crate) use shared_cache::{CacheError, CacheOptions};
pub(crate) use summary::BuildSummary;

use locks::Locks;
use nodes::BuildGraph;
use prepare::{Prepared, Purpose, prepare};
use shared_cache::SharedCache;
use units::Units;

pub(crate) struct BuildRequest {
    pub recipes: Vec<PathBuf>,
    /// Where to write; empty means each recipe's default (`oci:out/<name>`).
    pub outputs: Vec<ImageRef>,
    pub store: PathBuf,
    pub settings: BuildSettings,
    /// Reuse cached layers (`--no-cache` turns it off).
    pub reuse: bool,
    pub registry: ClientOptions,
    /// `--platform`: build only these (empty: every platform of each recipe).
    pub platforms: Vec<Platform>,
    /// `--var NAME=VALUE`: the recipes' variables.
    pub vars: Given,
    /// `--deny-warnings`: a warning fails the build before any output is
    /// written.
    pub deny_warnings: bool,
    /// `build --key` (old name `--sign-key`): sign every manifest and index written (and the
    /// attestations).
    pub sign_key: Option<SigningKey>,
    /// `--sbom`: the SBOMs to attach, overriding each recipe's `sbom`
    /// (`None`: the recipe's).
    pub sbom: Option<Vec<crate::recipe::SbomFormat>>,
    /// `--locked`: refuse a parent image its recipe's lock file lacks
    /// instead of locking it.
    pub locked: bool,
    /// The shared layer cache in a registry (`--cache`, `--cache-from`).
    pub cache: CacheOptions,
    /// The recipes (canonical) whose images this build is making for a
    /// copy to take files from, outermost first: a recipe that needs its
    /// own image through copies is a cycle.
    pub stages: Vec<PathBuf>,
}

/// What the phases after planning share.
struct Context<'a> {
    request: &'a BuildRequest,
    store: &'a Store,
    progress: &'a dyn Progress,
    /// By unit: its `from.image` parent, pinned by the lock file.
    pins: &'a [Option<Pin>],
    /// Warnings and notes found while building (planning's come first).
    remarks: Mutex<Vec<LocatedError>>,
    /// What the shared cache has, and what to publish to it.
    shared: &'a SharedCache,
    /// By unit and layer: the content key known before building.
    keys: &'a [Vec<Option<Digest>>],
    /// The registry every output goes to, when nothing of the build reads
    /// layer bytes: a layer the shared cache has there is never fetched.
    mount_only: Option<String>,
    /// The layers built or reused here, by content key (to publish).
    built_keys: Mutex<BTreeMap<Digest, BuiltLayer>>,
    /// Layers taken from the shared cache.
    from_cache: AtomicUsize,
}

pub(crate) fn build(request: &BuildRequest, progress: &dyn Progress) -> Result<BuildSummary, ComposeError> {
    outputs::check_request(request)?;
    let graph = load(&request.recipes, &request.vars)?;
    let units = Units::of(&graph, &request.platforms)?;
    let targets = outputs::targets(&graph, &units, request)?;
    graph.never_copy(outputs::never_copied(&targets, &request.store).into());
    let mut locks = Locks::load(&graph, &units, request.locked)?;
    let stages = Stages { request: StageRequest::of(request), progress };
    copy_sources(&graph, &units, &request.store, &request.registry, &mut locks, &stages)?;
    let pool = pool(request.settings.jobs)?;
    let keyed = request.reuse && request.cache.is_set();
    let purpose = Purpose::Build { reuse: request.reuse, keyed };
    let Prepared { units: mut planned, store } =
        prepare(&graph, &units, &request.store, &pool, &request.settings, purpose)?;
    let pins = locks.pin(&graph, &units, &store, &request.registry)?;
    let remarks = Mutex::new(plan_remarks(&mut planned));
    let keys = if keyed { prepare::content_keys(&planned, &store, &request.settings) } else { Vec::new() };
    let shared = if keyed {
        let all = keys.iter().flatten().flatten().cloned().collect();
        pool.install(|| SharedCache::look_up(&request.cache, &request.registry, &all))?
    } else {
        SharedCache::off()
    };
    // An SBOM reads the image's files: then every layer's bytes are needed.
    let sboms = targets.iter().any(|t| !attestations::formats_of(&graph.recipes[t.recipe], request).is_empty());
    let mount_only = if sboms { None } else { outputs::mount_only(&targets, &planned) };
    let context = Context {
        request,
        store: &store,
        progress,
        pins: &pins,
        remarks,
        shared: &shared,
        keys: &keys,
        mount_only,
        built_keys: Mutex::new(BTreeMap::new()),
        from_cache: AtomicUsize::new(0),
    };
    let build_graph = BuildGraph::new(&units, &planned);
    let built = build_graph.run(&planned, &context, &pool)?;
    let built_keys = std::mem::take(&mut *context.built_keys.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    let published = pool.install(|| shared.publish(&built_keys, &store));
    let remarks = std::mem::take(&mut *context.remarks.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    if request.deny_warnings && remarks.iter().any(LocatedError::is_warning) {
        return Err(ComposeError::Warnings(remarks.into_iter().filter(LocatedError::is_warning).collect()));
    }
    // On the build's pool: blob uploads of a push are bounded by `--jobs`.
    let reports = pool.install(|| -> Result<Vec<_>, ComposeError> {
        let mut reports = Vec::new();
        for target in &targets {
            let recipe = &graph.recipes[target.recipe];
            let tagged = built.tagged(recipe, &units.of_recipe[target.recipe], &context)?;
            let statements = attestations::statements(&graph, &units, target.recipe, &built, &context)?;
            reports.push(outputs::write(recipe, target, &tagged, &statements, &context)?);
        }
        Ok(reports)
    })?;
    let notes = locks.save()?;
    let mut summary = BuildSummary::new(&built, reports, notes, remarks);
    summary.layers_from_cache = context.from_cache.load(Ordering::Relaxed);
    summary.cache_published = published;
    summary.cache_warnings = shared.take_warnings();
    Ok(summary)
}

/// The warnings and notes of every unit's plan, each once (the units of
/// a recipe's platforms share most).
fn plan_remarks(planned: &mut [prepare::PlannedUnit]) -> Vec<LocatedError> {
    let mut seen = std::collections::BTreeSet::new();
    let all = planned.iter_mut().flat_map(|unit| std::mem::take(&mut unit.plan.remarks));
    all.filter(|remark| seen.insert((remark.first_offset(), remark.to_string()))).collect()
}

/// What `compose-img plan` asks for.
pub(crate) struct PlanRequest<'a> {
    pub recipes: &'a [PathBuf],
    /// `--var NAME=VALUE`: the recipes' variables.
    pub vars: &'a Given,
    pub store: &'a Path,
    pub settings: &'a BuildSettings,
    pub platforms: &'a [Platform],
    /// How registries are reached to lock what a lock file lacks.
    pub registry: &'a ClientOptions,
    /// `--locked`: refuse what a lock file lacks instead.
    pub locked: bool,
    /// The shared cache to look each layer up in.
    pub cache: &'a CacheOptions,
}

/// The resolved graph of `recipes` without building: every recipe (parents
/// first) for each platform, and every layer, with its cache key and
/// whether it is cached; each parent image pinned by its lock file. The
/// notes say what was added to lock files; the remarks are the warnings
/// and notes about the recipes.
pub(crate) fn plan_only(request: &PlanRequest) -> Result<Planned, ComposeError> {
    let PlanRequest { recipes, vars, store, settings, platforms, registry, locked, cache } = *request;
    let graph = load(recipes, vars)?;
    let units = Units::of(&graph, platforms)?;
    graph.never_copy(outputs::never_copied(&outputs::targets_by_default(&graph), store).into());
    let mut locks = Locks::load(&graph, &units, locked)?;
    let stage_request =
        StageRequest { store, settings: *settings, registry, vars, locked, reuse: true, cache, stages: &[] };
    let stages = Stages { request: stage_request, progress: &crate::layer::progress::Silent };
    copy_sources(&graph, &units, store, registry, &mut locks, &stages)?;
    let Prepared { units: mut planned, store } =
        prepare(&graph, &units, store, &pool(settings.jobs)?, settings, Purpose::Plan)?;
    let pins = locks.pin(&graph, &units, &store, registry)?;
    let notes = locks.save()?;
    let remarks = plan_remarks(&mut planned);
    // Units come parents first: each image's layers, when the store has
    // them all, are the base of the units built on it.
    let mut stacks: Vec<Option<Vec<crate::oci::image::BuiltLayer>>> = Vec::new();
    let mut images = Vec::new();
    for ((unit, plan_unit), pin) in units.units.iter().zip(&planned).zip(&pins) {
        let base = match (unit.parent, pin, &plan_unit.plan.recipe.from) {
            (Some(parent), _, _) => stacks[parent].clone(),
            (None, Some(pin), _) => {
                crate::transport::stored_image(&store, &pin.manifest, &plan_unit.plan.platform).map(|i| i.layers)
            }
            (None, None, crate::recipe::Base::Scratch) => Some(Vec::new()),
            (None, None, _) => None,
        };
        let (image, stack) = PlannedImage::new(plan_unit, unit.parent, pin.as_ref(), base, &store, settings)?;
        images.push(image);
        stacks.push(stack);
    }
    let mut cache_warnings = Vec::new();
    if cache.is_set() {
        let layers = || images.iter().flat_map(|image| &image.layers).filter(|layer| layer.key_known);
        let keys = layers().map(|layer| layer.key.clone()).collect();
        let shared = pool(settings.jobs)?.install(|| SharedCache::look_up(cache, registry, &keys))?;
        cache_warnings = shared.take_warnings();
        let answered = cache_warnings.is_empty();
        for layer in images.iter_mut().flat_map(|image| &mut image.layers).filter(|layer| layer.key_known) {
            let found = shared.hit(&layer.key).is_some();
            layer.remote = (found || answered).then_some(found);
        }
    }
    Ok(Planned { images, notes, remarks, cache_warnings })
}

/// What [`plan_only`] found.
pub(crate) struct Planned {
    pub images: Vec<PlannedImage>,
    /// What was added to lock files.
    pub notes: Vec<String>,
    /// Warnings and notes about the recipes.
    pub remarks: Vec<LocatedError>,
    /// What went wrong with the shared cache.
    pub cache_warnings: Vec<String>,
}

/// Extracts what copies take from other images, pinned by the lock files,
/// when a recipe has such copies (only then is the store opened this
/// early).
fn copy_sources(
    graph: &RecipeGraph,
    units: &Units,
    store: &Path,
    registry: &ClientOptions,
    locks: &mut Locks,
    stages: &Stages,
) -> Result<(), ComposeError> {
    let any = graph.recipes.iter().flat_map(|r| &r.layers).flat_map(|l| &l.entries);
    if !any.into_iter().any(|e| matches!(&e.kind, crate::recipe::EntryKind::Copy(c) if c.from.is_some())) {
        return Ok(());
    }
    sources::extract_all(graph, units, &Store::open(store)?, registry, locks, stages)
}

/// What a build of a recipe a copy takes files from inherits.
#[derive(Clone, Copy)]
struct StageRequest<'a> {
    store: &'a Path,
    settings: BuildSettings,
    registry: &'a ClientOptions,
    vars: &'a Given,
    locked: bool,
    reuse: bool,
    /// The shared cache the stages are built with too.
    cache: &'a CacheOptions,
    stages: &'a [PathBuf],
}

impl<'a> StageRequest<'a> {
    fn of(request: &'a BuildRequest) -> StageRequest<'a> {
        StageRequest {
            store: &request.store,
            settings: request.settings,
            registry: &request.registry,
            vars: &request.vars,
            locked: request.locked,
            reuse: request.reuse,
            cache: &request.cache,
            stages: &request.stages,
        }
    }
}

/// Builds the recipes copies take files from (`copy.recipe`).
pub(super) struct Stages<'a> {
    request: StageRequest<'a>,
    progress: &'a dyn Progress,
}

impl Stages<'_> {
    /// Builds `recipe` (with its parents) as this build would, into the
    /// layout `into`; returns the reference to read it from.
    pub(super) fn build(&self, recipe: &Path, into: &Path) -> Result<ImageRef, ComposeError> {
        let canonical = std::fs::canonicalize(recipe).map_err(|source| {
            ComposeError::Recipes(vec![crate::recipe::RecipeError::Read { path: recipe.to_owned(), source }])
        })?;
        let r = &self.request;
        if r.stages.contains(&canonical) {
            let chain: Vec<String> = r.stages.iter().chain([&canonical]).map(|p| p.display().to_string()).collect();
            return Err(ComposeError::Usage(format!(
                "copies take files from a cycle of recipes: {}",
                chain.join(" → ")
            )));
        }
        let output = ImageRef::Oci { dir: into.to_owned(), tag: Some("stage".into()) };
        let request = BuildRequest {
            recipes: vec![recipe.to_owned()],
            outputs: vec![output.clone()],
            store: r.store.to_owned(),
            settings: r.settings,
            reuse: r.reuse,
            registry: r.registry.clone(),
            platforms: Vec::new(),
            vars: Given { for_stage: true, ..r.vars.clone() },
            deny_warnings: false,
            sign_key: None,
            sbom: Some(Vec::new()),
            locked: r.locked,
            cache: r.cache.clone(),
            stages: r.stages.iter().cloned().chain([canonical]).collect(),
        };
        build(&request, self.progress)?;
        Ok(output)
    }
}

fn load(recipes: &[PathBuf], vars: &Given) -> Result<RecipeGraph, ComposeError> {
    graph::load(recipes, vars).map_err(ComposeError::Recipes)
}

fn pool(jobs: u32) -> Result<rayon::ThreadPool, ComposeError> {
    rayon::ThreadPoolBuilder::new().num_threads(jobs as usize).build().map_err(|_| ComposeError::Workers(jobs))
}
