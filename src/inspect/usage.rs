//! `du`: for each image its virtual size (all its layers) and its own size
//! (layers no other image given shares), and for each layer which images
//! use it, like `docker system df -v`. Sizes are compressed blob sizes,
//! what a registry or store holds.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Opened;

#[derive(Debug, Serialize)]
pub(crate) struct ImageUsage {
    pub reference: String,
    /// Bytes of its layers and config that no other image given shares.
    pub unique_size: u64,
    /// Bytes of its layers shared with at least one other image given.
    pub shared_size: u64,
    /// Bytes of all its layers and its config.
    pub virtual_size: u64,
}

#[derive(Debug, Serialize)]
pub(crate) struct LayerUsage {
    pub digest: String,
    pub size: u64,
    /// The images (by reference) that use it, in the order given.
    pub used_by: Vec<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Usage {
    pub images: Vec<ImageUsage>,
    /// Every blob once, largest first (then by digest).
    pub layers: Vec<LayerUsage>,
    /// The bytes of all the images together, each blob counted once.
    pub total_size: u64,
}

pub(crate) fn usage(images: &[Opened]) -> Usage {
    let mut blobs: BTreeMap<String, LayerUsage> = BTreeMap::new();
    for opened in images {
        let image = opened.image();
        let mut own: Vec<(String, u64)> = image.layers.iter().map(|l| (l.digest.to_string(), l.size)).collect();
        own.push((image.config.digest.to_string(), image.config.size));
        own.dedup();
        for (digest, size) in own {
            let entry = blobs.entry(digest.clone()).or_insert(LayerUsage { digest, size, used_by: Vec::new() });
            if !entry.used_by.contains(&opened.reference) {
                entry.used_by.push(opened.reference.clone());
            }
        }
    }
    let rows = images
        .iter()
        .map(|opened| {
            let image = opened.image();
            let mut digests: Vec<String> = image.layers.iter().map(|l| l.digest.to_string()).collect();
            digests.push(image.config.digest.to_string());
            digests.sort();
            digests.dedup();
            let (mut unique, mut shared) = (0, 0);
            for digest in &digests {
                let blob = &blobs[digest];
                if blob.used_by.len() > 1 { shared += blob.size } else { unique += blob.size }
            }
            ImageUsage {
                reference: opened.reference.clone(),
                unique_size: unique,
                shared_size: shared,
                virtual_size: unique + shared,
            }
        })
        .collect();
    let total_size = blobs.values().map(|b| b.size).sum();
    let mut layers: Vec<LayerUsage> = blobs.into_values().collect();
    layers.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.digest.cmp(&b.digest)));
    Usage { images: rows, layers, total_size }
}
