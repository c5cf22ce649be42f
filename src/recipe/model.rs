//! The validated recipe: what the later stages consume. Every path here is
//! normalised, every mode parsed, every name checked; spans are kept only
//! where a later stage may still have to point at the recipe.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use globset::GlobSet;

use super::ignore::IgnoreRules;
use super::image_path::ImagePath;
use super::source::{Loc, SourceFile};
use super::vars::Values;
use crate::digest::Digest;
use crate::oci::platform::Platform;
use crate::oci::reference::ImageRef;

#[derive(Debug)]
pub(crate) struct Recipe {
    pub file: Arc<SourceFile>,
    /// The recipe file's canonical path: its identity in graphs and caches.
    pub path: PathBuf,
    /// The directory relative `src` paths start from, as the recipe was
    /// named: empty for a recipe named without a directory part (`build
    /// app.toml`), which means the current directory. Kept that way so that
    /// messages show host paths as written (`nowhere/`, not `./nowhere/`);
    /// whatever resolves it (`plugins::ctx::confined`) must read an empty
    /// path as `.`.
    pub dir: PathBuf,
    pub image: Image,
    pub from: Base,
    pub config: ConfigPatch,
    pub annotations: BTreeMap<String, String>,
    pub layers: Vec<Layer>,
    /// `[[plugin]]`: image-level hooks (`config`, `manifest`), in order.
    pub plugins: Vec<PluginUse>,
    /// Whether a per-platform built-in (`${arch}`, ...) was expanded: then
    /// the recipe is loaded once for each of its platforms.
    pub per_platform: bool,
    /// The variables' values it was loaded with (for `env`, expanded at
    /// assembly).
    pub vars: Values,
    /// `.composeignore` beside the recipe.
    pub ignore: Option<Arc<IgnoreRules>>,
    /// Host paths (canonical) no copy takes: the store and the build's
    /// outputs, set by the build before planning.
    pub never_copied: OnceLock<Arc<[PathBuf]>>,
}

impl Recipe {
    /// What [`Recipe::never_copied`] holds (nothing before it is set).
    pub(crate) fn never_copied(&self) -> &[PathBuf] {
        self.never_copied.get().map_or(&[], |paths| paths)
    }
}

/// A Rhai plugin a recipe uses (`[[layer.plugin]]` or `[[plugin]]`).
#[derive(Clone, Debug)]
pub(crate) struct PluginUse {
    /// The script, from the recipe's directory.
    pub script: PathBuf,
    /// The script as the recipe names it.
    pub shown: String,
    /// The `with` table as JSON (keys sorted): the hooks' `args`.
    pub with: serde_json::Value,
    /// The whole `[[plugin]]` entry.
    pub loc: Loc,
}

#[derive(Debug)]
pub(crate) struct Image {
    /// Repository, e.g. `localhost/hello`.
    pub name: String,
    pub tags: Vec<String>,
    pub platforms: Vec<Platform>,
    /// `sbom`: the SBOMs a build attaches (`--sbom` overrides it).
    pub sbom: Vec<SbomFormat>,
}

/// An SBOM format (`sbom` in `[image]`, `build --sbom`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum SbomFormat {
    Spdx,
    CycloneDx,
}

impl SbomFormat {
    /// The formats a setting names: `spdx`, `cyclonedx`, `both`, `none`.
    pub(crate) fn parse_setting(text: &str) -> Option<Vec<SbomFormat>> {
        Some(match text {
            "spdx" => vec![SbomFormat::Spdx],
            "cyclonedx" => vec![SbomFormat::CycloneDx],
            "both" => vec![SbomFormat::Spdx, SbomFormat::CycloneDx],
            "none" => Vec::new(),
            _ => return None,
        })
    }

    /// As settings and `--format` name it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            SbomFormat::Spdx => "spdx",
            SbomFormat::CycloneDx => "cyclonedx",
        }
    }
}

impl Image {
    /// The last component of the name: the default output directory.
    pub(crate) fn short_name(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or(&self.name)
    }
}

/// What the first layer stacks on.
#[derive(Debug)]
pub(crate) enum Base {
    Scratch,
    Image {
        /// Its file paths (`oci:` and archives) taken from the recipe's directory.
        reference: ImageRef,
        /// As the recipe names it (`org.opencontainers.image.base.name`):
        /// `HOST/REPO:TAG` for a registry, else the reference as written.
        name: String,
        /// Exactly as written: its key in the recipe's lock file.
        written: String,
        /// The `from.image` value.
        loc: Loc,
    },
    Recipe {
        path: PathBuf,
        loc: Loc,
    },
}

/// `[config]`: the fields a recipe sets; the rest come from the parent.
#[derive(Debug, Default)]
pub(crate) struct ConfigPatch {
    pub entrypoint: Option<Vec<String>>,
    /// `Some([])` clears the parent's.
    pub cmd: Option<Vec<String>>,
    /// In file order; values still hold `${NAME}` (expanded at assembly,
    /// from the environment they inherit).
    pub env: Vec<EnvSet>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    /// Where `user` is written.
    pub user_loc: Option<Loc>,
    pub labels: BTreeMap<String, String>,
    /// Normalised to `PORT/PROTO`.
    pub exposed_ports: Vec<String>,
    pub volumes: Vec<String>,
    pub stop_signal: Option<String>,
    pub unset: Unset,
}

/// One `[config] env` entry.
#[derive(Debug)]
pub(crate) struct EnvSet {
    pub name: String,
    pub value: String,
    pub loc: Loc,
}

/// `[config.unset]`: names, each where it is written.
#[derive(Debug, Default)]
pub(crate) struct Unset {
    pub env: Vec<(String, Loc)>,
    pub labels: Vec<(String, Loc)>,
    /// Normalised to `PORT/PROTO`.
    pub exposed_ports: Vec<(String, Loc)>,
    pub volumes: Vec<(String, Loc)>,
}

#[derive(Debug)]
pub(crate) struct Layer {
    pub name: String,
    pub loc: Loc,
    pub entries: Vec<Entry>,
}

#[derive(Debug)]
pub(crate) struct Entry {
    pub loc: Loc,
    pub kind: EntryKind,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Owner {
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug)]
pub(crate) enum EntryKind {
    Copy(Copy),
    File {
        path: ImagePath,
        content: Arc<[u8]>,
        mode: u32,
        owner: Owner,
    },
    Dir {
        path: ImagePath,
        mode: u32,
        owner: Owner,
    },
    Symlink {
        path: ImagePath,
        target: String,
        owner: Owner,
    },
    Hardlink {
        path: ImagePath,
        target: ImagePath,
    },
    /// A whiteout; `opaque` (`DIR/*`) hides everything below `path` instead.
    Remove {
        path: ImagePath,
        opaque: bool,
    },
    /// `[[layer.plugin]]`: its `layer` hook adds entries.
    Plugin(PluginUse),
}

/// `[[layer.copy]]`.
#[derive(Debug)]
pub(crate) struct Copy {
    /// Host path, possibly with `{os}`, `{arch}`, `{variant}`.
    pub src: String,
    pub dest: ImagePath,
    /// `dest` ended in `/`: a copied file keeps its name below it.
    pub dest_is_dir: bool,
    pub include: Globs,
    pub exclude: Globs,
    /// Mode for files; `None` means 0755 if any x bit is set, else 0644.
    pub mode: Option<u32>,
    pub dir_mode: u32,
    pub owner: Owner,
    /// `image = "..."`: the files come from that image, not the host.
    pub from: Option<Arc<ImageSource>>,
}

/// The image a `copy` takes its files from.
#[derive(Debug)]
pub(crate) struct ImageSource {
    /// File references taken from the recipe's directory.
    pub reference: ImageRef,
    /// `recipe = "..."`: the image is what that recipe (this path, from
    /// the recipe's directory) builds; `reference` is then only a name.
    pub recipe: Option<PathBuf>,
    /// As the recipe writes it.
    pub name: String,
    /// Whether the copy sets `uid` or `gid` (else owners come from the image).
    pub owner_given: bool,
    /// By platform, once fetched and extracted (`compose`).
    pub extracted: Mutex<BTreeMap<Platform, Arc<Extracted>>>,
}

impl ImageSource {
    /// What was extracted for `platform`, if it was.
    pub(crate) fn for_platform(&self, platform: &Platform) -> Option<Arc<Extracted>> {
        self.extracted.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(platform).cloned()
    }
}

/// The part of an image a `copy` takes, extracted into the store.
#[derive(Debug)]
pub(crate) struct Extracted {
    /// The image's manifest digest.
    pub digest: Digest,
    /// The image root: `src` lies below it.
    pub root: PathBuf,
    /// Mode, uid and gid of each entry, by path in the image (no leading `/`).
    pub meta: BTreeMap<String, (u32, u32, u32)>,
}

/// Glob patterns as written, and compiled.
#[derive(Debug)]
pub(crate) struct Globs {
    pub patterns: Vec<String>,
    pub set: GlobSet,
}

impl Globs {
    /// `**`: everything.
    pub(crate) fn all() -> Result<Globs, globset::Error> {
        let glob = globset::Glob::new("**")?;
        let set = GlobSet::builder().add(glob).build()?;
        Ok(Globs { patterns: vec!["**".into()], set })
    }

    /// No pattern: matches nothing.
    pub(crate) fn none() -> Globs {
        Globs { patterns: Vec::new(), set: GlobSet::empty() }
    }
}
