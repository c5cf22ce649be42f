//! OCI stage: the image formats, as plain data and the files that hold
//! them. It uses only the store and digests below it.
//!
//! - [`image`]: the images in the store (layers, config, manifest) and
//!   writing manifest and index documents;
//! - [`manifest`]: reading manifests and indexes (OCI and Docker schema 2);
//! - [`tagged`]: what a tag points at (a manifest, or an index and its manifests);
//! - [`referrers`]: OCI 1.1 artifacts attached to a manifest (`subject`),
//!   their listing as an index and the referrers tag `sha256-<hex>`;
//! - [`layerfs`]: layers read back: each one's changes, and the merged file system;
//! - [`convert`]: Docker schema 2 manifests and lists rewritten with OCI
//!   media types (for OCI layouts older tools read);
//! - [`compress`]: compression kinds, their media types, and the decoder;
//! - [`layout`]: the OCI image layout (`oci:DIR[:TAG]`);
//! - [`archive`]: the layout as one tar (`oci-archive:FILE[:TAG]`);
//! - [`dir`]: skopeo's directory format (`dir:PATH`);
//! - [`docker_archive`]: `docker save` archives (`docker-archive:FILE`);
//! - [`tar_entries`]: reading any tar of these, the headers of each entry bounded;
//! - [`reference`](mod@reference): parsing transport references (`oci:`, `docker://`, ...);
//! - [`registry_reference`]: `HOST/REPO[:TAG][@DIGEST]`, normalised like containers/image;
//! - [`names`]: the grammar of repository names and tags;
//! - [`platform`]: `os/arch` or `os/arch/variant`;
//! - [`json`]: canonical JSON (compact, sorted keys);
//! - [`media`]: media type names.

pub(crate) mod archive;
pub(crate) mod compress;
pub(crate) mod convert;
pub(crate) mod dir;
pub(crate) mod docker_archive;
pub(crate) mod image;
pub(crate) mod json;
pub(crate) mod layerfs;
pub(crate) mod layout;
pub(crate) mod manifest;
pub(crate) mod media;
pub(crate) mod names;
pub(crate) mod platform;
pub(crate) mod reference;
pub(crate) mod referrers;
pub(crate) mod registry_reference;
pub(crate) mod tagged;
pub(crate) mod tar_entries;
pub(crate) mod whole;
