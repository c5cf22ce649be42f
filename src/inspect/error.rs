//! What looking inside an image ends with when it fails.

use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::digest::Digest;
use crate::oci::platform::Platform;
use crate::transport::TransportError;

#[derive(Debug, Error)]
pub(crate) enum InspectError {
    /// `--layer` names a layer the image does not have: a usage mistake
    /// (exit 2, see [`InspectError::is_usage`]).
    #[error("--layer {index}: the image has {count} layers (0 to {})", count.saturating_sub(1))]
    NoSuchLayer { index: usize, count: usize },
    /// An index without an image for the platform asked for (or the
    /// default one).
    #[error(
        "{reference} has no image for {wanted} (it has: {}); pick one with --platform",
        offered.iter().map(Platform::to_string).collect::<Vec<_>>().join(", ")
    )]
    NoSuchPlatform { reference: String, wanted: Box<Platform>, offered: Vec<Platform> },
    /// A manifest that is not an image: only its raw documents can be shown.
    #[error(
        "{reference} is an artifact, not an image (its config has media type {config_type}): inspect --raw or --config shows it, copy copies it"
    )]
    Artifact { reference: String, config_type: String },
    /// `ls PATH` of a path the image does not have.
    #[error("/{path} does not exist in {reference}")]
    NoSuchPath { path: String, reference: String },
    #[error("{reference}: the manifest is not JSON")]
    Manifest {
        reference: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot read {digest} from the store")]
    Blob {
        digest: Digest,
        #[source]
        source: io::Error,
    },
    #[error("cannot read layer {digest}")]
    Layer {
        digest: Digest,
        #[source]
        source: io::Error,
    },
    /// A file or directory of the host (`action`: "create", "open", "list", ...).
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is not empty: unpack needs a new or empty directory", .0.display())]
    NotEmpty(PathBuf),
    /// A layer entry whose name climbs out of the directory unpacked into.
    #[error("refused layer entry {entry}: `..` climbs out of the root")]
    ClimbsOut { entry: String },
    /// A layer entry that cannot be put in place (`action`: "create it",
    /// "set its owner", ...); a symlink leading out shows up here.
    #[error("refused layer entry {entry}: cannot {action}")]
    Refused {
        entry: String,
        action: &'static str,
        #[source]
        source: io::Error,
    },
    /// A hard link to outside the directory or to nothing.
    #[error("refused layer entry {entry}: hard link to /{target}")]
    HardLink {
        entry: String,
        target: String,
        #[source]
        source: io::Error,
    },
    /// A report or record that cannot be written as JSON.
    #[error("cannot write {what} as JSON")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Transport(#[from] TransportError),
}

impl InspectError {
    /// A mistake on the command line rather than a failure (exit 2).
    pub(crate) fn is_usage(&self) -> bool {
        matches!(self, InspectError::NoSuchLayer { .. })
    }
}

/// A host I/O error as an [`InspectError::Io`] naming `path`.
pub(super) fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> InspectError + use<> {
    let path = path.to_owned();
    move |source| InspectError::Io { action, path, source }
}

/// A layer read error naming the layer.
pub(super) fn layer_err(digest: &Digest) -> impl Fn(io::Error) -> InspectError + use<'_> {
    move |source| InspectError::Layer { digest: digest.clone(), source }
}

/// An error putting layer entry `entry` in place.
pub(super) fn refused<'a>(entry: &'a str, action: &'static str) -> impl FnOnce(io::Error) -> InspectError + use<'a> {
    move |source| InspectError::Refused { entry: entry.to_owned(), action, source }
}
