//! The image-level hooks of a recipe's `[[plugin]]`s: `config` gets the
//! runtime config and `manifest` the annotations, in recipe order; what
//! they hand back is checked before it replaces the original.

#![allow(clippy::disallowed_types, reason = "oci-spec's builders take HashMaps; the JSON goes through json::canonical")]

use std::collections::{BTreeMap, HashMap};

use oci_spec::image::Config;

use super::AssembleError;
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
            if let Some(key) = map.keys().find(|k| RESERVED_ANNOTATIONS.contains(&k.as_str())) {
                return Err(bad(format!("fn manifest may not set `{key}`: compose-img sets it")));
            }
            *annotations = map.into_iter().collect();
        }
    }
    Ok(())
}
