//! Where each named recipe goes: its destinations, checked before anything
//! is built, and written (signed and attested if asked) once every image
//! is.

use std::path::{Path, PathBuf};

use crate::layer::progress::Finished;
use crate::oci::reference::ImageRef;
use crate::oci::tagged::Tagged;
use crate::plan::Planned;
use crate::plan::graph::RecipeGraph;
use crate::recipe::{EntryKind, Recipe};
use crate::sign;
use crate::transport;

use super::attestations::Statements;
use super::prepare::PlannedUnit;
use super::summary::{BuiltReport, WrittenOutput};
use super::units::Units;
use super::{BuildRequest, ComposeError, Context};

/// A named recipe and where it is written.
pub(super) struct Target {
    /// Index in the recipe graph.
    pub recipe: usize,
    pub destinations: Vec<Destination>,
}

impl Target {
    /// A destination that is a docker archive, which holds one image and
    /// no signatures.
    fn docker_archive(&self) -> Option<&ImageRef> {
        let mut references = self.destinations.iter().map(|d| &d.reference);
        references.find(|r| matches!(r, ImageRef::DockerArchive { .. }))
    }
}

/// Where one image is written, under which tags.
pub(super) struct Destination {
    reference: ImageRef,
    tags: Vec<String>,
}

/// The targets a build of `graph` without `--output` would have.
pub(super) fn targets_by_default(graph: &RecipeGraph) -> Vec<Target> {
    let targets =
        graph.roots.iter().map(|&recipe| Target { recipe, destinations: destinations(&graph.recipes[recipe], &[]) });
    targets.collect()
}

/// The host paths no `copy` may take (canonical where they exist): the
/// store and every file or directory this build writes, so an output
/// inside a copied tree never grows the next image.
pub(super) fn never_copied(targets: &[Target], store: &Path) -> Vec<PathBuf> {
    let locals = targets.iter().flat_map(|t| &t.destinations).filter_map(|d| match &d.reference {
        ImageRef::Oci { dir: path, .. }
        | ImageRef::OciArchive { file: path, .. }
        | ImageRef::DockerArchive { file: path, .. }
        | ImageRef::Dir { dir: path } => Some(path.as_path()),
        _ => None,
    });
    let mut paths: Vec<PathBuf> = std::iter::once(store).chain(locals).map(absolute).collect();
    paths.sort();
    paths.dedup();
    paths
}

/// `path` made absolute and canonical as far as it exists (the last part
/// may not yet).
fn absolute(path: &Path) -> PathBuf {
    if let Ok(canonical) = std::fs::canonicalize(path) {
        return canonical;
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    match (absolute.parent().map(std::fs::canonicalize), absolute.file_name()) {
        (Some(Ok(parent)), Some(name)) => parent.join(name),
        _ => absolute,
    }
}

/// Refuses `--output` with several recipes, before any is read.
pub(super) fn check_request(request: &BuildRequest) -> Result<(), ComposeError> {
    if !request.outputs.is_empty() && request.recipes.len() > 1 {
        return Err(ComposeError::Usage(
            "--output needs exactly one recipe; several recipes each go to their own default output".into(),
        ));
    }
    Ok(())
}

/// The targets of every recipe named in the request, refused when a
/// destination cannot hold what it would get.
pub(super) fn targets(graph: &RecipeGraph, units: &Units, request: &BuildRequest) -> Result<Vec<Target>, ComposeError> {
    let targets: Vec<Target> = graph
        .roots
        .iter()
        .map(|&recipe| Target { recipe, destinations: destinations(&graph.recipes[recipe], &request.outputs) })
        .collect();
    if request.sign_key.is_some()
        && let Some(place) = targets.iter().flat_map(|t| &t.destinations).find(|d| !d.reference.holds_signatures())
    {
        let place = &place.reference;
        return Err(ComposeError::Usage(format!("{place} cannot hold signatures: drop --key or the output")));
    }
    for target in &targets {
        let recipe = &graph.recipes[target.recipe];
        if super::attestations::wanted(recipe, request.sbom.as_deref(), false)
            && let Some(place) = target.destinations.iter().find(|d| !d.reference.holds_signatures())
        {
            let place = &place.reference;
            let why = if request.sbom.is_some() { "--sbom" } else { "the recipe's `sbom`" };
            return Err(ComposeError::Usage(format!(
                "{place} cannot hold attestations ({} asks for SBOMs through {why}): use --sbom none or another output",
                recipe.file.name
            )));
        }
    }
    for target in &targets {
        let platforms = units.of_recipe[target.recipe].len();
        if platforms > 1
            && let Some(archive) = target.docker_archive()
        {
            return Err(ComposeError::Usage(format!(
                "{archive} holds one platform and {} builds {platforms}: pick one with --platform",
                graph.recipes[target.recipe].file.name,
            )));
        }
    }
    Ok(targets)
}

/// Where `recipe` is written: each output (default `oci:out/<name>`) with
/// the tag it names, else every tag of the recipe.
fn destinations(recipe: &Recipe, outputs: &[ImageRef]) -> Vec<Destination> {
    let default = [ImageRef::Oci { dir: PathBuf::from("out").join(recipe.image.short_name()), tag: None }];
    let outputs = if outputs.is_empty() { &default[..] } else { outputs };
    outputs
        .iter()
        .map(|reference| Destination {
            reference: reference.clone(),
            tags: match reference.tag() {
                Some(tag) => vec![tag.to_owned()],
                None => recipe.image.tags.clone(),
            },
        })
        .collect()
}

/// Writes `tagged`, what `recipe` built, to every destination of `target`
/// and records each output in the store.
pub(super) fn write(
    recipe: &Recipe,
    target: &Target,
    tagged: &Tagged,
    statements: &Statements,
    context: &Context,
) -> Result<BuiltReport, ComposeError> {
    let Context { request, store, progress, .. } = context;
    let mut written = Vec::new();
    for Destination { reference, tags } in &target.destinations {
        let shown = reference.to_string();
        let mut attachments = signatures(recipe, reference, tagged, context)?;
        attachments.extend(super::attestations::attachments(statements, tagged, reference, context)?);
        let result =
            transport::write(reference, tagged, tags, &attachments, &recipe.image.name, store, &request.registry)
                .map_err(|source| ComposeError::Output { output: shown.clone(), source })?;
        let mut blobs = tagged.blobs();
        blobs.extend(attachments.iter().flat_map(|a| a.manifest().blobs()));
        store.record_output(&reference.absolute().to_string(), &blobs)?;
        progress.finished(Finished::Output { reference: shown.clone() });
        // What to paste into compose-img, skopeo or podman: with its tag.
        let pasted = tags.first().map_or(shown, |tag| reference.with_tag(tag).to_string());
        written.push(WrittenOutput { reference: pasted, push: result.push });
    }
    Ok(BuiltReport { manifest: tagged.root.digest.clone(), outputs: written })
}

/// The signatures to write beside `tagged` at `reference`, with `build --key`.
fn signatures(
    recipe: &Recipe,
    reference: &ImageRef,
    tagged: &Tagged,
    context: &Context,
) -> Result<Vec<transport::Attachment>, ComposeError> {
    let Some(key) = &context.request.sign_key else { return Ok(Vec::new()) };
    let identity = match reference {
        ImageRef::Docker(docker) => docker.repo_name(),
        _ => recipe.image.name.clone(),
    };
    Ok(sign::attachments(tagged, reference, &identity, key, context.store, &context.request.registry)?)
}

/// The registry every output of the build goes to, when nothing of the
/// build reads the bytes of its layers (no plugin reading the layers
/// below, no image plugin, no check of `remove` entries or `config.user`;
/// the caller rules out SBOMs):
/// then a layer the shared cache has in that registry is mounted by the
/// push, never fetched.
pub(super) fn mount_only(targets: &[Target], planned: &[PlannedUnit]) -> Option<String> {
    let mut registries = targets.iter().flat_map(|t| &t.destinations).map(|d| match &d.reference {
        ImageRef::Docker(reference) => Some(reference.registry.clone()),
        _ => None,
    });
    let first = registries.next()??;
    if !registries.all(|r| r.as_ref() == Some(&first)) {
        return None;
    }
    let reads_layers = |recipe: &Recipe| {
        let removes = recipe.layers.iter().flat_map(|l| &l.entries).any(|e| matches!(e.kind, EntryKind::Remove { .. }));
        !recipe.plugins.is_empty() || recipe.config.user.is_some() || removes
    };
    let reads =
        planned.iter().any(|unit| unit.plan.layers.iter().any(Planned::reads_lower) || reads_layers(&unit.plan.recipe));
    (!reads).then_some(first)
}
