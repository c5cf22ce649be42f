//! Build stage: planned layers → layer blobs in the store.
//!
//! - [`tar_writer`]: the deterministic tar stream of one layer;
//! - [`compress`]: pinned zstd / gzip / none encoders;
//! - [`layer`]: one layer in one streaming pass, hashing as it writes;
//! - this module: running the layers of an image on the rayon pool and
//!   collecting the results in plan order, never completion order.

pub mod compress;
pub mod layer;
pub mod tar_writer;

use rayon::prelude::*;
use thiserror::Error;

pub use compress::Compression;
pub use layer::BuiltLayer;

use crate::plan::ImagePlan;
use crate::store::{Store, StoreError};

/// Everything besides the recipe that determines the bytes of a build.
#[derive(Clone, Copy, Debug)]
pub struct BuildSettings {
    pub source_date_epoch: u64,
    pub compression: Compression,
    /// Worker threads (also zstd workers; the bytes do not depend on it).
    pub jobs: u32,
}

#[derive(Debug, Error)]
#[error("layer `{layer}`: {kind}")]
pub struct BuildError {
    pub layer: String,
    #[source]
    pub kind: BuildErrorKind,
}

#[derive(Debug, Error)]
pub enum BuildErrorKind {
    #[error(transparent)]
    Tar(#[from] tar_writer::TarError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot compress the layer")]
    Compress(#[source] std::io::Error),
}

/// Builds every layer of `plan` on the current rayon pool; the result is in
/// the plan's layer order. The first failing layer (in plan order) is
/// reported.
pub fn build_layers(plan: &ImagePlan, settings: &BuildSettings, store: &Store) -> Result<Vec<BuiltLayer>, BuildError> {
    let results: Vec<_> = plan.layers.par_iter().map(|layer| layer::build_layer(layer, settings, store)).collect();
    results.into_iter().collect()
}
