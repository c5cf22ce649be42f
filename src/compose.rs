//! One `compose-img build`: load the recipe graph, check every output, plan
//! every layer, then run the build graph (layer builds, image assemblies)
//! on the ready-queue executor and write each named recipe's outputs.
//! Everything that can be refused is refused before the first blob is
//! written; outputs are written only once every image is built.

use std::path::PathBuf;
use std::sync::Arc;

use crate::build::cache::layer_key;
use crate::build::executor::{self, Done};
use crate::build::layer::build_layer;
use crate::build::{BuildSettings, BuiltLayer};
use crate::digest::Digest;
use crate::error::Error;
use crate::oci::image::{BuiltImage, assemble};
use crate::oci::reference::ImageRef;
use crate::oci::tagged::Tagged;
use crate::plan::{self, ImagePlan, graph::RecipeGraph};
use crate::recipe::{Base, Recipe};
use crate::registry::{ClientOptions, PushStats};
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
}

/// A node of the build graph and what it produced.
enum Node {
    /// The parent image (`from.image`) of a recipe, fetched into the store.
    Parent {
        recipe: usize,
    },
    Layer {
        recipe: usize,
        layer: usize,
    },
    Image {
        recipe: usize,
    },
}

enum Output {
    Layer(BuiltLayer),
    Image(Box<BuiltImage>),
}

/// Where one image is written, under which tags.
struct Destination {
    reference: ImageRef,
    tags: Vec<String>,
}

pub fn build(request: &BuildRequest) -> Result<BuildSummary, Error> {
    if !request.outputs.is_empty() && request.recipes.len() > 1 {
        return Err(Error::Usage(
            "--output needs exactly one recipe; several recipes each go to their own default output".into(),
        ));
    }
    let graph = plan::graph::load(&request.recipes).map_err(Error::Recipes)?;
    let targets: Vec<Vec<Destination>> =
        graph.roots.iter().map(|&r| destinations(&graph.recipes[r], &request.outputs)).collect::<Result<_, _>>()?;
    let pool = pool(request.settings.jobs)?;
    let (plans, store) = prepare(&graph, &request.store, &pool)?;
    let (nodes, deps, image_node) = build_graph(&graph, &plans);
    let job = |i: usize, done: &Done<Output>| -> Result<Output, Error> {
        match nodes[i] {
            Node::Parent { recipe } => {
                let plan = &plans[recipe];
                let Base::Image { reference, name, .. } = &plan.recipe.from else {
                    unreachable!("a parent node has a parent image")
                };
                let want = Want::Platform(plan.platform.clone());
                transport::fetch(reference, &want, &store, &request.registry)
                    .map(|mut tagged| {
                        let mut image = tagged.images.remove(0);
                        image.name.clone_from(name);
                        Output::Image(Box::new(image))
                    })
                    .map_err(|source| Error::Parent { recipe: plan.recipe.file.name.clone(), source })
            }
            Node::Layer { recipe, layer } => {
                let plan = &plans[recipe];
                build_layer(&plan.layers[layer], &request.settings, &store, request.reuse)
                    .map(Output::Layer)
                    .map_err(|source| Error::Build { recipe: plan.recipe.file.name.clone(), source })
            }
            Node::Image { recipe } => {
                let plan = &plans[recipe];
                let layers = deps[i]
                    .iter()
                    .filter_map(|&d| match done.get(d) {
                        Some(Output::Layer(layer)) => Some(layer.clone()),
                        _ => None,
                    })
                    .collect();
                let parent = deps[i].iter().find_map(|&d| match (&nodes[d], done.get(d)) {
                    (Node::Parent { .. } | Node::Image { .. }, Some(Output::Image(image))) => Some(image.as_ref()),
                    _ => None,
                });
                assemble(&plan.recipe, &plan.platform, parent, layers, request.settings.source_date_epoch, &store)
                    .map(|image| Output::Image(Box::new(image)))
                    .map_err(|source| Error::Assemble { recipe: plan.recipe.file.name.clone(), source })
            }
        }
    };
    let outputs = pool.install(|| executor::execute(&deps, &job))?;

    let mut summary = BuildSummary::default();
    for output in &outputs {
        if let Output::Layer(layer) = output {
            if layer.reused {
                summary.layers_reused += 1;
            } else {
                summary.layers_built += 1;
                summary.bytes_written += layer.size;
            }
        }
    }
    for (&root, targets) in graph.roots.iter().zip(targets) {
        let Some(Output::Image(image)) = outputs.get(image_node[root]) else { continue };
        let mut written = Vec::new();
        let tagged = Tagged::single(image.as_ref().clone());
        let repo = &graph.recipes[root].image.name;
        for Destination { reference, tags } in targets {
            let shown = reference.to_string();
            let result = transport::write(&reference, &tagged, &tags, repo, &store, &request.registry)
                .map_err(|source| Error::Output { output: shown.clone(), source })?;
            written.push(WrittenOutput { reference: shown, push: result.push });
        }
        let recipe = graph.recipes[root].file.name.clone();
        summary.images.push(BuiltReport { recipe, manifest: image.manifest.digest.clone(), outputs: written });
    }
    Ok(summary)
}

fn pool(jobs: u32) -> Result<rayon::ThreadPool, Error> {
    rayon::ThreadPoolBuilder::new().num_threads(jobs as usize).build().map_err(|_| Error::Workers(jobs))
}

/// Plans every layer (refusing bad recipes before the store is touched),
/// then opens the store and digests every input.
fn prepare(
    graph: &RecipeGraph,
    store: &std::path::Path,
    pool: &rayon::ThreadPool,
) -> Result<(Vec<ImagePlan>, Store), Error> {
    let mut plans = pool.install(|| plan_graph(graph))?;
    let store = Store::open(store)?;
    for plan in &mut plans {
        pool.install(|| plan::digest_inputs(plan, &store))
            .map_err(|errors| Error::Plan { recipe: plan.recipe.file.name.clone(), errors })?;
    }
    Ok((plans, store))
}

/// One recipe of `compose-img plan`.
#[derive(Debug)]
pub struct PlannedImage {
    pub recipe: String,
    pub image: String,
    pub platform: String,
    /// Index of the parent recipe in the report.
    pub parent: Option<usize>,
    /// The parent image (`from.image`), fetched when building.
    pub parent_image: Option<String>,
    pub layers: Vec<PlannedLayer>,
}

#[derive(Debug)]
pub struct PlannedLayer {
    pub name: String,
    pub entries: usize,
    pub key: Digest,
    /// A build would reuse it.
    pub cached: bool,
}

/// The resolved graph of `recipes` without building: every recipe (parents
/// first) and layer, with its cache key and whether it is cached.
pub fn plan_only(
    recipes: &[PathBuf],
    store: &std::path::Path,
    settings: &BuildSettings,
) -> Result<Vec<PlannedImage>, Error> {
    let graph = plan::graph::load(recipes).map_err(Error::Recipes)?;
    let (plans, store) = prepare(&graph, store, &pool(settings.jobs)?)?;
    Ok(plans
        .iter()
        .enumerate()
        .map(|(index, plan)| PlannedImage {
            recipe: plan.recipe.file.name.clone(),
            image: plan.recipe.image.name.clone(),
            platform: plan.platform.to_string(),
            parent: graph.parents[index],
            parent_image: match &plan.recipe.from {
                Base::Image { name, .. } => Some(name.clone()),
                _ => None,
            },
            layers: plan
                .layers
                .iter()
                .map(|layer| {
                    let key = layer_key(&layer.tree, settings);
                    let cached = store.cached_layer(&key).is_some_and(|entry| {
                        Digest::parse(&entry.digest).is_ok_and(|d| store.blob_stamp(&d).is_some())
                    });
                    PlannedLayer { name: layer.name.clone(), entries: layer.tree.len(), key, cached }
                })
                .collect(),
        })
        .collect())
}

/// Plans every recipe of the graph, parents first (a child checks its
/// platform against its parent's).
fn plan_graph(graph: &RecipeGraph) -> Result<Vec<ImagePlan>, Error> {
    let mut plans: Vec<ImagePlan> = Vec::with_capacity(graph.recipes.len());
    for (index, recipe) in graph.recipes.iter().enumerate() {
        let parent = graph.parents[index].and_then(|p| plans.get(p));
        let plan = plan::plan(Arc::clone(recipe), parent)
            .map_err(|errors| Error::Plan { recipe: recipe.file.name.clone(), errors })?;
        plans.push(plan);
    }
    Ok(plans)
}

/// The build graph: for each recipe its layer nodes, then its image node,
/// which waits for those layers and for its parent's image node. Returns
/// the nodes, their dependencies and each recipe's image node.
fn build_graph(graph: &RecipeGraph, plans: &[ImagePlan]) -> (Vec<Node>, Vec<Vec<usize>>, Vec<usize>) {
    let mut nodes = Vec::new();
    let mut deps: Vec<Vec<usize>> = Vec::new();
    let mut image_nodes: Vec<usize> = Vec::new();
    for (recipe, plan) in plans.iter().enumerate() {
        let mut image_deps = Vec::new();
        if let Some(parent) = graph.parents[recipe] {
            image_deps.push(image_nodes[parent]);
        } else if let Base::Image { .. } = plan.recipe.from {
            image_deps.push(nodes.len());
            nodes.push(Node::Parent { recipe });
            deps.push(Vec::new());
        }
        for layer in 0..plan.layers.len() {
            image_deps.push(nodes.len());
            nodes.push(Node::Layer { recipe, layer });
            deps.push(Vec::new());
        }
        image_nodes.push(nodes.len());
        nodes.push(Node::Image { recipe });
        deps.push(image_deps);
    }
    (nodes, deps, image_nodes)
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
