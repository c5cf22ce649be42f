//! What a build attests about each image it writes: the SBOMs asked for
//! (`--sbom`, else the recipe's `sbom`) and the SLSA provenance, whenever
//! the build signs or writes an SBOM; one set of statements per platform
//! image, made once and attached at every destination.

use std::path::Path;

use crate::attest::{self, Flags, Made, Parent, Subject};
use crate::oci::reference::ImageRef;
use crate::oci::tagged::Tagged;
use crate::plan::graph::RecipeGraph;
use crate::recipe::{Base, Recipe, SbomFormat};

use super::nodes::Built;
use super::units::Units;
use super::{ComposeError, Context};

pub(super) use crate::attest::Statements;

/// The SBOM formats a build of `recipe` attaches.
pub(super) fn formats(recipe: &Recipe, context: &Context) -> Vec<SbomFormat> {
    formats_of(recipe, context.request)
}

/// The SBOM formats `request` attaches to `recipe`.
pub(super) fn formats_of(recipe: &Recipe, request: &super::BuildRequest) -> Vec<SbomFormat> {
    request.sbom.clone().unwrap_or_else(|| recipe.image.sbom.clone())
}

/// Whether a build of `recipe` attaches attestations at all.
pub(super) fn wanted(recipe: &Recipe, sbom: Option<&[SbomFormat]>, signs: bool) -> bool {
    signs || !sbom.unwrap_or(&recipe.image.sbom).is_empty()
}

/// The statements about each image of the target recipe `index`, whose
/// units are `of_recipe`.
pub(super) fn statements(
    graph: &RecipeGraph,
    units: &Units,
    index: usize,
    built: &Built,
    context: &Context,
) -> Result<Statements, ComposeError> {
    let recipe = &graph.recipes[index];
    if !wanted(recipe, context.request.sbom.as_deref(), context.request.sign_key.is_some()) {
        return Ok(Vec::new());
    }
    let formats = formats(recipe, context);
    let root = recipe.path.parent().unwrap_or(Path::new("/"));
    let mut out = Vec::new();
    for &unit in &units.of_recipe[index] {
        let Some(image) = built.image(unit) else { continue };
        let (recipes, parents) = lineage(graph, units, unit, built, context, root, image.layers.len());
        let flags = Flags {
            epoch: context.request.settings.source_date_epoch,
            compression: context.request.settings.compression,
            platforms: &recipe.image.platforms,
        };
        let subject = Subject { image, name: &recipe.image.name, recipes, parents, flags, root };
        let statements = attest::statements(&subject, &formats, context.store)
            .map_err(|source| ComposeError::Attest { recipe: recipe.file.name.clone(), source })?;
        out.push((image.manifest.digest.clone(), statements));
    }
    Ok(out)
}

/// The recipes whose layers the image of `unit` holds (its own last), and
/// the images it stacks on (nearest first).
fn lineage<'a>(
    graph: &'a RecipeGraph,
    units: &Units,
    unit: usize,
    built: &Built,
    context: &Context,
    root: &Path,
    layers: usize,
) -> (Vec<Made<'a>>, Vec<Parent>) {
    let mut recipes = Vec::new();
    let mut parents = Vec::new();
    let mut top = layers;
    let mut cursor = Some(unit);
    while let Some(current) = cursor {
        let recipe = &graph.recipes[units.units[current].recipe];
        let first_layer = top.saturating_sub(recipe.layers.len());
        recipes.push(Made { recipe, first_layer, uri: attest::uri(&recipe.path, root) });
        top = first_layer;
        match &recipe.from {
            Base::Scratch => cursor = None,
            Base::Image { name, .. } => {
                if let Some(pin) = &context.pins[current] {
                    parents.push(Parent { name: name.clone(), digest: pin.manifest.clone() });
                }
                cursor = None;
            }
            Base::Recipe { .. } => {
                let parent = units.units[current].parent;
                if let Some(image) = parent.and_then(|p| built.image(p)) {
                    parents.push(Parent { name: image.name.clone(), digest: image.manifest.digest.clone() });
                }
                cursor = parent;
            }
        }
    }
    recipes.reverse();
    (recipes, parents)
}

/// The attestation manifests to write beside `tagged` at `reference`.
pub(super) fn attachments(
    statements: &Statements,
    tagged: &Tagged,
    reference: &ImageRef,
    context: &Context,
) -> Result<Vec<crate::transport::Attachment>, ComposeError> {
    if statements.is_empty() {
        return Ok(Vec::new());
    }
    let key = context.request.sign_key.as_ref();
    let output = reference.to_string();
    attest::attached::attachments(statements, tagged, reference, key, context.store, &context.request.registry)
        .map_err(|source| ComposeError::Attach { output, source })
}
