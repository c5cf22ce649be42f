//! OCI stage: the image formats.
//!
//! - [`image`]: built layers + recipe → config and manifest blobs;
//! - [`layout`]: writing an OCI image layout (`oci:DIR[:TAG]`);
//! - [`reference`]: parsing transport references (`oci:`, `docker://`, ...);
//! - [`json`]: canonical JSON (compact, sorted keys);
//! - [`media`]: media type names.

pub mod image;
pub mod json;
pub mod layout;
pub mod media;
pub mod reference;
