//! The error a command ends with: the error of the command's own stage, or
//! the CLI's own (a usage mistake, a check that found a problem). The CLI
//! decides how each is shown and which exit code it gets.

use thiserror::Error;

use crate::attest::AttestError;
use crate::commit::CommitError;
use crate::compose::ComposeError;
use crate::copy::CopyError;
use crate::inspect::InspectError;
use crate::recipe::LocatedError;
use crate::sign::SignError;
use crate::store::StoreError;
use crate::transport::TransportError;

#[derive(Debug, Error)]
pub(crate) enum Error {
    /// The command line asks for something impossible (exit 2).
    #[error("{0}")]
    Usage(String),
    /// A check found a problem (e.g. `store fsck` found corrupt blobs).
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Compose(#[from] ComposeError),
    #[error(transparent)]
    Copy(#[from] CopyError),
    #[error(transparent)]
    Commit(#[from] CommitError),
    /// `inspect`, `history`, `ls`, `diff`, `du`, `unpack`; a usage-kind one
    /// (`InspectError::is_usage`) exits 2.
    #[error(transparent)]
    Inspect(#[from] InspectError),
    /// Reading or writing an image for a command without an error of its
    /// own (`sign`, `verify`).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// Keys, signing and verification.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// `attestations`, `sbom`, `verify --attestations`.
    #[error(transparent)]
    Attest(#[from] AttestError),
    #[error("cannot use the store")]
    Store(#[from] StoreError),
    /// `plugin test`: the script, its arguments or its hook failed, located
    /// at the command line.
    #[error(transparent)]
    Plugin(LocatedError),
}
