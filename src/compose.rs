//! One `compose-img build`: load the recipe graph, make one unit per recipe
//! and platform, check every output, plan every layer, then run the build
//! graph (parent fetches, layer builds, image assemblies) on the
//! ready-queue executor, make an index of a multi-platform recipe, sign if
//! asked, and write each named recipe's outputs. Everything that can be
//! refused is refused before the first blob is written; outputs are written
//! only once every image is built.

use std::path::PathBuf;
use std::sync::Arc;

use p256::ecdsa::SigningKey;
use rayon::prelude::*;

use crate::assemble::{assemble, assemble_index};
use crate::digest::Digest;
use crate::error::Error;
use crate::layer::cache::{layer_key, stat_key, walk_key};
use crate::layer::executor::{self, Done};
use crate::layer::progress::{Finished, LayerProgress, Progress};
use crate::layer::write::{LayerBuild, LayerKeys, build_layer, reuse_cached};
use crate::layer::{BuildSettings, BuiltLayer};
use crate::oci::image::BuiltImage;
use crate::oci::platform::Platform;
use crate::oci::reference::ImageRef;
use crate::oci::tagged::Tagged;
use crate::plan::{self, ImagePlan, LayerPlan, Planned, Walk, graph::RecipeGraph};
use crate::plugins::lower::{LowerFs, LowerLayer};
use crate::recipe::{Base, Recipe};
use crate::registry::{ClientOptions, PushStats};
use crate::sign;
use crate::store::Store;
use crate::transport::{self, Want};

pub struct BuildRequest {
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
    /// `--sign-key`: sign every manifest and index written.
    pub sign_key: Option<SigningKey>,
}

/// What was written for one named recipe.
#[derive(Debug)]
pub struct BuiltReport {
    pub recipe: String,
    pub manifest: Digest,
    pub outputs: Vec<WrittenOutput>,
}

#[derive(Debug)]
pub struct WrittenOutput {
    pub reference: String,
    /// For a registry: what happened to the blobs.
    pub push: Option<PushStats>,
}

#[derive(Debug, Default)]
pub struct BuildSummary {
    pub images: Vec<BuiltReport>,
    pub layers_built: usize,
    pub layers_reused: usize,
    /// Compressed bytes of the layers built (not reused).
    pub bytes_written: u64,
    /// What plugins printed (`print`, `debug`), each line prefixed with the script.
    pub plugin_log: Vec<String>,
}

/// One image to build: a recipe for one platform.
struct Unit {
    recipe: usize,
    /// The unit of the parent recipe for the same platform.
    parent: Option<usize>,
}

/// Every unit of the graph, parents first, and the units of each recipe.
struct Units {
    units: Vec<Unit>,
    platforms: Vec<Platform>,
    of_recipe: Vec<Vec<usize>>,
}

/// A node of the build graph (on a unit) and what it produced.
enum Node {
    /// The parent image (`from.image`), fetched for the unit's platform.
    Parent {
        unit: usize,
    },
    Layer {
        unit: usize,
        layer: usize,
    },
    Image {
        unit: usize,
    },
}

enum Output {
    /// A layer, and what its plugins printed.
    Layer(BuiltLayer, Vec<String>),
    Image(Box<BuiltImage>),
}

/// Where one image is written, under which tags.
struct Destination {
    reference: ImageRef,
    tags: Vec<String>,
}

pub fn build(request: &BuildRequest, progress: &dyn Progress) -> Result<BuildSummary, Error> {
    if !request.outputs.is_empty() && request.recipes.len() > 1 {
        return Err(Error::Usage(
            "--output needs exactly one recipe; several recipes each go to their own default output".into(),
        ));
    }
    let graph = plan::graph::load(&request.recipes).map_err(Error::Recipes)?;
    let units = units(&graph, &request.platforms)?;
    let targets: Vec<Vec<Destination>> =
        graph.roots.iter().map(|&r| destinations(&graph.recipes[r], &request.outputs)).collect::<Result<_, _>>()?;
    if request.sign_key.is_some()
        && let Some(archive) = targets.iter().flatten().find(|t| matches!(t.reference, ImageRef::DockerArchive { .. }))
    {
        return Err(Error::Usage(format!(
            "{} cannot hold signatures: drop --sign-key or the output",
            archive.reference
        )));
    }
    for (&root, targets) in graph.roots.iter().zip(&targets) {
        if units.of_recipe[root].len() > 1
            && let Some(archive) = targets.iter().find(|t| matches!(t.reference, ImageRef::DockerArchive { .. }))
        {
            return Err(Error::Usage(format!(
                "{} holds one platform and {} builds {}: pick one with --platform",
                archive.reference,
                graph.recipes[root].file.name,
                units.of_recipe[root].len()
            )));
        }
    }
    let pool = pool(request.settings.jobs)?;
    let purpose = Purpose::Build { reuse: request.reuse };
    let Prepared { plans, store, stat_keys } =
        prepare(&graph, &units, &request.store, &pool, &request.settings, purpose)?;
    let (nodes, deps, image_node) = build_graph(&units, &plans);
    progress.planned(nodes.len());
    let finished = |plan: &ImagePlan, name: &str, built: LayerBuild, log: Vec<String>| {
        progress.finished(Finished::Layer {
            recipe: plan.recipe.file.name.clone(),
            layer: name.to_owned(),
            digest: built.layer.digest.to_string(),
            size: built.layer.size,
            key: built.key.to_string(),
            reused: built.layer.reused,
        });
        Output::Layer(built.layer, log)
    };
    let job = |i: usize, done: &Done<Output>| -> Result<Output, Error> {
        match nodes[i] {
            Node::Parent { unit } => {
                let plan = &plans[unit];
                let Base::Image { reference, name, .. } = &plan.recipe.from else {
                    unreachable!("a parent node has a parent image")
                };
                let want = Want::Platform(plan.platform.clone());
                transport::fetch(reference, &want, &store, &request.registry)
                    .map(|mut tagged| {
                        let mut image = tagged.images.remove(0);
                        image.name.clone_from(name);
                        progress.finished(Finished::Parent {
                            recipe: plan.recipe.file.name.clone(),
                            reference: name.clone(),
                            digest: image.manifest.digest.to_string(),
                        });
                        Output::Image(Box::new(image))
                    })
                    .map_err(|source| Error::Parent { recipe: plan.recipe.file.name.clone(), source })
            }
            Node::Layer { unit, layer } => {
                let plan = &plans[unit];
                let fail = |source| Error::Build { recipe: plan.recipe.file.name.clone(), source };
                let stat = stat_keys[unit][layer].clone();
                let planned = &plan.layers[layer];
                if let Planned::Cached(_) = planned {
                    let keys = LayerKeys { content: None, stat: stat.clone() };
                    if let Some(built) = reuse_cached(planned.name(), &keys, &store).map_err(fail)? {
                        return Ok(finished(plan, planned.name(), built, Vec::new()));
                    }
                }
                let planned = planned
                    .arranged()
                    .map_err(|e| Error::Plan { recipe: plan.recipe.file.name.clone(), errors: vec![e] })?;
                let completed;
                let planned = if planned.reads_lower() {
                    let below = deps[i].iter().flat_map(|&d| match done.get(d) {
                        Some(Output::Image(image)) => image.layers.clone(),
                        Some(Output::Layer(layer, _)) => vec![layer.clone()],
                        None => Vec::new(),
                    });
                    completed =
                        complete_layer(plan, &planned, below.collect(), request.settings.source_date_epoch, &store)?;
                    &completed
                } else {
                    planned.as_ref()
                };
                let id = format!("{} {} ({})", plan.recipe.file.name, planned.name, plan.platform);
                let reporter = Reporter { progress, id: &id };
                let keys = LayerKeys {
                    content: inputs_known(&planned.tree)
                        .then(|| layer_key(&planned.tree, &planned.salt, &request.settings)),
                    stat,
                };
                let built =
                    build_layer(planned, &keys, &request.settings, &store, request.reuse, &reporter).map_err(fail)?;
                if !built.hashed.is_empty() {
                    let (recipe, platform) = (&plan.recipe, &plan.platform);
                    plan::inputs::record_hashed(&planned.tree, &built.hashed, recipe, &planned.name, platform, &store);
                }
                Ok(finished(plan, &planned.name, built, planned.log.clone()))
            }
            Node::Image { unit } => {
                let plan = &plans[unit];
                let layers = deps[i]
                    .iter()
                    .filter_map(|&d| match done.get(d) {
                        Some(Output::Layer(layer, _)) => Some(layer.clone()),
                        _ => None,
                    })
                    .collect();
                let parent = deps[i].iter().find_map(|&d| match (&nodes[d], done.get(d)) {
                    (Node::Parent { .. } | Node::Image { .. }, Some(Output::Image(image))) => Some(image.as_ref()),
                    _ => None,
                });
                assemble(&plan.recipe, &plan.platform, parent, layers, request.settings.source_date_epoch, &store)
                    .map(|image| {
                        progress.finished(Finished::Image {
                            recipe: plan.recipe.file.name.clone(),
                            platform: plan.platform.to_string(),
                            digest: image.manifest.digest.to_string(),
                        });
                        Output::Image(Box::new(image))
                    })
                    .map_err(|source| Error::Assemble { recipe: plan.recipe.file.name.clone(), source })
            }
        }
    };
    let outputs = pool.install(|| executor::execute(&deps, &job))?;

    let mut summary = BuildSummary::default();
    for output in &outputs {
        if let Output::Layer(layer, log) = output {
            summary.plugin_log.extend(log.iter().cloned());
            if layer.reused {
                summary.layers_reused += 1;
            } else {
                summary.layers_built += 1;
                summary.bytes_written += layer.size;
            }
        }
    }
    for output in &outputs {
        if let Output::Image(image) = output {
            summary.plugin_log.extend(image.log.iter().cloned());
        }
    }
    for (&root, targets) in graph.roots.iter().zip(targets) {
        let recipe = &graph.recipes[root];
        let images: Vec<BuiltImage> = units.of_recipe[root]
            .iter()
            .filter_map(|&unit| match outputs.get(image_node[unit]) {
                Some(Output::Image(image)) => Some(image.as_ref().clone()),
                _ => None,
            })
            .collect();
        let tagged = if images.len() == 1 {
            Tagged::single(images.into_iter().next().unwrap_or_else(|| unreachable!("one image")))
        } else {
            assemble_index(recipe, images, request.settings.source_date_epoch, &store)
                .map_err(|source| Error::Assemble { recipe: recipe.file.name.clone(), source })?
        };
        let mut written = Vec::new();
        for Destination { reference, tags } in targets {
            let shown = reference.to_string();
            let attachments = match &request.sign_key {
                Some(key) => {
                    let identity = match &reference {
                        ImageRef::Docker(docker) => docker.repo_name(),
                        _ => recipe.image.name.clone(),
                    };
                    sign::attachments(&tagged, &reference, &identity, key, &store, &request.registry)?
                }
                None => Vec::new(),
            };
            let result = transport::write(
                &reference,
                &tagged,
                &tags,
                &attachments,
                &recipe.image.name,
                &store,
                &request.registry,
            )
            .map_err(|source| Error::Output { output: shown.clone(), source })?;
            let mut blobs = tagged.blobs();
            blobs.extend(attachments.iter().flat_map(|(a, _)| a.blobs()));
            store.record_output(&shown, &blobs)?;
            progress.finished(Finished::Output { reference: shown.clone() });
            written.push(WrittenOutput { reference: shown, push: result.push });
        }
        summary.images.push(BuiltReport {
            recipe: recipe.file.name.clone(),
            manifest: tagged.root.digest.clone(),
            outputs: written,
        });
    }
    Ok(summary)
}

/// The units of every recipe: its platforms (narrowed by `--platform`),
/// each tied to the parent recipe's unit for the same platform.
fn units(graph: &RecipeGraph, narrow: &[Platform]) -> Result<Units, Error> {
    let mut all = Units { units: Vec::new(), platforms: Vec::new(), of_recipe: Vec::new() };
    for (index, recipe) in graph.recipes.iter().enumerate() {
        let platforms: Vec<&Platform> =
            recipe.image.platforms.iter().filter(|p| narrow.is_empty() || narrow.contains(p)).collect();
        if platforms.is_empty() {
            let list = |ps: &[Platform]| ps.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ");
            return Err(Error::Usage(format!(
                "{} builds none of the platforms asked for with --platform ({}); it builds {}",
                recipe.file.name,
                list(narrow),
                list(&recipe.image.platforms)
            )));
        }
        let mut mine = Vec::new();
        for platform in platforms {
            let parent = match graph.parents[index] {
                None => None,
                Some(parent) => {
                    let found = all.of_recipe[parent].iter().copied().find(|&u| all.platforms[u] == *platform);
                    if found.is_none()
                        && let Base::Recipe { loc, .. } = &recipe.from
                    {
                        let builds = graph.recipes[parent].image.platforms.iter().map(|p| p.to_string());
                        let message = format!(
                            "the parent recipe does not build {platform} (it builds {})",
                            builds.collect::<Vec<_>>().join(", ")
                        );
                        return Err(Error::Plan {
                            recipe: recipe.file.name.clone(),
                            errors: vec![loc.error(message, "parent recipe")],
                        });
                    }
                    found
                }
            };
            mine.push(all.units.len());
            all.units.push(Unit { recipe: index, parent });
            all.platforms.push(platform.clone());
        }
        all.of_recipe.push(mine);
    }
    Ok(all)
}

fn pool(jobs: u32) -> Result<rayon::ThreadPool, Error> {
    rayon::ThreadPoolBuilder::new().num_threads(jobs as usize).build().map_err(|_| Error::Workers(jobs))
}

/// What [`prepare`] prepares for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// `compose-img plan`, which shows every cache key: all inputs hashed.
    Plan,
    /// A build: mostly unknown inputs are left to the layer writer, and
    /// with `reuse` a layer found under its stat key needs no input hashed.
    Build { reuse: bool },
}

struct Prepared {
    plans: Vec<ImagePlan>,
    store: Store,
    /// By unit and layer.
    stat_keys: Vec<Vec<Option<Digest>>>,
}

/// Plans every unit: walks its layers' sources, keys the layers without
/// plugins from the walk and, when building with reuse, leaves those the
/// store has as [`Planned::Cached`] without building their trees; refuses
/// bad recipes before the store is touched. Then opens the store, keys the
/// layers whose plugins ran and digests the inputs of every layer that
/// needs it for `purpose`.
fn prepare(
    graph: &RecipeGraph,
    units: &Units,
    root: &std::path::Path,
    pool: &rayon::ThreadPool,
    settings: &BuildSettings,
    purpose: Purpose,
) -> Result<Prepared, Error> {
    let walked_since = crate::store::gc::now();
    let reuse = purpose == Purpose::Build { reuse: true };
    let mut plans = Vec::with_capacity(units.units.len());
    let mut stat_keys = Vec::with_capacity(units.units.len());
    for (unit, platform) in units.units.iter().zip(&units.platforms) {
        let recipe = &graph.recipes[unit.recipe];
        let planned = pool.install(|| {
            let walks = plan::walk_sources(recipe, platform);
            let mut keys: Vec<Option<Digest>> = walks
                .par_iter()
                .map(|walk| match walk {
                    Walk::Walked(layer) => walk_key(layer, settings, walked_since),
                    Walk::WithPlugins | Walk::Failed(_) => None,
                })
                .collect();
            let cached: Vec<bool> = keys
                .iter()
                .map(|key| reuse && key.as_ref().is_some_and(|k| Store::has_cached_layer(root, k)))
                .collect();
            let plugins: Vec<bool> = walks.iter().map(|walk| matches!(walk, Walk::WithPlugins)).collect();
            let plan = plan::plan(Arc::clone(recipe), platform, settings.source_date_epoch, walks, &cached)?;
            // A layer whose plugins ran is keyed from its tree.
            plan.layers.par_iter().zip(&mut keys).zip(plugins).for_each(|((layer, key), plugins)| {
                if let Planned::Tree(layer) = layer
                    && plugins
                    && !layer.reads_lower()
                {
                    *key = stat_key(&layer.tree, &layer.salt, settings, walked_since);
                }
            });
            Ok((plan, keys))
        });
        let (plan, keys) = planned.map_err(|errors| Error::Plan { recipe: recipe.file.name.clone(), errors })?;
        plans.push(plan);
        stat_keys.push(keys);
    }
    let store = Store::open(root)?;
    for (plan, keys) in plans.iter_mut().zip(&stat_keys) {
        // Inputs need no digest in a layer found by its stat key.
        let found: Vec<bool> = plan
            .layers
            .iter()
            .zip(keys)
            .map(|(layer, key)| match layer {
                Planned::Cached(_) => true,
                Planned::Tree(_) => reuse && key.as_ref().is_some_and(|key| store.cached_layer(key).is_some()),
            })
            .collect();
        pool.install(|| plan::digest_inputs(plan, &store, purpose != Purpose::Plan, &found))
            .map_err(|errors| Error::Plan { recipe: plan.recipe.file.name.clone(), errors })?;
    }
    Ok(Prepared { plans, store, stat_keys })
}

/// One recipe and platform of `compose-img plan`.
#[derive(Debug)]
pub struct PlannedImage {
    pub recipe: String,
    pub image: String,
    pub platform: String,
    /// Index of the parent (the parent recipe for the same platform) in the report.
    pub parent: Option<usize>,
    /// The parent image (`from.image`), fetched when building.
    pub parent_image: Option<String>,
    pub layers: Vec<PlannedLayer>,
}

#[derive(Debug)]
pub struct PlannedLayer {
    pub name: String,
    pub entries: usize,
    /// A plugin of it reads the layers below: it waits for them, and its
    /// key (here without them) is only known once they are built.
    pub reads_lower: bool,
    pub key: Digest,
    /// A build would reuse it.
    pub cached: bool,
}

/// The resolved graph of `recipes` without building: every recipe (parents
/// first) for each platform, and every layer, with its cache key and
/// whether it is cached.
pub fn plan_only(
    recipes: &[PathBuf],
    store: &std::path::Path,
    settings: &BuildSettings,
    platforms: &[Platform],
) -> Result<Vec<PlannedImage>, Error> {
    let graph = plan::graph::load(recipes).map_err(Error::Recipes)?;
    let units = units(&graph, platforms)?;
    let Prepared { plans, store, stat_keys } =
        prepare(&graph, &units, store, &pool(settings.jobs)?, settings, Purpose::Plan)?;
    let cached = |key: &Digest| {
        store
            .cached_layer(key)
            .is_some_and(|entry| Digest::parse(&entry.digest).is_ok_and(|d| store.blob_stamp(&d).is_some()))
    };
    plans
        .iter()
        .zip(&units.units)
        .zip(&stat_keys)
        .map(|((plan, unit), stat_keys)| {
            Ok(PlannedImage {
                recipe: plan.recipe.file.name.clone(),
                image: plan.recipe.image.name.clone(),
                platform: plan.platform.to_string(),
                parent: unit.parent,
                parent_image: match &plan.recipe.from {
                    Base::Image { name, .. } => Some(name.clone()),
                    _ => None,
                },
                layers: plan
                    .layers
                    .iter()
                    .zip(stat_keys)
                    .map(|(layer, stat_key)| {
                        let layer = layer
                            .arranged()
                            .map_err(|e| Error::Plan { recipe: plan.recipe.file.name.clone(), errors: vec![e] })?;
                        let key = layer_key(&layer.tree, &layer.salt, settings);
                        let cached = cached(&key) || stat_key.as_ref().is_some_and(cached);
                        Ok(PlannedLayer {
                            name: layer.name.clone(),
                            entries: layer.tree.len(),
                            reads_lower: layer.reads_lower(),
                            key,
                            cached: cached && !layer.reads_lower(),
                        })
                    })
                    .collect::<Result<_, Error>>()?,
            })
        })
        .collect()
}

/// The build graph: for each unit its parent fetch (for `from.image`),
/// its layer nodes, then its image node, which waits for those and for its
/// parent unit's image node. Returns the nodes, their dependencies and
/// each unit's image node.
fn build_graph(units: &Units, plans: &[ImagePlan]) -> (Vec<Node>, Vec<Vec<usize>>, Vec<usize>) {
    let mut nodes = Vec::new();
    let mut deps: Vec<Vec<usize>> = Vec::new();
    let mut image_nodes: Vec<usize> = Vec::new();
    for (unit, plan) in plans.iter().enumerate() {
        let mut image_deps = Vec::new();
        if let Some(parent) = units.units[unit].parent {
            image_deps.push(image_nodes[parent]);
        } else if let Base::Image { .. } = plan.recipe.from {
            image_deps.push(nodes.len());
            nodes.push(Node::Parent { unit });
            deps.push(Vec::new());
        }
        for (layer, planned) in plan.layers.iter().enumerate() {
            // A layer whose plugin reads the layers below waits for them
            // (the parent first, then this image's earlier layers, in order).
            deps.push(if planned.reads_lower() { image_deps.clone() } else { Vec::new() });
            image_deps.push(nodes.len());
            nodes.push(Node::Layer { unit, layer });
        }
        image_nodes.push(nodes.len());
        nodes.push(Node::Image { unit });
        deps.push(image_deps);
    }
    (nodes, deps, image_nodes)
}

/// Whether the content of every host input of `tree` is known.
fn inputs_known(tree: &plan::tree::Tree) -> bool {
    tree.iter().all(|(_, n)| {
        !matches!(&n.kind, plan::tree::NodeKind::File(plan::tree::FileSource::Host { content: None, .. }))
    })
}

/// Forwards one layer's progress, named.
struct Reporter<'a> {
    progress: &'a dyn Progress,
    id: &'a str,
}

impl LayerProgress for Reporter<'_> {
    fn started(&self, files: u64, bytes: u64) {
        self.progress.layer_started(self.id, files, bytes);
    }

    fn advanced(&self, bytes: u64) {
        self.progress.layer_advanced(self.id, bytes);
    }
}

/// Runs the deferred plugins of `layer` on the layers `below` it.
fn complete_layer(
    plan: &ImagePlan,
    layer: &LayerPlan,
    below: Vec<BuiltLayer>,
    epoch: u64,
    store: &Store,
) -> Result<LayerPlan, Error> {
    let fail = |errors| Error::Plan { recipe: plan.recipe.file.name.clone(), errors };
    let lower_ids: Vec<String> = below.iter().map(|l| l.diff_id.to_string()).collect();
    let layers = below.into_iter().map(|l| LowerLayer { path: store.blob_path(&l.digest), media_type: l.media_type });
    let lower = LowerFs::open(layers.collect()).map_err(|message| {
        fail(layer.deferred.iter().take(1).map(|p| p.loc.error(message.clone(), "layer plugin")).collect())
    })?;
    plan::complete(layer, &plan.recipe, &plan.platform, epoch, Arc::new(lower), &lower_ids, store)
        .map_err(|e| fail(vec![e]))
}

/// Where `recipe` is written: each output (default `oci:out/<name>`) with
/// the tag it names, else every tag of the recipe.
fn destinations(recipe: &Recipe, outputs: &[ImageRef]) -> Result<Vec<Destination>, Error> {
    let default = [ImageRef::Oci { dir: PathBuf::from("out").join(recipe.image.short_name()), tag: None }];
    let outputs = if outputs.is_empty() { &default[..] } else { outputs };
    Ok(outputs
        .iter()
        .map(|reference| Destination {
            reference: reference.clone(),
            tags: match reference.tag() {
                Some(tag) => vec![tag.to_owned()],
                None => recipe.image.tags.clone(),
            },
        })
        .collect())
}
