//! What reading, resolving or writing a lock file ends with.

use std::path::PathBuf;

use thiserror::Error;

use crate::recipe::LocatedError;
use crate::transport::TransportError;

#[derive(Debug, Error)]
pub(crate) enum LockError {
    #[error("cannot {action} lock file {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A lock file that is not one: each mistake located.
    #[error("{} in {file}", crate::recipe::counted(.errors))]
    Invalid { file: String, errors: Vec<LocatedError> },
    /// `--locked`: references of `recipe` its lock file lacks, each
    /// pointing at the recipe entry that names it.
    #[error("{} of {recipe} not in its lock file (--locked)", unlocked(.errors))]
    Unlocked { recipe: String, errors: Vec<LocatedError> },
    #[error("cannot resolve {reference}")]
    Resolve {
        reference: String,
        #[source]
        source: TransportError,
    },
    /// A local image (or a registry digest) is no longer what the lock
    /// file records.
    #[error(
        "{reference} changed since {lock} recorded it: {what} is {found}, the lock file has {locked}; \
         run `compose-img lock --update` if the change is meant"
    )]
    Changed { reference: String, lock: String, what: String, locked: String, found: String },
}

fn unlocked(errors: &[LocatedError]) -> String {
    match errors.len() {
        1 => "1 reference".to_owned(),
        n => format!("{n} references"),
    }
}
