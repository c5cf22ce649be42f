//! The SLSA provenance v1 predicate of one image: compose-img (with its
//! version) as the builder; the recipe, its variables and the flags that
//! change bytes as external parameters; the recipe files, plugin scripts
//! and parent images as resolved dependencies, by digest; the config and
//! layers as byproducts.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{AttestError, Subject, uri};
use crate::digest::Digest;
use crate::oci::compress::Compression;
use crate::recipe::EntryKind;

/// The build type documents name (docs/supply-chain.md describes it).
pub(crate) const BUILD_TYPE: &str = "urn:compose-img:build-type:recipe:v1";
/// The most a plugin script is read to be hashed (bytes).
const MAX_SCRIPT: u64 = 16 << 20;

/// The predicate.
pub(super) fn predicate(subject: &Subject) -> Result<Value, AttestError> {
    let image = subject.image;
    let mut dependencies = BTreeMap::new();
    for made in &subject.recipes {
        let recipe = made.recipe;
        dependencies.insert(made.uri.clone(), (Digest::of(recipe.file.text.as_bytes()), "recipe"));
        let layer_plugins = recipe.layers.iter().flat_map(|l| &l.entries).filter_map(|e| match &e.kind {
            EntryKind::Plugin(plugin) => Some(plugin),
            _ => None,
        });
        for plugin in layer_plugins.chain(&recipe.plugins) {
            let path = std::fs::canonicalize(&plugin.script).unwrap_or_else(|_| plugin.script.clone());
            let bytes = crate::files::read_bounded(&path, MAX_SCRIPT).map_err(|source| AttestError::Io {
                action: "read the plugin script",
                path: plugin.script.clone(),
                source,
            })?;
            dependencies.insert(uri(&path, subject.root), (Digest::of(&bytes), "plugin"));
        }
    }
    for parent in &subject.parents {
        dependencies.insert(parent.name.clone(), (parent.digest.clone(), "parent"));
    }
    let resolved: Vec<Value> = dependencies
        .iter()
        .map(|(uri, (digest, kind))| {
            json!({ "uri": uri, "digest": { "sha256": digest.hex() }, "annotations": { "kind": kind } })
        })
        .collect();
    let own = subject.recipes.last().map(|m| m.uri.as_str()).unwrap_or_default();
    let variables = subject.recipes.last().map(|m| m.recipe.vars.declared.clone()).unwrap_or_default();
    let mut byproducts = vec![
        json!({ "name": "config", "digest": { "sha256": image.config.digest.hex() }, "mediaType": crate::oci::media::CONFIG }),
    ];
    for (index, layer) in image.layers.iter().enumerate() {
        byproducts.push(json!({
            "name": format!("layer {index} {}", layer.name).trim_end().to_owned(),
            "digest": { "sha256": layer.digest.hex() },
            "mediaType": layer.media_type,
        }));
    }
    let (compression, level) = match subject.flags.compression {
        Compression::Zstd { level } => ("zstd", Some(i64::from(level))),
        Compression::Gzip { level } => ("gzip", Some(i64::from(level))),
        Compression::None => ("none", None),
    };
    let platforms: Vec<String> = subject.flags.platforms.iter().map(ToString::to_string).collect();
    Ok(json!({
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {
                "recipe": own,
                "variables": variables,
                "sourceDateEpoch": subject.flags.epoch,
                "compression": compression,
                "level": level,
                "platforms": platforms,
            },
            "internalParameters": { "platform": image.platform.to_string() },
            "resolvedDependencies": resolved,
        },
        "runDetails": {
            "builder": {
                "id": format!("pkg:cargo/compose-img@{}", env!("CARGO_PKG_VERSION")),
                "version": { "compose-img": env!("CARGO_PKG_VERSION") },
            },
            "byproducts": byproducts,
        },
    }))
}
