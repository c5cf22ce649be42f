//! The error a library operation ends with. The CLI decides how each kind is
//! shown and which exit code it gets.

use thiserror::Error;

use crate::assemble::AssembleError;
use crate::layer::BuildError;
use crate::recipe::{LocatedError, RecipeError};
use crate::sign::SignError;
use crate::store::StoreError;
use crate::transport::TransportError;

#[derive(Debug, Error)]
pub enum Error {
    /// The command line asks for something impossible (exit 2).
    #[error("{0}")]
    Usage(String),
    /// Recipes that cannot be read or are invalid, each with its mistakes.
    #[error("invalid recipes")]
    Recipes(Vec<RecipeError>),
    /// Layers that cannot be planned (missing sources, collisions, ...).
    #[error("cannot plan {recipe}")]
    Plan { recipe: String, errors: Vec<LocatedError> },
    #[error("{0}")]
    Unsupported(String),
    /// A check found a problem (e.g. `store fsck` found corrupt blobs).
    #[error("{0}")]
    Failed(String),
    #[error("building {recipe}")]
    Build {
        recipe: String,
        #[source]
        source: BuildError,
    },
    #[error("assembling {recipe}")]
    Assemble {
        recipe: String,
        #[source]
        source: AssembleError,
    },
    #[error("cannot get the parent image of {recipe}")]
    Parent {
        recipe: String,
        #[source]
        source: TransportError,
    },
    #[error("writing {output}")]
    Output {
        output: String,
        #[source]
        source: TransportError,
    },
    /// Reading or writing an image outside a build (`copy`, `inspect`, ...).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// Keys, signing and verification.
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error("cannot use the store")]
    Store(#[from] StoreError),
    #[error("cannot start {0} worker threads")]
    Workers(u32),
}
