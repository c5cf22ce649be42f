//! compose-img: a daemonless, declarative OCI image composer.
//!
//! The library is cut into stages, one module each; a stage uses only the
//! stages below it (docs/architecture.md holds the order, and a test holds
//! the line). Highest first:
//!
//! - [`cli`]: argument parsing, progress, rendering of errors, exit codes;
//!   the only stage that prints.
//! - `fuzzing` (hidden): the entry points of the fuzz targets (`fuzz/`),
//!   one thin call per parser of untrusted bytes.
//! - `error`: the error a command ends with: each command's own typed
//!   error, or the CLI's (usage, a check that found a problem).
//! - The commands, each with its own error: `compose` (one `build`, and
//!   `plan`), `copy`, `commit`, `inspect` (inspect, history, ls,
//!   diff, du, unpack).
//! - `assemble`: built layers + recipe (+ image hooks) → the image
//!   config, manifest and index.
//! - `layer`: the deterministic tar writer, encoders, cache keys and the
//!   executor that builds layers on a rayon pool in plan order.
//! - `plan`: a recipe → one `plan::LayerPlan` per layer: the sorted
//!   tree of entries, resolved from the host (metadata only) and from
//!   plugins, every conflict reported before anything is written.
//! - `plugins`: the sandboxed Rhai host: layer hooks and image hooks.
//! - `recipe`: TOML text → raw serde types with spans → a validated
//!   `recipe::Recipe`; every mistake a located error.
//! - `sign`: cosign-compatible keys, signatures and verification.
//! - `transport`: reading and writing images at any reference
//!   (`oci:`, `oci-archive:`, `docker-archive:`, `docker://`), every blob
//!   checked.
//! - `registry`: the OCI distribution API client.
//! - `oci`: formats and data: descriptors, manifests, configs, indexes,
//!   layouts, archives, codecs, references, platforms.
//! - `store`: content-addressed blobs, written through a hashing temp
//!   file and renamed into place once complete; the layer cache.
//! - [`digest`]: sha256 digests, hashing writers, content hashes.
//! - `files`: files somebody else named, read as regular files with a
//!   bound.
//! - `text`: text from outside made safe for a terminal.

pub(crate) mod assemble;
pub(crate) mod attest;
pub mod cli;
pub(crate) mod commit;
pub(crate) mod compose;
pub(crate) mod copy;
pub mod digest;
pub(crate) mod error;
pub(crate) mod files;
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod inspect;
pub(crate) mod layer;
pub(crate) mod lock;
pub(crate) mod oci;
pub(crate) mod plan;
pub(crate) mod plugins;
pub(crate) mod recipe;
pub(crate) mod registry;
pub(crate) mod sign;
pub(crate) mod store;
pub(crate) mod text;
pub(crate) mod transport;

pub(crate) use error::Error;
