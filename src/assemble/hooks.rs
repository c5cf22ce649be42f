//! The image-level hooks of a recipe's `[[plugin]]`s: `config` gets the
//! runtime config and `manifest` the annotations, in recipe order; what
//! they hand back is checked before it replaces the original. A hook
//! declared `fn config(ctx, cfg, args)` gets a read-only `ctx` over the
//! image's merged file system and the recipe's directory.

#![allow(clippy::disallowed_types, reason = "oci-spec's builders take HashMaps; the JSON goes through json::canonical")]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use oci_spec::image::Config;

use super::AssembleError;
use crate::oci::image::BuiltLayer;
use crate::oci::platform::Platform;
use crate::plugins::HookError;
use crate::plugins::ctx::{self, LayerCtx};
use crate::plugins::lower::{LowerFs, LowerLayer};
use crate::recipe::names::{ControlCharacter, no_control_characters};
use crate::recipe::{PluginUse, RESERVED_ANNOTATIONS, Recipe};
use crate::store::Store;

/// The keys of the runtime config a `config` hook may hand back.
const CONFIG_KEYS: [&str; 9] =
    ["User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels", "StopSignal"];

/// Where the image hooks run: the recipe, and the image's layers (the
/// parent's and the recipe's), which a hook taking `ctx` reads.
pub(super) struct Setting<'a> {
    pub recipe: &'a Recipe,
    pub platform: &'a Platform,
    pub epoch: u64,
    pub layers: &'a [BuiltLayer],
    pub store: &'a Store,
}

/// Runs the `config` and `manifest` hooks of the recipe's `[[plugin]]`s,
/// in order, on the runtime config (OCI JSON names) and the annotations.
/// A hook's failure, or what it hands back, is located in its script and
/// at its recipe entry.
pub(super) fn run(
    setting: &Setting<'_>,
    config: &mut Config,
    annotations: &mut HashMap<String, String>,
    log: &mut Vec<String>,
) -> Result<(), AssembleError> {
    let mut image_fs: Option<Arc<LowerFs>> = None;
    for entry in &setting.recipe.plugins {
        let plugin = crate::plugins::load(entry).map_err(AssembleError::Hook)?;
        let located = |e: HookError| AssembleError::Hook(entry.loc.error(e.0, "image plugin"));
        let (has_config, has_manifest) = (plugin.defines("config"), plugin.defines("manifest"));
        if !has_config && !has_manifest {
            let message = format!(
                "{} defines neither `fn config(cfg, args)` nor `fn manifest(annotations, args)` (each may take \
                 `ctx` first)",
                entry.shown
            );
            return Err(AssembleError::Hook(entry.loc.error(message, "image plugin")));
        }
        let mut ctx = |hook: &'static str| -> Result<Option<LayerCtx>, AssembleError> {
            if !plugin.takes_ctx(hook) {
                return Ok(None);
            }
            let fs = match &image_fs {
                Some(fs) => Arc::clone(fs),
                None => Arc::clone(image_fs.insert(Arc::new(open_image_fs(setting, entry)?))),
            };
            let ctx_setting = ctx::Setting {
                recipe_dir: setting.recipe.dir.clone(),
                platform: setting.platform.clone(),
                source_date_epoch: setting.epoch,
                lower: Some(fs),
            };
            Ok(Some(LayerCtx::read_only(ctx_setting, hook)))
        };
        if has_config {
            let value = serde_json::to_value(&*config).map_err(|e| AssembleError::Plugin(e.to_string()))?;
            let hook_ctx = ctx("config")?;
            let (result, printed) = plugin.run_map_hook("config", &value, entry, hook_ctx.as_ref(), &check_config);
            log.extend(printed.into_iter().map(|line| format!("{}: {line}", entry.shown)));
            let value = result.map_err(located)?;
            *config = serde_json::from_value(value).map_err(|e| {
                let message = format!(
                    "{} (called by {}): fn config handed back an invalid config: {e}",
                    entry.shown,
                    entry.loc.position()
                );
                AssembleError::Hook(entry.loc.error(message, "image plugin"))
            })?;
        }
        if has_manifest {
            let value = serde_json::to_value(&*annotations).map_err(|e| AssembleError::Plugin(e.to_string()))?;
            let hook_ctx = ctx("manifest")?;
            let (result, printed) = plugin.run_map_hook("manifest", &value, entry, hook_ctx.as_ref(), &check_manifest);
            log.extend(printed.into_iter().map(|line| format!("{}: {line}", entry.shown)));
            let value = result.map_err(located)?;
            let map: BTreeMap<String, String> =
                serde_json::from_value(value).map_err(|e| AssembleError::Plugin(e.to_string()))?;
            *annotations = map.into_iter().collect();
        }
    }
    Ok(())
}

/// The merged file system of the image's layers, for hooks taking `ctx`.
fn open_image_fs(setting: &Setting<'_>, entry: &PluginUse) -> Result<LowerFs, AssembleError> {
    let layers = setting.layers.iter().map(|l| LowerLayer {
        path: setting.store.blob_path(&l.digest),
        media_type: l.media_type,
        diff_id: l.diff_id.clone(),
    });
    LowerFs::open(layers.collect()).map_err(|e| AssembleError::Hook(entry.loc.error(e.to_string(), "image plugin")))
}

/// What is wrong with what an image hook handed back.
#[derive(Debug, thiserror::Error)]
enum HandedBack {
    #[error("fn config must hand back a map")]
    NotAMap,
    #[error("fn config handed back {at} with {found}: the image config holds none")]
    ConfigControl { at: String, found: ControlCharacter },
    #[error("fn config handed back `{key}`, which is not a config field ({})", CONFIG_KEYS.join(", "))]
    NotAField { key: String },
    #[error("fn config handed back an invalid config: {0}")]
    InvalidConfig(serde_json::Error),
    #[error("fn manifest must hand back a map of strings: {0}")]
    NotStrings(serde_json::Error),
    #[error("fn manifest handed back an annotation with {0}: annotations hold none")]
    AnnotationControl(ControlCharacter),
    #[error("fn manifest may not set `{0}`: compose-img sets it")]
    Reserved(String),
}

/// What is wrong with the config a `config` hook handed back.
fn check_config(value: &serde_json::Value) -> Result<(), HandedBack> {
    let map = value.as_object().ok_or(HandedBack::NotAMap)?;
    for (key, field) in map {
        if let Some(found) = control_character(key, field) {
            let at = if no_control_characters(key).is_ok() { format!("`{key}`") } else { "a key".into() };
            return Err(HandedBack::ConfigControl { at, found });
        }
    }
    if let Some(key) = map.keys().find(|k| !CONFIG_KEYS.contains(&k.as_str())) {
        return Err(HandedBack::NotAField { key: key.clone() });
    }
    serde_json::from_value::<Config>(value.clone()).map_err(HandedBack::InvalidConfig)?;
    Ok(())
}

/// What is wrong with the annotations a `manifest` hook handed back.
fn check_manifest(value: &serde_json::Value) -> Result<(), HandedBack> {
    let map: BTreeMap<String, String> = serde_json::from_value(value.clone()).map_err(HandedBack::NotStrings)?;
    if let Some(found) = map.iter().find_map(|(k, v)| no_control_characters(k).and(no_control_characters(v)).err()) {
        return Err(HandedBack::AnnotationControl(found));
    }
    if let Some(key) = map.keys().find(|k| RESERVED_ANNOTATIONS.contains(&k.as_str())) {
        return Err(HandedBack::Reserved(key.clone()));
    }
    Ok(())
}

/// The first control character in `key` or in any string (or map key) of
/// `value`: what a hook hands back goes into the config as it is.
fn control_character(key: &str, value: &serde_json::Value) -> Option<ControlCharacter> {
    let mut texts = vec![key];
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            serde_json::Value::String(text) => texts.push(text),
            serde_json::Value::Array(items) => stack.extend(items),
            serde_json::Value::Object(map) => {
                texts.extend(map.keys().map(String::as_str));
                stack.extend(map.values());
            }
            _ => {}
        }
    }
    texts.into_iter().find_map(|text| no_control_characters(text).err())
}
