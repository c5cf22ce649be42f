//! Registry stage: the OCI distribution API.
//!
//! - [`Reference`]: `HOST/REPO[:TAG][@DIGEST]`, normalised like containers/image
//!   (a format, so it lives in [`crate::oci::registry_reference`]);
//! - [`auth`]: credential files and `WWW-Authenticate` challenges;
//! - [`client`]: requests, auth, retries, manifests and blobs;
//! - [`push`](mod@push): an image from the store to a repository, skipping blobs the
//!   registry has and mounting those another repository of it holds;
//! - [`referrers`]: OCI 1.1 referrers, through the referrers API or the
//!   referrers tag `sha256-<hex>` kept up to date.
//!
//! Pulling goes through [`crate::transport::import`], which checks every
//! document and blob the client returns.

pub(crate) mod auth;
mod client;
mod push;
pub(crate) mod referrers;

use thiserror::Error;

pub(crate) use crate::oci::registry_reference::Reference;
pub(crate) use client::{Client, ClientOptions, Timeouts};
pub(crate) use push::{Outside, PushStats, push, push_from};

/// A registry operation failed; `target` names the reference or blob.
#[derive(Debug, Error)]
#[error("{target}: {message}")]
pub(crate) struct RegistryError {
    pub target: String,
    pub message: String,
    /// The registry answered 404.
    pub not_found: bool,
}

impl RegistryError {
    pub(crate) fn new(target: &str, message: impl Into<String>) -> RegistryError {
        RegistryError { target: target.to_owned(), message: message.into(), not_found: false }
    }
}
