//! One `compose-img build`, phase by phase:
//!
//! 1. load: the recipes named and their parents (`plan::graph`);
//! 2. `units`: one unit per recipe and platform, tied to its parent's unit;
//! 3. `outputs`: where each named recipe goes, checked against what it builds;
//! 4. `sources`: the files copies take from other images, extracted;
//!    `prepare`: every unit planned, the store opened, inputs digested;
//! 5. `nodes`: the build graph (parent fetches, layers, images) run on the
//!    ready-queue executor;
//! 6. assemble: the index of a multi-platform recipe;
//! 7. `outputs`: each destination written, signed if asked;
//! 8. `summary`: what was built, reused and written.
//!
//! Everything that can be refused is refused before the first blob is
//! written; outputs are written only once every image is built.
//! [`plan_only`] stops after the plan and reports it (`planned`). Every
//! failure is a [`ComposeError`] (`error`).

mod error;
mod nodes;
mod outputs;
mod planned;
mod prepare;
mod sources;
mod summary;
mod units;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use p256::ecdsa::SigningKey;

use crate::layer::BuildSettings;
use crate::layer::progress::Progress;
use crate::oci::platform::Platform;
use crate::oci::reference::ImageRef;
use crate::plan::graph::{self, RecipeGraph};
use crate::recipe::LocatedError;
use crate::recipe::vars::Given;
use crate::registry::ClientOptions;
use crate::store::Store;

pub(crate) use error::ComposeError;
pub(crate) use planned::{PlannedImage, PlannedLayer};
pub(crate) use summary::BuildSummary;

use nodes::BuildGraph;
use prepare::{Prepared, Purpose, prepare};
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
    /// `--sign-key`: sign every manifest and index written.
    pub sign_key: Option<SigningKey>,
}

/// What the phases after planning share.
struct Context<'a> {
    request: &'a BuildRequest,
    store: &'a Store,
    progress: &'a dyn Progress,
    /// Warnings and notes found while building (planning's come first).
    remarks: Mutex<Vec<LocatedError>>,
}

pub(crate) fn build(request: &BuildRequest, progress: &dyn Progress) -> Result<BuildSummary, ComposeError> {
    outputs::check_request(request)?;
    let graph = load(&request.recipes, &request.vars)?;
    let units = Units::of(&graph, &request.platforms)?;
    let targets = outputs::targets(&graph, &units, request)?;
    graph.never_copy(outputs::never_copied(&targets, &request.store).into());
    copy_sources(&graph, &units, &request.store, &request.registry)?;
    let pool = pool(request.settings.jobs)?;
    let purpose = Purpose::Build { reuse: request.reuse };
    let Prepared { units: mut planned, store } =
        prepare(&graph, &units, &request.store, &pool, &request.settings, purpose)?;
    let remarks = Mutex::new(plan_remarks(&mut planned));
    let context = Context { request, store: &store, progress, remarks };
    let build_graph = BuildGraph::new(&units, &planned);
    let built = build_graph.run(&planned, &context, &pool)?;
    let remarks = std::mem::take(&mut *context.remarks.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    if request.deny_warnings && remarks.iter().any(LocatedError::is_warning) {
        return Err(ComposeError::Warnings(remarks.into_iter().filter(LocatedError::is_warning).collect()));
    }
    let mut reports = Vec::new();
    for target in &targets {
        let recipe = &graph.recipes[target.recipe];
        let tagged = built.tagged(recipe, &units.of_recipe[target.recipe], &context)?;
        reports.push(outputs::write(recipe, target, &tagged, &context)?);
    }
    Ok(BuildSummary::new(&built, reports, remarks))
}

/// The warnings and notes of every unit's plan, each once (the units of
/// a recipe's platforms share most).
fn plan_remarks(planned: &mut [prepare::PlannedUnit]) -> Vec<LocatedError> {
    let mut seen = std::collections::BTreeSet::new();
    let all = planned.iter_mut().flat_map(|unit| std::mem::take(&mut unit.plan.remarks));
    all.filter(|remark| seen.insert((remark.first_offset(), remark.to_string()))).collect()
}

/// The resolved graph of `recipes` without building: every recipe (parents
/// first) for each platform, and every layer, with its cache key and
/// whether it is cached.
pub(crate) fn plan_only(
    recipes: &[PathBuf],
    vars: &Given,
    registry: &ClientOptions,
    store: &Path,
    settings: &BuildSettings,
    platforms: &[Platform],
) -> Result<(Vec<PlannedImage>, Vec<LocatedError>), ComposeError> {
    let graph = load(recipes, vars)?;
    let units = Units::of(&graph, platforms)?;
    let default_outputs = outputs::targets_by_default(&graph);
    graph.never_copy(outputs::never_copied(&default_outputs, store).into());
    copy_sources(&graph, &units, store, registry)?;
    let Prepared { units: mut planned, store } =
        prepare(&graph, &units, store, &pool(settings.jobs)?, settings, Purpose::Plan)?;
    let remarks = plan_remarks(&mut planned);
    let parents = units.units.iter().map(|unit| unit.parent);
    let images = planned
        .iter()
        .zip(parents)
        .map(|(unit, parent)| PlannedImage::new(unit, parent, &store, settings))
        .collect::<Result<_, _>>()?;
    Ok((images, remarks))
}

/// Extracts what copies take from other images, when a recipe has such
/// copies (only then is the store opened this early).
fn copy_sources(
    graph: &RecipeGraph,
    units: &Units,
    store: &Path,
    registry: &ClientOptions,
) -> Result<(), ComposeError> {
    let any = graph.recipes.iter().flat_map(|r| &r.layers).flat_map(|l| &l.entries);
    if !any.into_iter().any(|e| matches!(&e.kind, crate::recipe::EntryKind::Copy(c) if c.from.is_some())) {
        return Ok(());
    }
    sources::extract_all(graph, units, &Store::open(store)?, registry)
}

fn load(recipes: &[PathBuf], vars: &Given) -> Result<RecipeGraph, ComposeError> {
    graph::load(recipes, vars).map_err(ComposeError::Recipes)
}

fn pool(jobs: u32) -> Result<rayon::ThreadPool, ComposeError> {
    rayon::ThreadPoolBuilder::new().num_threads(jobs as usize).build().map_err(|_| ComposeError::Workers(jobs))
}
