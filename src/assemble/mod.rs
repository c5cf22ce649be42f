//! Image assembly: the layers a recipe built, stacked on its parent's, with
//! the recipe's config applied by Docker's rules ([`config`]) and its
//! image-level plugins' hooks ([`hooks`]) → the image config and manifest
//! in the store, with the warnings only the built image can tell
//! ([`checks`]); the index of a multi-platform recipe; the image
//! `compose-img commit` makes.

#![allow(clippy::disallowed_types, reason = "oci-spec's builders take HashMaps; the JSON goes through json::canonical")]

mod checks;
mod config;
mod hooks;

use std::collections::HashMap;

use oci_spec::image::{
    ANNOTATION_BASE_IMAGE_DIGEST, ANNOTATION_BASE_IMAGE_NAME, ANNOTATION_CREATED, Arch, HistoryBuilder,
    ImageConfigurationBuilder, Os, RootFsBuilder,
};
use thiserror::Error;

use crate::oci::image::{BuiltImage, BuiltLayer, ImageError, rfc3339, write_index, write_json, write_manifest};
use crate::oci::media;
use crate::oci::platform::Platform;
use crate::oci::tagged::Tagged;
use crate::recipe::{LocatedError, Recipe};
use crate::store::Store;

#[derive(Debug, Error)]
pub(crate) enum AssembleError {
    #[error(transparent)]
    Image(#[from] ImageError),
    /// What an image-level plugin got could not be made.
    #[error("{0}")]
    Plugin(String),
    /// An image-level plugin failed or handed back something invalid,
    /// located at its recipe entry (and in its script).
    #[error(transparent)]
    Hook(LocatedError),
    /// A `[config]` entry that cannot be applied to the parent's config.
    #[error(transparent)]
    Recipe(LocatedError),
}

/// Writes the config and manifest of `recipe` for `platform` to the store:
/// `layers` stacked on `parent`'s, its config patched by the recipe's
/// (warnings about it go to `remarks`).
pub(crate) fn assemble(
    recipe: &Recipe,
    platform: &Platform,
    parent: Option<&BuiltImage>,
    layers: Vec<BuiltLayer>,
    epoch: u64,
    store: &Store,
    remarks: &mut Vec<LocatedError>,
) -> Result<BuiltImage, AssembleError> {
    let created = rfc3339(epoch);
    let base = parent.map(|p| &p.config_json);
    let mut history = base.and_then(|b| b.history().clone()).unwrap_or_default();
    for layer in &layers {
        let entry = HistoryBuilder::default()
            .created(created.clone())
            .created_by(format!("compose-img layer {}", layer.name))
            .build()
            .map_err(ImageError::spec("history"))?;
        history.push(entry);
    }
    let all_layers: Vec<BuiltLayer> =
        parent.map(|p| p.layers.clone()).unwrap_or_default().into_iter().chain(layers).collect();
    let rootfs = RootFsBuilder::default()
        .typ("layers")
        .diff_ids(all_layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>())
        .build()
        .map_err(ImageError::spec("rootfs"))?;
    let mut annotations: HashMap<String, String> = recipe.annotations.clone().into_iter().collect();
    let parent_config = base.and_then(|b| b.config().as_ref());
    let mut runtime =
        config::runtime_config(parent_config, &recipe.config, &recipe.vars, remarks).map_err(AssembleError::Recipe)?;
    let mut log = Vec::new();
    let setting = hooks::Setting { recipe, platform, epoch, layers: &all_layers, store };
    hooks::run(&setting, &mut runtime, &mut annotations, &mut log)?;
    let mut config = ImageConfigurationBuilder::default()
        .created(created.clone())
        .architecture(Arch::from(platform.architecture.as_str()))
        .os(Os::from(platform.os.as_str()))
        .config(runtime)
        .rootfs(rootfs)
        .history(history);
    if let Some(variant) = &platform.variant {
        config = config.variant(variant.clone());
    }
    let config_json = config.build().map_err(ImageError::spec("config"))?;
    let config_blob = write_json(&config_json, store)?;
    remarks.extend(checks::check(recipe, &all_layers, store));

    annotations.insert(ANNOTATION_CREATED.to_owned(), created);
    if let Some(parent) = parent {
        annotations.insert(ANNOTATION_BASE_IMAGE_NAME.to_owned(), parent.name.clone());
        annotations.insert(ANNOTATION_BASE_IMAGE_DIGEST.to_owned(), parent.manifest.digest.to_string());
    }
    let manifest_blob = write_manifest(&config_blob, &all_layers, annotations, store)?;
    let name = format!("{}:{}", recipe.image.name, recipe.image.tags.first().map_or("latest", String::as_str));
    Ok(BuiltImage {
        name,
        manifest: manifest_blob,
        media_type: media::MANIFEST.to_owned(),
        platform: platform.clone(),
        origin: parent.and_then(|p| p.origin.clone()),
        config: config_blob,
        config_json,
        layers: all_layers,
        log,
    })
}

/// `parent` with one more layer on top, as `compose-img commit` makes it:
/// the parent's config and history, plus a history entry
/// (`created_by` "compose-img commit", `comment` the message), every
/// timestamp from `epoch`, and the parent pinned in the annotations.
pub(crate) fn commit_image(
    parent: &BuiltImage,
    layer: BuiltLayer,
    message: Option<&str>,
    epoch: u64,
    store: &Store,
) -> Result<BuiltImage, AssembleError> {
    let created = rfc3339(epoch);
    let mut config_json = parent.config_json.clone();
    let mut history = config_json.history().clone().unwrap_or_default();
    let mut entry = HistoryBuilder::default().created(created.clone()).created_by("compose-img commit");
    if let Some(message) = message {
        entry = entry.comment(message);
    }
    history.push(entry.build().map_err(ImageError::spec("history"))?);
    config_json.set_history(Some(history));
    config_json.set_created(Some(created.clone()));
    let mut diff_ids = config_json.rootfs().diff_ids().clone();
    diff_ids.push(layer.diff_id.to_string());
    config_json.rootfs_mut().set_diff_ids(diff_ids);
    let config_blob = write_json(&config_json, store)?;
    let layers: Vec<BuiltLayer> = parent.layers.iter().cloned().chain([layer]).collect();
    let annotations: HashMap<String, String> = [
        (ANNOTATION_CREATED.to_owned(), created),
        (ANNOTATION_BASE_IMAGE_NAME.to_owned(), parent.name.clone()),
        (ANNOTATION_BASE_IMAGE_DIGEST.to_owned(), parent.manifest.digest.to_string()),
    ]
    .into_iter()
    .collect();
    let manifest_blob = write_manifest(&config_blob, &layers, annotations, store)?;
    Ok(BuiltImage {
        name: parent.name.clone(),
        manifest: manifest_blob,
        media_type: media::MANIFEST.to_owned(),
        platform: parent.platform.clone(),
        origin: parent.origin.clone(),
        config: config_blob,
        config_json,
        layers,
        log: Vec::new(),
    })
}

/// The index of a multi-platform recipe: one entry per image, with its
/// platform, in the recipe's platform order; annotated like its manifests.
pub(crate) fn assemble_index(
    recipe: &Recipe,
    images: Vec<BuiltImage>,
    epoch: u64,
    store: &Store,
) -> Result<Tagged, AssembleError> {
    let annotations: HashMap<String, String> = recipe.annotations.clone().into_iter().collect();
    let root = write_index(&images, annotations, epoch, store)?;
    Ok(Tagged { media_type: media::INDEX.to_owned(), root, images, extras: Vec::new() })
}
