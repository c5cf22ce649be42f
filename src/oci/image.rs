//! Image assembly: built layers + recipe → image config and manifest blobs.

#![allow(clippy::disallowed_types, reason = "oci-spec's builders take HashMaps; the JSON goes through json::canonical")]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, UNIX_EPOCH};

use oci_spec::image::{
    ANNOTATION_BASE_IMAGE_DIGEST, ANNOTATION_BASE_IMAGE_NAME, ANNOTATION_CREATED, Arch, Config, Descriptor,
    HistoryBuilder, ImageConfiguration, ImageConfigurationBuilder, ImageIndexBuilder, ImageManifestBuilder, MediaType,
    Os, PlatformBuilder, RootFsBuilder,
};
use thiserror::Error;

use super::json::canonical;
use super::media;
use super::tagged::Tagged;
use crate::build::BuiltLayer;
use crate::digest::Digest;
use crate::recipe::{ConfigPatch, Platform, RESERVED_ANNOTATIONS, Recipe};
use crate::registry::Reference;
use crate::store::{Store, StoreError, WrittenBlob};

/// A complete image in the store, built or fetched.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    /// How children name their base: `NAME:TAG` of a recipe (its first
    /// tag), or the reference an image was fetched from.
    pub name: String,
    pub manifest: WrittenBlob,
    /// The manifest's media type (OCI, or Docker schema 2 for some fetched images).
    pub media_type: String,
    pub platform: Platform,
    /// A registry repository known to hold this image's parent layers,
    /// so a push to the same registry can mount them.
    pub origin: Option<Reference>,
    pub config: WrittenBlob,
    /// The parsed config, which children build on.
    pub config_json: ImageConfiguration,
    /// Every layer, the parent's first.
    pub layers: Vec<BuiltLayer>,
    /// What the recipe's image-level plugins printed.
    pub log: Vec<String>,
}

impl BuiltImage {
    /// Every blob the manifest needs, manifest last.
    pub fn blobs(&self) -> impl Iterator<Item = &Digest> {
        self.layers.iter().map(|l| &l.digest).chain([&self.config.digest, &self.manifest.digest])
    }
}

#[derive(Debug, Error)]
pub enum AssembleError {
    #[error("cannot build the image {what}: {message}")]
    Spec { what: &'static str, message: String },
    /// An image-level plugin failed or handed back something invalid.
    #[error("{0}")]
    Plugin(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// RFC 3339 (UTC, seconds) for a Unix time.
pub fn rfc3339(epoch: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(epoch)).to_string()
}

/// Writes the config and manifest of `recipe` for `platform` to the store:
/// `layers` stacked on `parent`'s, its config patched by the recipe's.
pub fn assemble(
    recipe: &Recipe,
    platform: &Platform,
    parent: Option<&BuiltImage>,
    layers: Vec<BuiltLayer>,
    epoch: u64,
    store: &Store,
) -> Result<BuiltImage, AssembleError> {
    let spec = |what| move |e: oci_spec::OciSpecError| AssembleError::Spec { what, message: e.to_string() };
    let created = rfc3339(epoch);
    let base = parent.map(|p| &p.config_json);
    let mut history = base.and_then(|b| b.history().clone()).unwrap_or_default();
    for layer in &layers {
        let entry = HistoryBuilder::default()
            .created(created.clone())
            .created_by(format!("compose-img layer {}", layer.name))
            .build()
            .map_err(spec("history"))?;
        history.push(entry);
    }
    let all_layers: Vec<BuiltLayer> =
        parent.map(|p| p.layers.clone()).unwrap_or_default().into_iter().chain(layers).collect();
    let rootfs = RootFsBuilder::default()
        .typ("layers")
        .diff_ids(all_layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>())
        .build()
        .map_err(spec("rootfs"))?;
    let mut annotations: HashMap<String, String> = recipe.annotations.clone().into_iter().collect();
    let mut runtime = runtime_config(base.and_then(|b| b.config().as_ref()), &recipe.config);
    let mut log = Vec::new();
    run_image_plugins(recipe, &mut runtime, &mut annotations, &mut log)?;
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
    let config_json = config.build().map_err(spec("config"))?;
    let config_blob = store.write_blob(&canonical(&config_json).map_err(json)?)?;

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

/// The keys of the runtime config a `config` hook may hand back.
const CONFIG_KEYS: [&str; 9] =
    ["User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels", "StopSignal"];

/// Runs the `config` and `manifest` hooks of the recipe's `[[plugin]]`s,
/// in order, on the runtime config (OCI JSON names) and the annotations.
fn run_image_plugins(
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

/// `parent` with one more layer on top, as `compose-img commit` makes it:
/// the parent's config and history, plus a history entry
/// (`created_by` "compose-img commit", `comment` the message), every
/// timestamp from `epoch`, and the parent pinned in the annotations.
pub fn commit_image(
    parent: &BuiltImage,
    layer: BuiltLayer,
    message: Option<&str>,
    epoch: u64,
    store: &Store,
) -> Result<BuiltImage, AssembleError> {
    let spec = |what| move |e: oci_spec::OciSpecError| AssembleError::Spec { what, message: e.to_string() };
    let created = rfc3339(epoch);
    let mut config_json = parent.config_json.clone();
    let mut history = config_json.history().clone().unwrap_or_default();
    let mut entry = HistoryBuilder::default().created(created.clone()).created_by("compose-img commit");
    if let Some(message) = message {
        entry = entry.comment(message);
    }
    history.push(entry.build().map_err(spec("history"))?);
    config_json.set_history(Some(history));
    config_json.set_created(Some(created.clone()));
    let mut diff_ids = config_json.rootfs().diff_ids().clone();
    diff_ids.push(layer.diff_id.to_string());
    config_json.rootfs_mut().set_diff_ids(diff_ids);
    let config_blob = store.write_blob(&canonical(&config_json).map_err(json)?)?;
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

/// Writes the OCI manifest of `config` and `layers` to the store.
fn write_manifest(
    config: &WrittenBlob,
    layers: &[BuiltLayer],
    annotations: HashMap<String, String>,
    store: &Store,
) -> Result<WrittenBlob, AssembleError> {
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(descriptor(media::CONFIG, config))
        .layers(
            layers
                .iter()
                .map(|l| descriptor(l.media_type, &WrittenBlob { digest: l.digest.clone(), size: l.size }))
                .collect::<Vec<_>>(),
        )
        .annotations(annotations)
        .build()
        .map_err(|e| AssembleError::Spec { what: "manifest", message: e.to_string() })?;
    Ok(store.write_blob(&canonical(&manifest).map_err(json)?)?)
}

/// The index of a multi-platform recipe: one entry per image, with its
/// platform, in the recipe's platform order; annotated like its manifests.
pub fn assemble_index(
    recipe: &Recipe,
    images: Vec<BuiltImage>,
    epoch: u64,
    store: &Store,
) -> Result<Tagged, AssembleError> {
    let spec = |what| move |e: oci_spec::OciSpecError| AssembleError::Spec { what, message: e.to_string() };
    let mut manifests = Vec::new();
    for image in &images {
        let mut entry = descriptor(&image.media_type, &image.manifest);
        let mut platform = PlatformBuilder::default()
            .os(Os::from(image.platform.os.as_str()))
            .architecture(Arch::from(image.platform.architecture.as_str()));
        if let Some(variant) = &image.platform.variant {
            platform = platform.variant(variant.clone());
        }
        entry.set_platform(Some(platform.build().map_err(spec("platform"))?));
        manifests.push(entry);
    }
    let mut annotations: HashMap<String, String> = recipe.annotations.clone().into_iter().collect();
    annotations.insert(ANNOTATION_CREATED.to_owned(), rfc3339(epoch));
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .annotations(annotations)
        .build()
        .map_err(spec("index"))?;
    let root = store.write_blob(&canonical(&index).map_err(json)?)?;
    Ok(Tagged { media_type: media::INDEX.to_owned(), root, images, extras: Vec::new() })
}

/// A descriptor of a blob written by compose-img (its digest is always a
/// valid sha256 digest).
pub fn descriptor(media_type: &str, blob: &WrittenBlob) -> Descriptor {
    let digest =
        blob.digest.as_str().parse::<oci_spec::image::Digest>().unwrap_or_else(|_| unreachable!("Digest is validated"));
    Descriptor::new(MediaType::from(media_type), blob.size, digest)
}

fn json(e: serde_json::Error) -> AssembleError {
    AssembleError::Spec { what: "JSON", message: e.to_string() }
}

/// The runtime part of the config: the parent's, with what the recipe sets
/// replacing it (env and labels merged by name, ports and volumes added).
fn runtime_config(parent: Option<&Config>, patch: &ConfigPatch) -> Config {
    let mut config = parent.cloned().unwrap_or_default();
    if let Some(v) = &patch.entrypoint {
        config.set_entrypoint(Some(v.clone()));
    }
    if let Some(v) = &patch.cmd {
        config.set_cmd(Some(v.clone()));
    }
    if !patch.env.is_empty() {
        let env = merge_env(config.env().as_deref().unwrap_or_default(), &patch.env);
        config.set_env(Some(env));
    }
    if let Some(v) = &patch.workdir {
        config.set_working_dir(Some(v.clone()));
    }
    if let Some(v) = &patch.user {
        config.set_user(Some(v.clone()));
    }
    if !patch.labels.is_empty() {
        let mut labels = config.labels().clone().unwrap_or_default();
        labels.extend(patch.labels.clone());
        config.set_labels(Some(labels));
    }
    let union = |old: &Option<Vec<String>>, new: &[String]| {
        let all: BTreeSet<String> = old.iter().flatten().chain(new).cloned().collect();
        Some(all.into_iter().collect::<Vec<_>>())
    };
    if !patch.exposed_ports.is_empty() {
        config.set_exposed_ports(union(config.exposed_ports(), &patch.exposed_ports));
    }
    if !patch.volumes.is_empty() {
        config.set_volumes(union(config.volumes(), &patch.volumes));
    }
    if let Some(v) = &patch.stop_signal {
        config.set_stop_signal(Some(v.clone()));
    }
    config
}

/// The parent's `KEY=VALUE` list with the recipe's values merged over it:
/// variables the parent has keep their place, new ones follow sorted.
pub fn merge_env(parent: &[String], patch: &[(String, String)]) -> Vec<String> {
    let mut env: Vec<String> = parent.to_vec();
    for (name, value) in patch {
        let entry = format!("{name}={value}");
        match env.iter_mut().find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == name) {
            Some(existing) => *existing = entry,
            None => env.push(entry),
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_merges_in_place_and_appends() {
        let parent = vec!["PATH=/usr/bin".to_owned(), "HOME=/root".to_owned()];
        let patch = vec![("LANG".to_owned(), "C".to_owned()), ("PATH".to_owned(), "/bin".to_owned())];
        assert_eq!(merge_env(&parent, &patch), ["PATH=/bin", "HOME=/root", "LANG=C"]);
    }

    #[test]
    fn rfc3339_formats_utc_seconds() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
