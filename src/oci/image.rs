//! Image assembly: built layers + recipe → image config and manifest blobs.

#![allow(clippy::disallowed_types, reason = "oci-spec's builders take HashMaps; the JSON goes through json::canonical")]

use std::collections::HashMap;
use std::time::{Duration, UNIX_EPOCH};

use oci_spec::image::{
    ANNOTATION_CREATED, Arch, ConfigBuilder, Descriptor, HistoryBuilder, ImageConfigurationBuilder,
    ImageManifestBuilder, MediaType, Os, RootFsBuilder,
};
use thiserror::Error;

use super::json::canonical;
use super::media;
use crate::build::BuiltLayer;
use crate::digest::Digest;
use crate::recipe::{ConfigPatch, Platform, Recipe};
use crate::store::{Store, StoreError, WrittenBlob};

/// A complete image in the store.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    pub manifest: WrittenBlob,
    pub config: WrittenBlob,
    pub layers: Vec<BuiltLayer>,
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
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// RFC 3339 (UTC, seconds) for a Unix time.
pub fn rfc3339(epoch: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(epoch)).to_string()
}

/// Writes the config and manifest of `recipe` for `platform` to the store.
pub fn assemble(
    recipe: &Recipe,
    platform: &Platform,
    layers: Vec<BuiltLayer>,
    epoch: u64,
    store: &Store,
) -> Result<BuiltImage, AssembleError> {
    let spec = |what| move |e: oci_spec::OciSpecError| AssembleError::Spec { what, message: e.to_string() };
    let created = rfc3339(epoch);
    let history = layers
        .iter()
        .map(|l| {
            HistoryBuilder::default()
                .created(created.clone())
                .created_by(format!("compose-img layer {}", l.name))
                .build()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(spec("history"))?;
    let rootfs = RootFsBuilder::default()
        .typ("layers")
        .diff_ids(layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>())
        .build()
        .map_err(spec("rootfs"))?;
    let mut config = ImageConfigurationBuilder::default()
        .created(created.clone())
        .architecture(Arch::from(platform.architecture.as_str()))
        .os(Os::from(platform.os.as_str()))
        .config(runtime_config(&recipe.config).map_err(spec("config"))?)
        .rootfs(rootfs)
        .history(history);
    if let Some(variant) = &platform.variant {
        config = config.variant(variant.clone());
    }
    let config_bytes = canonical(&config.build().map_err(spec("config"))?).map_err(json)?;
    let config_blob = store.write_blob(&config_bytes)?;

    let mut annotations: HashMap<String, String> = recipe.annotations.clone().into_iter().collect();
    annotations.insert(ANNOTATION_CREATED.to_owned(), created);
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(descriptor(media::CONFIG, &config_blob))
        .layers(
            layers
                .iter()
                .map(|l| descriptor(l.media_type, &WrittenBlob { digest: l.digest.clone(), size: l.size }))
                .collect::<Vec<_>>(),
        )
        .annotations(annotations)
        .build()
        .map_err(spec("manifest"))?;
    let manifest_blob = store.write_blob(&canonical(&manifest).map_err(json)?)?;
    Ok(BuiltImage { manifest: manifest_blob, config: config_blob, layers })
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

/// The runtime part of the config (`config` in the image config JSON).
fn runtime_config(patch: &ConfigPatch) -> Result<oci_spec::image::Config, oci_spec::OciSpecError> {
    let mut config = ConfigBuilder::default();
    if let Some(v) = &patch.entrypoint {
        config = config.entrypoint(v.clone());
    }
    if let Some(v) = &patch.cmd {
        config = config.cmd(v.clone());
    }
    if !patch.env.is_empty() {
        config = config.env(merge_env(&[], &patch.env));
    }
    if let Some(v) = &patch.workdir {
        config = config.working_dir(v.clone());
    }
    if let Some(v) = &patch.user {
        config = config.user(v.clone());
    }
    if !patch.labels.is_empty() {
        config = config.labels(patch.labels.clone().into_iter().collect::<HashMap<_, _>>());
    }
    if !patch.exposed_ports.is_empty() {
        config = config.exposed_ports(patch.exposed_ports.clone());
    }
    if !patch.volumes.is_empty() {
        config = config.volumes(patch.volumes.clone());
    }
    if let Some(v) = &patch.stop_signal {
        config = config.stop_signal(v.clone());
    }
    config.build()
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
