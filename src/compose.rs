//! One `compose-img build`: load every recipe, check every output, plan,
//! build the layers, assemble the image and write it to each output.
//! Everything that can be refused is refused before the first blob is
//! written.

use std::path::PathBuf;
use std::sync::Arc;

use crate::build::{self, BuildSettings};
use crate::digest::Digest;
use crate::error::Error;
use crate::oci::image::assemble;
use crate::oci::layout::write_layout;
use crate::oci::reference::ImageRef;
use crate::plan;
use crate::recipe::{self, Recipe};
use crate::store::Store;

pub struct BuildRequest {
    pub recipes: Vec<PathBuf>,
    /// Where to write; empty means each recipe's default (`oci:out/<name>`).
    pub outputs: Vec<ImageRef>,
    pub store: PathBuf,
    pub settings: BuildSettings,
}

/// What was written for one recipe.
#[derive(Debug)]
pub struct BuiltReport {
    pub recipe: String,
    pub manifest: Digest,
    pub outputs: Vec<String>,
    pub layers: usize,
}

pub fn build(request: &BuildRequest) -> Result<Vec<BuiltReport>, Error> {
    if !request.outputs.is_empty() && request.recipes.len() > 1 {
        return Err(Error::Usage(
            "--output needs exactly one recipe; several recipes each go to their own default output".into(),
        ));
    }
    let recipes = load_all(&request.recipes)?;
    let targets: Vec<Vec<(PathBuf, Vec<String>, String)>> =
        recipes.iter().map(|r| destinations(r, &request.outputs)).collect::<Result<_, _>>()?;

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(request.settings.jobs as usize)
        .build()
        .map_err(|_| Error::Workers(request.settings.jobs))?;
    let plans = pool.install(|| {
        recipes
            .iter()
            .map(|r| plan::plan(Arc::clone(r)).map_err(|errors| Error::Plan { recipe: r.file.name.clone(), errors }))
            .collect::<Result<Vec<_>, _>>()
    })?;

    let store = Store::open(&request.store)?;
    let mut reports = Vec::new();
    for (plan, targets) in plans.iter().zip(targets) {
        let recipe = &plan.recipe;
        let name = recipe.file.name.clone();
        let layers = pool
            .install(|| build::build_layers(plan, &request.settings, &store))
            .map_err(|source| Error::Build { recipe: name.clone(), source })?;
        let layer_count = layers.len();
        let image = assemble(recipe, &plan.platform, layers, request.settings.source_date_epoch, &store)
            .map_err(|source| Error::Assemble { recipe: name.clone(), source })?;
        let mut outputs = Vec::new();
        for (dir, tags, shown) in targets {
            write_layout(&dir, &store, &image, &tags)
                .map_err(|source| Error::Output { output: shown.clone(), source })?;
            outputs.push(shown);
        }
        reports.push(BuiltReport { recipe: name, manifest: image.manifest.digest, outputs, layers: layer_count });
    }
    Ok(reports)
}

fn load_all(paths: &[PathBuf]) -> Result<Vec<Arc<Recipe>>, Error> {
    let mut recipes = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match recipe::load(path) {
            Ok(r) => recipes.push(Arc::new(r)),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() { Ok(recipes) } else { Err(Error::Recipes(errors)) }
}

/// The layout directories, tags and display names `recipe` is written to.
fn destinations(recipe: &Recipe, outputs: &[ImageRef]) -> Result<Vec<(PathBuf, Vec<String>, String)>, Error> {
    let default = [ImageRef::Oci { dir: PathBuf::from("out").join(recipe.image.short_name()), tag: None }];
    let outputs = if outputs.is_empty() { &default[..] } else { outputs };
    outputs
        .iter()
        .map(|output| match output {
            ImageRef::Oci { dir, tag } => {
                let tags = match tag {
                    Some(tag) => vec![tag.clone()],
                    None => recipe.image.tags.clone(),
                };
                Ok((dir.clone(), tags, output.to_string()))
            }
            other => Err(Error::Unsupported(format!(
                "writing to {other} is not supported yet by this version: use an oci:DIR[:TAG] output"
            ))),
        })
        .collect()
}
