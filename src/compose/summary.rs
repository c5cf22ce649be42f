//! What a build reports: each named recipe's outputs, and what was built,
//! reused and written.

use crate::digest::Digest;
use crate::recipe::LocatedError;
use crate::registry::PushStats;

use super::nodes::Built;

/// What was written for one named recipe.
#[derive(Debug)]
pub(crate) struct BuiltReport {
    pub manifest: Digest,
    pub outputs: Vec<WrittenOutput>,
}

#[derive(Debug)]
pub(crate) struct WrittenOutput {
    pub reference: String,
    /// For a registry: what happened to the blobs.
    pub push: Option<PushStats>,
}

#[derive(Debug, Default)]
pub(crate) struct BuildSummary {
    pub images: Vec<BuiltReport>,
    pub layers_built: usize,
    pub layers_reused: usize,
    /// Of those reused, the layers found in the shared cache (`--cache`).
    pub layers_from_cache: usize,
    /// Entries written to the shared cache.
    pub cache_published: usize,
    /// What went wrong with the shared cache (the build went on without it).
    pub cache_warnings: Vec<String>,
    /// Compressed bytes of the layers built (not reused).
    pub bytes_written: u64,
    /// What plugins printed (`print`, `debug`), each line prefixed with the
    /// script: the layers' plugins in build order, then the images'.
    pub plugin_log: Vec<String>,
    /// What was added to lock files, one line per reference.
    pub lock_notes: Vec<String>,
    /// Warnings and notes about the recipes.
    pub remarks: Vec<LocatedError>,
}

impl BuildSummary {
    pub(super) fn new(
        built: &Built,
        images: Vec<BuiltReport>,
        lock_notes: Vec<String>,
        remarks: Vec<LocatedError>,
    ) -> BuildSummary {
        let mut summary = BuildSummary { images, lock_notes, remarks, ..BuildSummary::default() };
        for (layer, log) in built.layers() {
            summary.plugin_log.extend(log.iter().cloned());
            if layer.reused {
                summary.layers_reused += 1;
            } else {
                summary.layers_built += 1;
                summary.bytes_written += layer.size;
            }
        }
        for image in built.images() {
            summary.plugin_log.extend(image.log.iter().cloned());
        }
        summary
    }
}
