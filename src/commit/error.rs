//! What `commit` ends with when it fails.

use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::assemble::AssembleError;
use crate::inspect::InspectError;
use crate::layer::BuildError;
use crate::recipe::LocatedError;
use crate::recipe::image_path::InvalidImagePath;
use crate::store::StoreError;
use crate::transport::TransportError;

#[derive(Debug, Error)]
pub(crate) enum CommitError {
    /// Opening the parent image or reading its layers.
    #[error(transparent)]
    Parent(#[from] InspectError),
    /// A file or directory of DIR, or its owner record (`action`: "read",
    /// "stat", ...).
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot walk {}", dir.display())]
    Walk {
        dir: PathBuf,
        #[source]
        source: walkdir::Error,
    },
    /// `DIR.owners.json` (written by `unpack`) that is not a map of paths
    /// to `[uid, gid]`.
    #[error("{} is not a valid owner record", path.display())]
    OwnerRecord {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// DIR holds what the parent does: an image equal but for its history
    /// (`--allow-empty` makes it).
    #[error("{} holds exactly what the parent holds: nothing to commit (--allow-empty commits an empty layer)", .0.display())]
    NoChanges(PathBuf),
    #[error("{} is not UTF-8", .0.display())]
    NotUtf8(PathBuf),
    #[error("{} is a device, fifo or socket: commit takes files, directories and symlinks", .0.display())]
    Special(PathBuf),
    /// An owner (recorded, or the parent's) that does not fit a layer
    /// entry's 32-bit id.
    #[error("/{entry}: {what} {id} is out of range (0 to 4294967295)")]
    IdOutOfRange { entry: String, what: &'static str, id: u64 },
    #[error(transparent)]
    Path(#[from] InvalidImagePath),
    /// The layer's entries do not fit together (as a recipe's would not).
    #[error(transparent)]
    Tree(#[from] LocatedError),
    #[error("building commit {}", dir.display())]
    Build {
        dir: PathBuf,
        #[source]
        source: BuildError,
    },
    #[error("assembling commit {}", dir.display())]
    Assemble {
        dir: PathBuf,
        #[source]
        source: AssembleError,
    },
    #[error("writing {output}")]
    Output {
        output: String,
        #[source]
        source: TransportError,
    },
    #[error("cannot use the store")]
    Store(#[from] StoreError),
}

/// A host I/O error as a [`CommitError::Io`] naming `path`.
pub(super) fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> CommitError + use<> {
    let path = path.to_owned();
    move |source| CommitError::Io { action, path, source }
}
