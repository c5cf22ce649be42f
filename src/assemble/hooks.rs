//! The image-level hooks of a recipe's `[[plugin]]`s: `config` gets the
//! runtime config and `manifest` the annotations, in recipe order; what
//! they hand back is checked before it replaces the original.

#![allow(clippy::disallowed_types, reason = "oci-spec's builders take HashMaps; the JSON goes through json::canonical")]

use std::collections::{BTreeMap, HashMap};

use oci_spec::image::Config;

use super::AssembleError;
use crate::recipe::names::{ControlCharacter, no_control_characters};
use crate::recipe::{RESERVED_ANNOTATIONS, Recipe};

/// The keys of the runtime config a `config` hook may hand back.
const CONFIG_KEYS: [&str; 9] =
    ["User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels", "StopSignal"];

/// Runs the `config` and `manifest` hooks of the recipe's `[[plugin]]`s,
/// in order, on the runtime config (OCI JSON names) and the annotations.
pub(super) fn run(
    recipe: &Recipe,
    config: &mut Config,
    annotations: &mut HashMap<String, String>,
    log: &mut Vec<String>,
) -> Result<(), AssembleError> {
    for entry in &recipe.plugins {
        let plugin =
            crate::plugins::load(entry).map_err(|e| AssembleError::Plugin(format!("{}: {e}", entry.loc.position())))?;
        let bad = |what: String| {
            AssembleError::Plugin(format!("{} (called by {}): {what}", entry.shown, entry.loc.position()))
        };
        let (has_config, has_manifest) = (plugin.defines("config"), plugin.defines("manifest"));
        if !has_config && !has_manifest {
            return Err(bad("defines neither `fn config(cfg, args)` nor `fn manifest(annotations, args)`".into()));
        }
        if has_config {
            let value = serde_json::to_value(&*config).map_err(|e| bad(e.to_string()))?;
            let (result, printed) = plugin.run_map_hook("config", &value, entry);
            log.extend(printed.into_iter().map(|line| format!("{}: {line}", entry.shown)));
            let value = result.map_err(|e| AssembleError::Plugin(e.0))?;
            let map = value.as_object().ok_or_else(|| bad("fn config must hand back a map".into()))?;
            for (key, field) in map {
                if let Some(found) = control_character(key, field) {
                    let at = if no_control_characters(key).is_ok() { format!("`{key}`") } else { "a key".into() };
                    return Err(bad(format!("fn config handed back {at} with {found}: the image config holds none")));
                }
            }
            if let Some(key) = map.keys().find(|k| !CONFIG_KEYS.contains(&k.as_str())) {
                return Err(bad(format!(
                    "fn config handed back `{key}`, which is not a config field ({})",
                    CONFIG_KEYS.join(", ")
                )));
            }
            *config = serde_json::from_value(value)
                .map_err(|e| bad(format!("fn config handed back an invalid config: {e}")))?;
        }
        if has_manifest {
            let value = serde_json::to_value(&*annotations).map_err(|e| bad(e.to_string()))?;
            let (result, printed) = plugin.run_map_hook("manifest", &value, entry);
            log.extend(printed.into_iter().map(|line| format!("{}: {line}", entry.shown)));
            let value = result.map_err(|e| AssembleError::Plugin(e.0))?;
            let map: BTreeMap<String, String> = serde_json::from_value(value)
                .map_err(|e| bad(format!("fn manifest must hand back a map of strings: {e}")))?;
            if let Some(found) =
                map.iter().find_map(|(k, v)| no_control_characters(k).and(no_control_characters(v)).err())
            {
                return Err(bad(format!("fn manifest handed back an annotation with {found}: annotations hold none")));
            }
            if let Some(key) = map.keys().find(|k| RESERVED_ANNOTATIONS.contains(&k.as_str())) {
                return Err(bad(format!("fn manifest may not set `{key}`: compose-img sets it")));
            }
            *annotations = map.into_iter().collect();
        }
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
