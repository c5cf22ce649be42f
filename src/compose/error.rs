//! What a build or a plan ends with when it fails.

use thiserror::Error;

use crate::assemble::AssembleError;
use crate::attest::AttestError;
use crate::layer::BuildError;
use crate::lock::LockError;
use crate::recipe::{LocatedError, RecipeError};
use crate::sign::SignError;
use crate::store::StoreError;
use crate::transport::TransportError;

#[derive(Debug, Error)]
pub(crate) enum ComposeError {
    /// The request asks for something impossible (exit 2).
    #[error("{0}")]
    Usage(String),
    /// Recipes that cannot be read or are invalid, each with its mistakes.
    #[error("invalid recipes")]
    Recipes(Vec<RecipeError>),
    /// Layers that cannot be planned (missing sources, collisions, ...).
    #[error("cannot plan {recipe}")]
    Plan { recipe: String, errors: Vec<LocatedError> },
    /// Warnings, with `--deny-warnings`.
    #[error("{} denied by --deny-warnings", counted_warnings(.0))]
    Warnings(Vec<LocatedError>),
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
    /// The image a `copy` takes files from (`copy.image`).
    #[error("{at}: cannot copy from {image}")]
    CopySource {
        /// The copy's position, `FILE:LINE:COLUMN`.
        at: String,
        image: String,
        #[source]
        source: Box<TransportError>,
    },
    #[error("writing {output}")]
    Output {
        output: String,
        #[source]
        source: TransportError,
    },
    /// The SBOMs or provenance of a recipe's images.
    #[error("attesting {recipe}")]
    Attest {
        recipe: String,
        #[source]
        source: AttestError,
    },
    /// The attestations to write beside an output.
    #[error("attaching attestations to {output}")]
    Attach {
        output: String,
        #[source]
        source: AttestError,
    },
    /// Signing an output (`build --key`).
    #[error(transparent)]
    Sign(#[from] SignError),
    /// A lock file that cannot be read, is invalid, lacks a reference
    /// under `--locked`, or records what an image no longer is.
    #[error(transparent)]
    Lock(Box<LockError>),
    /// The shared cache could not be reached (`--cache-required`).
    #[error(transparent)]
    Cache(#[from] super::CacheError),
    #[error("cannot use the store")]
    Store(#[from] StoreError),
    /// `reproduce`: the published image.
    #[error("cannot read the published image {reference}")]
    Against {
        reference: String,
        #[source]
        source: TransportError,
    },
    /// `reproduce`: the scratch directory of the rebuild.
    #[error("cannot make a scratch directory for the rebuild")]
    Scratch {
        #[source]
        source: std::io::Error,
    },
    /// `reproduce`: a layer of the published or rebuilt image.
    #[error("cannot read the layer {digest} to compare it")]
    Compare {
        digest: crate::digest::Digest,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start {0} worker threads")]
    Workers(u32),
}

impl From<LockError> for ComposeError {
    fn from(error: LockError) -> ComposeError {
        ComposeError::Lock(Box::new(error))
    }
}

fn counted_warnings(warnings: &[LocatedError]) -> String {
    match warnings.len() {
        1 => "1 warning".to_owned(),
        n => format!("{n} warnings"),
    }
}
