//! The build graph and running it. Each unit has a parent fetch (for
//! `from.image`), its layer nodes, then its image node, which waits for
//! those and for its parent unit's image node. The nodes run on the
//! ready-queue executor; a layer whose plugin reads the layers below waits
//! for them.

use std::sync::Arc;

use rayon::ThreadPool;

use crate::assemble::{AssembleError, assemble, assemble_index};
use crate::digest::Digest;
use crate::layer::BuiltLayer;
use crate::layer::cache::layer_key;
use crate::layer::executor::{self, Done};
use crate::layer::progress::{Finished, LayerProgress, Progress};
use crate::layer::write::{LayerBuild, LayerKeys, build_layer, reuse_cached};
use crate::lock::LockError;
use crate::oci::image::BuiltImage;
use crate::oci::reference::ImageRef;
use crate::oci::tagged::Tagged;
use crate::plan::tree::{FileSource, NodeKind, Tree};
use crate::plan::{self, ImagePlan, LayerPlan, Planned};
use crate::plugins::lower::{LowerFs, LowerLayer};
use crate::recipe::{Base, Recipe};
use crate::transport::{self, Want};

use super::prepare::PlannedUnit;
use super::units::Units;
use super::{ComposeError, Context};

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

/// What a node made.
enum Product {
    /// A layer, and what its plugins printed.
    Layer(BuiltLayer, Vec<String>),
    Image(Box<BuiltImage>),
}

pub(super) struct BuildGraph {
    nodes: Vec<Node>,
    /// By node: the nodes it waits for.
    deps: Vec<Vec<usize>>,
    /// By unit: its image node.
    image_nodes: Vec<usize>,
}

impl BuildGraph {
    pub(super) fn new(units: &Units, planned: &[PlannedUnit]) -> BuildGraph {
        let mut graph = BuildGraph { nodes: Vec::new(), deps: Vec::new(), image_nodes: Vec::new() };
        for (unit, PlannedUnit { plan, .. }) in planned.iter().enumerate() {
            let mut image_deps = Vec::new();
            if let Some(parent) = units.units[unit].parent {
                image_deps.push(graph.image_nodes[parent]);
            } else if let Base::Image { .. } = plan.recipe.from {
                image_deps.push(graph.add(Node::Parent { unit }, Vec::new()));
            }
            for (layer, planned) in plan.layers.iter().enumerate() {
                // The parent first, then this image's earlier layers, in order.
                let below = if planned.reads_lower() { image_deps.clone() } else { Vec::new() };
                image_deps.push(graph.add(Node::Layer { unit, layer }, below));
            }
            let image = graph.add(Node::Image { unit }, image_deps);
            graph.image_nodes.push(image);
        }
        graph
    }

    fn add(&mut self, node: Node, deps: Vec<usize>) -> usize {
        self.nodes.push(node);
        self.deps.push(deps);
        self.nodes.len() - 1
    }

    /// Runs every node on `pool`, each as soon as those it waits for are done.
    pub(super) fn run<'g>(
        &'g self,
        planned: &[PlannedUnit],
        context: &Context,
        pool: &ThreadPool,
    ) -> Result<Built<'g>, ComposeError> {
        context.progress.planned(self.nodes.len());
        let builder = Builder { graph: self, planned, context };
        let products = pool.install(|| executor::execute(&self.deps, &|node, done| builder.run(node, done)))?;
        Ok(Built { products, graph: self })
    }

    /// Every layer below `node` (its dependencies' layers, in order).
    fn layers_below(&self, node: usize, done: &Done<Product>) -> Vec<BuiltLayer> {
        let products = self.deps[node].iter().filter_map(|&d| done.get(d));
        products
            .flat_map(|product| match product {
                Product::Image(image) => image.layers.clone(),
                Product::Layer(layer, _) => vec![layer.clone()],
            })
            .collect()
    }
}

/// What every node of one build reads.
struct Builder<'a> {
    graph: &'a BuildGraph,
    /// By unit.
    planned: &'a [PlannedUnit],
    context: &'a Context<'a>,
}

impl Builder<'_> {
    fn run(&self, node: usize, done: &Done<Product>) -> Result<Product, ComposeError> {
        match self.graph.nodes[node] {
            Node::Parent { unit } => self.fetch_parent(unit),
            Node::Layer { unit, layer } => {
                self.layer(&self.planned[unit], unit, layer, || self.graph.layers_below(node, done))
            }
            Node::Image { unit } => self.image(&self.planned[unit].plan, node, done),
        }
    }

    /// The parent image of `unit`, fetched by the digest its lock file
    /// records (a local image read as it is, then checked against it).
    fn fetch_parent(&self, unit: usize) -> Result<Product, ComposeError> {
        let plan = &self.planned[unit].plan;
        let Base::Image { reference, name, written, .. } = &plan.recipe.from else {
            unreachable!("a parent node has a parent image")
        };
        let Context { request, store, progress, pins, .. } = self.context;
        let Some(pin) = &pins[unit] else { unreachable!("every parent image is pinned before the build runs") };
        let want = Want::Platform(plan.platform.clone());
        let parent_error = |source| ComposeError::Parent { recipe: plan.recipe.file.name.clone(), source };
        // Pushed to the parent's registry with nothing reading its layers:
        // they are mounted there, never downloaded.
        let documents_only = matches!(&pin.fetch, ImageRef::Docker(parent)
            if self.context.mount_only.as_ref() == Some(&parent.registry));
        let tagged = if documents_only {
            transport::fetch_documents(&pin.fetch, &want, store, &request.registry)
        } else {
            transport::fetch(&pin.fetch, &want, store, &request.registry)
        };
        let tagged = tagged.map_err(parent_error)?;
        let Some(mut image) = tagged.images.into_iter().next() else {
            let message = format!("no image for {}", plan.platform);
            return Err(parent_error(transport::TransportError::image(&reference.to_string(), message)));
        };
        if image.manifest.digest != pin.manifest {
            let what = format!("its manifest for {}", plan.platform);
            return Err(LockError::Changed {
                reference: written.clone(),
                lock: pin.lock.clone(),
                what,
                locked: pin.manifest.to_string(),
                found: image.manifest.digest.to_string(),
            }
            .into());
        }
        image.name.clone_from(name);
        if !documents_only {
            transport::verify_layers(&image, name, store).map_err(parent_error)?;
        }
        progress.finished(Finished::Parent {
            recipe: plan.recipe.file.name.clone(),
            platform: plan.platform.to_string(),
            reference: name.clone(),
            digest: image.manifest.digest.to_string(),
        });
        Ok(Product::Image(Box::new(image)))
    }

    /// Layer `index` of `unit`: reused from the cache by its walk key, else
    /// taken from the shared cache, else arranged (its deferred plugins run
    /// on the layers `below`) and written.
    fn layer(
        &self,
        unit: &PlannedUnit,
        unit_index: usize,
        index: usize,
        below: impl FnOnce() -> Vec<BuiltLayer>,
    ) -> Result<Product, ComposeError> {
        let plan = &unit.plan;
        let planned = &plan.layers[index];
        let stat = unit.stat_keys[index].clone();
        if let Planned::Cached(_) = planned {
            let keys = LayerKeys { content: None, stat: stat.clone() };
            let reused = reuse_cached(planned.name(), &keys, self.context.store).map_err(|e| build_error(plan, e))?;
            if let Some(built) = reused {
                return Ok(self.layer_done(plan, planned.name(), built, Vec::new()));
            }
        }
        let key = self.context.keys.get(unit_index).and_then(|keys| keys.get(index)).cloned().flatten();
        if let Some(key) = key
            && let Some(built) = self.shared_cache_layer(plan, planned.name(), key, stat.clone())?
        {
            return Ok(self.layer_done(plan, planned.name(), built, Vec::new()));
        }
        let arranged = planned.arranged().map_err(|e| plan_error(plan, vec![e]))?;
        if arranged.reads_lower() {
            let completed = self.complete(plan, &arranged, below())?;
            if let Some(built) = self.keyed_once_completed(plan, &completed, stat.clone())? {
                return Ok(self.layer_done(plan, &completed.name, built, completed.log.clone()));
            }
            self.write_layer(plan, &completed, stat)
        } else {
            self.write_layer(plan, &arranged, stat)
        }
    }

    /// Layer `name` keyed `key` from the local cache, else from the shared
    /// cache when it has it: mounted by the push when the build needs no
    /// bytes of it there, else fetched and checked. None when neither has
    /// it, or the shared cache's entry cannot be used (a warning).
    fn shared_cache_layer(
        &self,
        plan: &ImagePlan,
        name: &str,
        key: Digest,
        stat: Option<Digest>,
    ) -> Result<Option<LayerBuild>, ComposeError> {
        let Context { store, shared, mount_only, .. } = self.context;
        let Some(hit) = shared.hit(&key) else { return Ok(None) };
        let keys = LayerKeys { content: Some(key.clone()), stat: stat.clone() };
        if let Some(local) = reuse_cached(name, &keys, store).map_err(|e| build_error(plan, e))? {
            return Ok(Some(local));
        }
        let layer = if mount_only.as_ref() == Some(&hit.repository.registry) {
            shared.mount_later(&hit, store)
        } else {
            let filed: Vec<&Digest> = std::iter::once(&key).chain(&stat).collect();
            match shared.fetch(&hit, &filed, store) {
                Ok(layer) => layer,
                Err(error) => {
                    shared.warn(format!("{error}; building {name} locally"));
                    return Ok(None);
                }
            }
        };
        self.context.from_cache.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let layer = BuiltLayer { name: name.to_owned(), reused: true, ..layer };
        Ok(Some(LayerBuild { layer, key, hashed: Vec::new() }))
    }

    /// A layer whose plugins read the layers below, keyed now that they
    /// ran: from the local cache, else from the shared cache (looked up
    /// now: its key was not known before the build). None when neither has
    /// it, or no shared cache is used (the writer then looks locally).
    fn keyed_once_completed(
        &self,
        plan: &ImagePlan,
        layer: &LayerPlan,
        stat: Option<Digest>,
    ) -> Result<Option<LayerBuild>, ComposeError> {
        let Context { request, store, shared, keys, .. } = self.context;
        if keys.is_empty() || !inputs_known(&layer.tree) {
            return Ok(None);
        }
        let key = layer_key(&layer.tree, &layer.salt, &request.settings);
        let local = LayerKeys { content: Some(key.clone()), stat: stat.clone() };
        if let Some(built) = reuse_cached(&layer.name, &local, store).map_err(|e| build_error(plan, e))? {
            return Ok(Some(built));
        }
        shared.look_up_late(&key);
        self.shared_cache_layer(plan, &layer.name, key, stat)
    }

    /// Runs the deferred plugins of `layer` on the layers `below` it.
    fn complete(&self, plan: &ImagePlan, layer: &LayerPlan, below: Vec<BuiltLayer>) -> Result<LayerPlan, ComposeError> {
        let Context { request, store, .. } = self.context;
        let lower_ids: Vec<String> = below.iter().map(|l| l.diff_id.to_string()).collect();
        let layers = below.into_iter().map(|l| LowerLayer {
            path: store.blob_path(&l.digest),
            media_type: l.media_type,
            diff_id: l.diff_id.clone(),
        });
        let lower = LowerFs::open(layers.collect()).map_err(|message| {
            let errors = layer.deferred.iter().take(1).map(|p| p.loc.error(message.to_string(), "layer plugin"));
            plan_error(plan, errors.collect())
        })?;
        let epoch = request.settings.source_date_epoch;
        plan::complete(layer, &plan.recipe, &plan.platform, epoch, Arc::new(lower), &lower_ids, store)
            .map_err(|e| plan_error(plan, vec![e]))
    }

    fn write_layer(&self, plan: &ImagePlan, layer: &LayerPlan, stat: Option<Digest>) -> Result<Product, ComposeError> {
        let Context { request, store, progress, .. } = self.context;
        let settings = &request.settings;
        let id = layer_id(plan, &layer.name);
        let reporter = Reporter { progress: *progress, id: &id };
        let content = inputs_known(&layer.tree).then(|| layer_key(&layer.tree, &layer.salt, settings));
        let keys = LayerKeys { content, stat };
        let built =
            build_layer(layer, &keys, settings, store, request.reuse, &reporter).map_err(|e| build_error(plan, e))?;
        if !built.hashed.is_empty() {
            let (recipe, platform) = (&plan.recipe, &plan.platform);
            plan::inputs::record_hashed(&layer.tree, &built.hashed, recipe, &layer.name, platform, store);
        }
        Ok(self.layer_done(plan, &layer.name, built, layer.log.clone()))
    }

    fn layer_done(&self, plan: &ImagePlan, name: &str, built: LayerBuild, log: Vec<String>) -> Product {
        if self.context.shared.missed(&built.key) {
            let mut keys = self.context.built_keys.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            keys.insert(built.key.clone(), built.layer.clone());
        }
        self.context.progress.finished(Finished::Layer {
            id: layer_id(plan, name),
            recipe: plan.recipe.file.name.clone(),
            platform: plan.platform.to_string(),
            layer: name.to_owned(),
            digest: built.layer.digest.to_string(),
            size: built.layer.size,
            key: built.key.to_string(),
            reused: built.layer.reused,
        });
        Product::Layer(built.layer, log)
    }

    /// The image of `plan` at `node`: its parent image and its layers,
    /// assembled.
    fn image(&self, plan: &ImagePlan, node: usize, done: &Done<Product>) -> Result<Product, ComposeError> {
        let Context { request, store, progress, .. } = self.context;
        let products = || self.graph.deps[node].iter().filter_map(|&d| done.get(d));
        let layers = products()
            .filter_map(|product| match product {
                Product::Layer(layer, _) => Some(layer.clone()),
                Product::Image(_) => None,
            })
            .collect();
        let parent = products().find_map(|product| match product {
            Product::Image(image) => Some(image.as_ref()),
            Product::Layer(..) => None,
        });
        let epoch = request.settings.source_date_epoch;
        let mut remarks = Vec::new();
        let image =
            assemble(&plan.recipe, &plan.platform, parent, layers, epoch, store, &mut remarks).map_err(|source| {
                match source {
                    AssembleError::Recipe(error) => {
                        ComposeError::Plan { recipe: plan.recipe.file.name.clone(), errors: vec![error] }
                    }
                    source => ComposeError::Assemble { recipe: plan.recipe.file.name.clone(), source },
                }
            })?;
        self.context.remarks.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend(remarks);
        progress.finished(Finished::Image {
            recipe: plan.recipe.file.name.clone(),
            platform: plan.platform.to_string(),
            digest: image.manifest.digest.to_string(),
        });
        Ok(Product::Image(Box::new(image)))
    }
}

fn plan_error(plan: &ImagePlan, errors: Vec<crate::recipe::LocatedError>) -> ComposeError {
    ComposeError::Plan { recipe: plan.recipe.file.name.clone(), errors }
}

fn build_error(plan: &ImagePlan, source: crate::layer::BuildError) -> ComposeError {
    ComposeError::Build { recipe: plan.recipe.file.name.clone(), source }
}

/// Whether the content of every host input of `tree` is known.
pub(super) fn inputs_known(tree: &Tree) -> bool {
    tree.iter().all(|(_, n)| !matches!(&n.kind, NodeKind::File(FileSource::Host { content: None, .. })))
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

/// What every node made, by node.
pub(super) struct Built<'g> {
    products: Vec<Product>,
    graph: &'g BuildGraph,
}

impl Built<'_> {
    /// Every layer and what its plugins printed, in node order.
    pub(super) fn layers(&self) -> impl Iterator<Item = (&BuiltLayer, &[String])> {
        self.products.iter().filter_map(|product| match product {
            Product::Layer(layer, log) => Some((layer, log.as_slice())),
            Product::Image(_) => None,
        })
    }

    /// Every image, fetched or assembled, in node order.
    pub(super) fn images(&self) -> impl Iterator<Item = &BuiltImage> {
        self.products.iter().filter_map(|product| match product {
            Product::Image(image) => Some(image.as_ref()),
            Product::Layer(..) => None,
        })
    }

    /// The image of `unit`.
    pub(super) fn image(&self, unit: usize) -> Option<&BuiltImage> {
        match self.products.get(self.graph.image_nodes[unit]) {
            Some(Product::Image(image)) => Some(image.as_ref()),
            _ => None,
        }
    }

    /// What `recipe` is: the image of its one unit, else an index of the
    /// images of its `units`.
    pub(super) fn tagged(&self, recipe: &Recipe, units: &[usize], context: &Context) -> Result<Tagged, ComposeError> {
        let images: Vec<BuiltImage> = units
            .iter()
            .filter_map(|&unit| match self.products.get(self.graph.image_nodes[unit]) {
                Some(Product::Image(image)) => Some(image.as_ref().clone()),
                _ => None,
            })
            .collect();
        if images.len() == 1 {
            return Ok(Tagged::single(images.into_iter().next().unwrap_or_else(|| unreachable!("one image"))));
        }
        let epoch = context.request.settings.source_date_epoch;
        assemble_index(recipe, images, epoch, context.store)
            .map_err(|source| ComposeError::Assemble { recipe: recipe.file.name.clone(), source })
    }
}

/// How progress names layer `name` of `plan`: platform first, so that a
/// line cut to the terminal's width keeps it.
fn layer_id(plan: &ImagePlan, name: &str) -> String {
    format!("({}) {} {name}", plan.platform, plan.recipe.file.name)
}
