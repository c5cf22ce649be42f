//! compose-img: a daemonless, declarative OCI image composer.
//!
//! A build flows through the stages below, each a module with one job; stages
//! talk only through the types they export:
//!
//! - [`recipe`]: TOML text → raw serde types with spans → a validated
//!   [`recipe::Recipe`]. Every mistake becomes a located error (file, line,
//!   column, caret).
//! - [`plan`]: a recipe → one [`plan::LayerPlan`] per layer: the sorted tree of
//!   entries each layer will hold, resolved from the host file system
//!   (metadata only, no contents read) and from plugins, with every conflict
//!   reported before anything is written; a layer the cache has by the walk
//!   of its sources stays [`plan::Planned::Cached`], its tree unbuilt.
//! - [`plugins`]: the sandboxed Rhai host: layer hooks (run while planning,
//!   or at build time when they read the layers below) and image hooks.
//! - [`build`]: the deterministic tar writer, compression and the executor
//!   that builds layers on a rayon pool and collects them in plan order.
//! - [`store`]: content-addressed blobs, written through a hashing temp file
//!   and renamed into place once complete.
//! - [`oci`]: image config, manifest, index, layouts and archives, layers
//!   read back; all JSON canonical.
//! - [`registry`]: the OCI distribution API client.
//! - [`transport`]: reading and writing images at any reference
//!   (`oci:`, `oci-archive:`, `docker-archive:`, `docker://`), every blob
//!   checked.
//! - [`sign`]: cosign-compatible keys, signatures and verification.
//! - [`inspect`]: looking inside images (inspect, history, ls, diff, du,
//!   unpack).
//! - [`cli`]: argument parsing, rendering of errors, exit codes; the only
//!   stage that prints.
//!
//! [`compose`] strings the stages together for one `build`, [`copy`] for a
//! `copy`, [`commit`] for a `commit`. Shared
//! vocabulary lives beside the stages: [`digest`] (sha256 digests and
//! a hashing writer) and [`error`] (the error every stage's failure
//! converts into).

pub mod build;
pub mod cli;
pub mod commit;
pub mod compose;
pub mod copy;
pub mod digest;
pub mod error;
pub mod inspect;
pub mod oci;
pub mod plan;
pub mod plugins;
pub mod recipe;
pub mod registry;
pub mod sign;
pub mod store;
pub mod transport;

pub use error::Error;
