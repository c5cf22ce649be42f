//! Inspect stage: looking inside images from any transport.
//!
//! - here: fetching an image (the platform asked for, from an index), its
//!   summary (`inspect`) and history (`history`);
//! - [`files`]: the merged file system (`ls`) and the differences between
//!   two images (`diff`);
//! - [`usage`]: sizes and the layers images share (`du`);
//! - [`unpack`]: the merged root file system in a directory (`unpack`);
//! - [`error`]: [`InspectError`], what all of them fail with.
//!
//! Every report is plain data (serde) for the CLI to print as a table or
//! JSON.

pub(crate) mod error;
pub(crate) mod files;
pub(crate) mod unpack;
pub(crate) mod usage;

use std::collections::BTreeMap;

use serde::Serialize;

pub(crate) use error::InspectError;
use error::layer_err;

use crate::digest::Digest;
use crate::oci::image::BuiltImage;
use crate::oci::layerfs;
use crate::oci::platform::Platform;
use crate::oci::reference::ImageRef;
use crate::oci::tagged::Tagged;
use crate::registry::ClientOptions;
use crate::store::Store;
use crate::transport::{self, Want};

/// An image fetched into the store, and the manifest chosen from it.
pub(crate) struct Opened {
    pub reference: String,
    pub tagged: Tagged,
    pub image: usize,
}

impl Opened {
    pub(crate) fn image(&self) -> &BuiltImage {
        &self.tagged.images[self.image]
    }
}

/// The platform chosen when an index offers several and none is asked for.
pub(crate) fn default_platform() -> Platform {
    Platform { os: "linux".into(), architecture: "amd64".into(), variant: None }
}

/// Fetches `reference`; from an index, the manifest for `platform`
/// (default linux/amd64).
pub(crate) fn open(
    reference: &ImageRef,
    platform: Option<&Platform>,
    store: &Store,
    options: &ClientOptions,
) -> Result<Opened, InspectError> {
    let tagged = transport::fetch(reference, &Want::All, store, options)?;
    choose(reference, tagged, platform)
}

/// The image of `tagged` for `platform` (default linux/amd64); the one
/// image whatever its platform.
fn choose(reference: &ImageRef, tagged: Tagged, platform: Option<&Platform>) -> Result<Opened, InspectError> {
    if tagged.is_artifact() {
        let config = tagged.extras.first().and_then(|e| e.blobs.first());
        return Err(InspectError::Artifact {
            reference: reference.to_string(),
            config_type: config.map_or_else(String::new, |c| c.media_type.clone()),
        });
    }
    let wanted = platform.cloned().unwrap_or_else(default_platform);
    let image = if tagged.images.len() == 1 {
        0
    } else {
        tagged.images.iter().position(|i| wanted.matches(&i.platform)).ok_or_else(|| InspectError::NoSuchPlatform {
            reference: reference.to_string(),
            offered: tagged.images.iter().map(|i| i.platform.clone()).collect(),
            wanted: Box::new(wanted),
        })?
    };
    Ok(Opened { reference: reference.to_string(), tagged, image })
}

#[derive(Debug, Serialize)]
pub(crate) struct LayerRow {
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    pub uncompressed_size: u64,
    pub created_by: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct PlatformRow {
    pub platform: String,
    pub digest: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct Inspection {
    pub reference: String,
    /// What the reference names: the index, or the manifest.
    pub digest: String,
    pub media_type: String,
    /// For an index: every platform's manifest.
    pub platforms: Vec<PlatformRow>,
    pub manifest: String,
    pub platform: String,
    pub config_digest: String,
    pub created: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub exposed_ports: Vec<String>,
    pub volumes: Vec<String>,
    pub stop_signal: Option<String>,
    pub annotations: BTreeMap<String, String>,
    pub layers: Vec<LayerRow>,
}

/// The history entries of an image that made layers, in layer order.
fn layer_history(image: &BuiltImage) -> Vec<String> {
    let history = image.config_json.history().clone().unwrap_or_default();
    let mut made: Vec<String> = history
        .iter()
        .filter(|h| !h.empty_layer().unwrap_or(false))
        .map(|h| h.created_by().clone().unwrap_or_default())
        .collect();
    made.resize(image.layers.len(), String::new());
    made
}

pub(crate) fn inspect(opened: &Opened, store: &Store) -> Result<Inspection, InspectError> {
    let image = opened.image();
    let config = image.config_json.config().clone().unwrap_or_default();
    let manifest: serde_json::Value = serde_json::from_slice(&read_blob(store, &image.manifest.digest)?)
        .map_err(|source| InspectError::Manifest { reference: opened.reference.clone(), source })?;
    let annotations = manifest["annotations"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect())
        .unwrap_or_default();
    let media_types: Vec<String> = manifest["layers"]
        .as_array()
        .map(|l| l.iter().map(|d| d["mediaType"].as_str().unwrap_or_default().to_owned()).collect())
        .unwrap_or_default();
    let mut layers = Vec::new();
    for ((layer, created_by), media_type) in image.layers.iter().zip(layer_history(image)).zip(media_types) {
        let blob = store.blob_path(&layer.digest);
        let uncompressed_size = layerfs::uncompressed_size(&blob, layer.media_type, Some(&layer.diff_id))
            .map_err(layer_err(&layer.digest))?;
        layers.push(LayerRow {
            digest: layer.digest.to_string(),
            media_type,
            size: layer.size,
            uncompressed_size,
            created_by,
        });
    }
    let sorted = |v: Option<Vec<String>>| {
        let mut v = v.unwrap_or_default();
        v.sort();
        v
    };
    Ok(Inspection {
        reference: opened.reference.clone(),
        digest: opened.tagged.root.digest.to_string(),
        media_type: opened.tagged.media_type.clone(),
        platforms: if opened.tagged.is_index() {
            opened
                .tagged
                .images
                .iter()
                .map(|i| PlatformRow { platform: i.platform.to_string(), digest: i.manifest.digest.to_string() })
                .collect()
        } else {
            Vec::new()
        },
        manifest: image.manifest.digest.to_string(),
        platform: image.platform.to_string(),
        config_digest: image.config.digest.to_string(),
        created: image.config_json.created().clone(),
        entrypoint: config.entrypoint().clone(),
        cmd: config.cmd().clone(),
        env: config.env().clone().unwrap_or_default(),
        user: config.user().clone(),
        workdir: config.working_dir().clone(),
        labels: config.labels().clone().unwrap_or_default().into_iter().collect(),
        exposed_ports: sorted(config.exposed_ports().clone()),
        volumes: sorted(config.volumes().clone()),
        stop_signal: config.stop_signal().clone(),
        annotations,
        layers,
    })
}

#[derive(Debug, Serialize)]
pub(crate) struct HistoryRow {
    pub created: Option<String>,
    pub created_by: String,
    pub comment: Option<String>,
    /// Uncompressed size of the layer it made (0 for a config-only step).
    pub size: u64,
    /// The layer it made, if any.
    pub layer: Option<String>,
}

/// One row per history entry, newest first, like `docker history`.
pub(crate) fn history(opened: &Opened, store: &Store) -> Result<Vec<HistoryRow>, InspectError> {
    let image = opened.image();
    let mut layers = image.layers.iter();
    let mut rows = Vec::new();
    let history = image.config_json.history().clone().unwrap_or_default();
    for entry in &history {
        let layer = if entry.empty_layer().unwrap_or(false) { None } else { layers.next() };
        let size = match layer {
            Some(layer) => {
                layerfs::uncompressed_size(&store.blob_path(&layer.digest), layer.media_type, Some(&layer.diff_id))
                    .map_err(layer_err(&layer.digest))?
            }
            None => 0,
        };
        rows.push(HistoryRow {
            created: entry.created().clone(),
            created_by: entry.created_by().clone().unwrap_or_default(),
            comment: entry.comment().clone(),
            size,
            layer: layer.map(|l| l.digest.to_string()),
        });
    }
    rows.reverse();
    Ok(rows)
}

fn read_blob(store: &Store, digest: &Digest) -> Result<Vec<u8>, InspectError> {
    std::fs::read(store.blob_path(digest)).map_err(|source| InspectError::Blob { digest: digest.clone(), source })
}

/// The bytes of the document `--raw` (the root manifest or index) or
/// `--config` (the chosen image's config) prints.
pub(crate) fn raw(opened: &Opened, store: &Store, config: bool) -> Result<Vec<u8>, InspectError> {
    let digest = if config { &opened.image().config.digest } else { &opened.tagged.root.digest };
    read_blob(store, digest)
}

/// The bytes of the manifest or index `reference` names (`inspect --raw`),
/// or of its config (`--config`: the chosen platform's, from an index):
/// for any manifest, an artifact's too.
pub(crate) fn raw_document(
    reference: &ImageRef,
    platform: Option<&Platform>,
    config: bool,
    store: &Store,
    options: &ClientOptions,
) -> Result<Vec<u8>, InspectError> {
    let tagged = transport::fetch(reference, &Want::All, store, options)?;
    if tagged.is_artifact() {
        let artifact_config = tagged.extras.first().and_then(|a| a.blobs.first());
        let digest = match (config, artifact_config) {
            (true, Some(config)) => &config.digest,
            _ => &tagged.root.digest,
        };
        return read_blob(store, digest);
    }
    raw(&choose(reference, tagged, platform)?, store, config)
}
