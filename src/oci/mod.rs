//! OCI stage: the image formats.
//!
//! - [`image`]: built layers + recipe → config and manifest blobs;
//! - [`manifest`]: reading manifests and indexes (OCI and Docker schema 2);
//! - [`tagged`]: what a tag points at (a manifest, or an index and its manifests);
//! - [`layerfs`]: layers read back: each one's changes, and the merged file system;
//! - [`layout`]: the OCI image layout (`oci:DIR[:TAG]`);
//! - [`archive`]: the layout as one tar (`oci-archive:FILE[:TAG]`);
//! - [`docker_archive`]: `docker save` archives (`docker-archive:FILE`);
//! - [`reference`]: parsing transport references (`oci:`, `docker://`, ...);
//! - [`json`]: canonical JSON (compact, sorted keys);
//! - [`media`]: media type names.

pub mod archive;
pub mod docker_archive;
pub mod image;
pub mod json;
pub mod layerfs;
pub mod layout;
pub mod manifest;
pub mod media;
pub mod reference;
pub mod tagged;
