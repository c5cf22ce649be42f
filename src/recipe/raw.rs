//! The recipe schema as written (docs/recipes.md): serde types that mirror the TOML
//! one to one, with spans kept on everything a later check may point at.
//! Nothing here is validated beyond TOML types and unknown keys.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRecipe {
    /// `[vars]`: names and their default values.
    #[serde(default)]
    pub vars: BTreeMap<S<String>, S<String>>,
    pub image: Option<S<RawImage>>,
    pub from: Option<S<RawFrom>>,
    pub config: Option<RawConfig>,
    #[serde(default)]
    pub annotations: BTreeMap<S<String>, S<String>>,
    #[serde(default)]
    pub layer: Vec<S<RawLayer>>,
    #[serde(default)]
    pub plugin: Vec<S<RawPlugin>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawImage {
    pub name: S<String>,
    pub tags: Option<Vec<S<String>>>,
    pub platforms: Option<S<Vec<S<String>>>>,
    /// `spdx`, `cyclonedx`, `both` or `none`.
    pub sbom: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFrom {
    pub scratch: Option<S<bool>>,
    pub image: Option<S<String>>,
    pub recipe: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub entrypoint: Option<Vec<S<String>>>,
    pub cmd: Option<Vec<S<String>>>,
    pub env: Option<BTreeMap<S<String>, S<String>>>,
    pub workdir: Option<S<String>>,
    pub user: Option<S<String>>,
    pub labels: Option<BTreeMap<S<String>, S<String>>>,
    pub exposed_ports: Option<Vec<S<String>>>,
    pub volumes: Option<Vec<S<String>>>,
    pub stop_signal: Option<S<String>>,
    pub unset: Option<RawUnset>,
}

/// `[config.unset]`: what of the parent's config to drop.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUnset {
    pub env: Option<Vec<S<String>>>,
    pub labels: Option<Vec<S<String>>>,
    pub exposed_ports: Option<Vec<S<String>>>,
    pub volumes: Option<Vec<S<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLayer {
    pub name: Option<S<String>>,
    #[serde(default)]
    pub copy: Vec<S<RawCopy>>,
    #[serde(default)]
    pub file: Vec<S<RawFile>>,
    #[serde(default)]
    pub dir: Vec<S<RawDir>>,
    #[serde(default)]
    pub symlink: Vec<S<RawSymlink>>,
    #[serde(default)]
    pub hardlink: Vec<S<RawHardlink>>,
    #[serde(default)]
    pub plugin: Vec<S<RawPlugin>>,
    #[serde(default)]
    pub remove: Vec<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCopy {
    pub src: S<String>,
    /// Copy out of this image (any transport) instead of the host.
    pub image: Option<S<String>>,
    /// Copy out of the image this recipe builds instead of the host.
    pub recipe: Option<S<String>>,
    pub dest: Option<S<String>>,
    pub include: Option<Vec<S<String>>>,
    pub exclude: Option<Vec<S<String>>>,
    pub mode: Option<S<String>>,
    pub dir_mode: Option<S<String>>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub path: S<String>,
    pub content: Option<S<String>>,
    pub content_base64: Option<S<String>>,
    pub mode: Option<S<String>>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDir {
    pub path: S<String>,
    pub mode: Option<S<String>>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSymlink {
    pub path: S<String>,
    pub target: S<String>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHardlink {
    pub path: S<String>,
    pub target: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPlugin {
    pub script: S<String>,
    pub with: Option<S<toml::Table>>,
}
