//! Layer stage: planned layers → layer blobs in the store.
//!
//! - [`tar_writer`]: the deterministic tar stream of one layer;
//! - [`encoder`]: pinned zstd / gzip / none encoders; [`blocks`] compresses
//!   fixed-size blocks on the pool and writes them in order, as zstd frames
//!   ([`zstd_frames`]) or as the deflate blocks of one gzip member
//!   ([`gzip_blocks`]) (the kinds and the decoder are
//!   [`crate::oci::compress`]);
//! - [`write`](mod@write): one layer in one streaming pass, hashing as it writes, or
//!   its cached blob when [`cache`] finds an identical layer built before;
//! - [`progress`]: the hooks a build reports progress through;
//! - [`executor`]: the ready-queue that runs a graph of nodes on rayon and
//!   returns results in node order, never completion order.

pub(crate) mod blocks;
pub(crate) mod cache;
pub(crate) mod encoder;
pub(crate) mod executor;
pub(crate) mod gzip_blocks;
pub(crate) mod progress;
pub(crate) mod tar_writer;
pub(crate) mod write;
pub(crate) mod zstd_frames;

use thiserror::Error;

pub(crate) use crate::oci::compress::Compression;
pub(crate) use crate::oci::image::BuiltLayer;

use crate::store::StoreError;

/// Everything besides the recipe that determines the bytes of a build.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BuildSettings {
    pub source_date_epoch: u64,
    pub compression: Compression,
    /// Threads of the pool layers and their compressed blocks run on (the
    /// bytes do not depend on it).
    pub jobs: u32,
}

#[derive(Debug, Error)]
#[error("layer `{layer}`: {kind}")]
pub(crate) struct BuildError {
    pub layer: String,
    #[source]
    pub kind: BuildErrorKind,
}

#[derive(Debug, Error)]
pub(crate) enum BuildErrorKind {
    #[error(transparent)]
    Tar(#[from] tar_writer::TarError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot compress the layer")]
    Compress(#[source] std::io::Error),
}
