//! Raw schema → validated [`Recipe`]. Every check that can be made from the
//! text alone is made here, and every failure is collected (not just the
//! first) as a located error.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use globset::GlobSetBuilder;
use thiserror::Error;
use toml::Spanned;

use super::image_path::ImagePath;
use super::model::{
    Base, ConfigPatch, Copy, Entry, EntryKind, EnvSet, Globs, Image, ImageSource, Layer, Owner, PluginUse, Recipe,
    SbomFormat, Unset,
};
use super::names;
use super::raw::{RawConfig, RawCopy, RawFrom, RawImage, RawLayer, RawPlugin, RawRecipe, RawUnset};
use super::source::{Loc, LocatedError, SourceFile};
use super::vars::{BUILT_IN, Given, Values, check_name};
use crate::oci::platform::Platform;
use crate::oci::reference::ImageRef;

/// Annotations compose-img derives itself; a recipe may not set them.
pub(crate) const RESERVED_ANNOTATIONS: [&str; 3] =
    ["org.opencontainers.image.created", "org.opencontainers.image.base.name", "org.opencontainers.image.base.digest"];

pub(super) fn validate(
    raw: RawRecipe,
    file: Arc<SourceFile>,
    path: PathBuf,
    dir: PathBuf,
    dropped: &[String],
    removed: &[(Range<usize>, String)],
) -> Result<Recipe, Vec<LocatedError>> {
    let mut cx = Cx { file, errors: Vec::new(), unlisted: 0, dropped: dropped.to_vec(), removed: removed.to_vec() };
    let image = cx.image(raw.image);
    let from = cx.from(raw.from, &dir);
    let config = raw.config.map(|c| cx.config(c)).unwrap_or_default();
    let annotations = cx.annotations(raw.annotations);
    let layers = cx.layers(raw.layer, &dir);
    let plugins: Vec<PluginUse> = raw.plugin.into_iter().filter_map(|p| cx.plugin(p, &dir)).collect();
    cx.keep_first();
    if cx.unlisted > 0 {
        cx.errors.push(LocatedError::unlisted(&cx.file, cx.unlisted));
    }
    match (image, from) {
        (Some(image), Some(from)) if cx.errors.is_empty() => Ok(Recipe {
            file: cx.file,
            path,
            dir,
            image,
            from,
            config,
            annotations,
            layers,
            plugins,
            per_platform: false,
            vars: Values::default(),
            ignore: None,
            never_copied: Default::default(),
        }),
        _ => Err(cx.errors),
    }
}

/// `[vars]`: each declared name with its value, `given` (`--var`) first,
/// else the default; a bad or built-in name is an error at it.
pub(super) fn declared(
    vars: &BTreeMap<Spanned<String>, Spanned<String>>,
    file: &Arc<SourceFile>,
    given: &Given,
) -> (BTreeMap<String, String>, Vec<LocatedError>) {
    let mut declared = BTreeMap::new();
    let mut errors = Vec::new();
    for (name, default) in vars {
        let loc = Loc { file: Arc::clone(file), span: name.span() };
        if let Err(e) = check_name(name.get_ref()) {
            errors.push(loc.error(e.to_string(), "invalid variable name"));
        } else if BUILT_IN.contains(&name.get_ref().as_str()) {
            errors.push(loc.error(
                format!("`{}` is built in (the platform's); choose another name", name.get_ref()),
                "built-in variable",
            ));
        } else {
            let value = given.values.get(name.get_ref()).unwrap_or(default.get_ref());
            declared.insert(name.get_ref().clone(), value.clone());
        }
    }
    (declared, errors)
}

/// The first of the recipe's platforms (as validation sorts them), which
/// the built-in variables take by default; `None` if none can be read.
pub(super) fn first_platform(raw: &RawRecipe) -> Option<Platform> {
    let Some(list) = raw.image.as_ref().and_then(|image| image.get_ref().platforms.as_ref()) else {
        return crate::oci::platform::parse_platform("linux/amd64").ok();
    };
    list.get_ref().iter().filter_map(|p| crate::oci::platform::parse_platform(p.get_ref()).ok()).min()
}

/// The mistakes one recipe keeps, the first in file order; the rest are
/// only counted (a recipe of a million mistakes is one mistake repeated).
const MAX_KEPT: usize = 1000;

struct Cx {
    file: Arc<SourceFile>,
    errors: Vec<LocatedError>,
    /// Mistakes found and not kept.
    unlisted: usize,
    /// Top-level tables left out for a TOML mistake already reported.
    dropped: Vec<String>,
    /// Keys the parse left out for their mistakes, with their table's span.
    removed: Vec<(Range<usize>, String)>,
}

impl Cx {
    /// Whether the parse left one of `keys` out of the table at `span` for
    /// a mistake it reported (the key is written, but not as it must be).
    fn writes_key(&self, span: Range<usize>, keys: &[&str]) -> bool {
        self.removed.iter().any(|(table, key)| *table == span && keys.contains(&key.as_str()))
    }
}

impl Cx {
    fn push(&mut self, error: LocatedError) {
        self.errors.push(error);
        if self.errors.len() >= 2 * MAX_KEPT {
            self.keep_first();
        }
    }

    /// Keeps the first [`MAX_KEPT`] mistakes, in file order.
    fn keep_first(&mut self) {
        if self.errors.len() > MAX_KEPT {
            self.errors.sort_by_key(LocatedError::first_offset);
            self.unlisted += self.errors.len() - MAX_KEPT;
            self.errors.truncate(MAX_KEPT);
        }
    }

    fn loc(&self, span: Range<usize>) -> Loc {
        Loc { file: Arc::clone(&self.file), span }
    }

    fn err(&mut self, span: Range<usize>, message: impl Into<String>, label: impl Into<String>) {
        let error = self.loc(span).error(message, label);
        self.push(error);
    }

    /// Runs `check` on a spanned string; a failure becomes an error at its span.
    fn check<T, E: std::fmt::Display>(
        &mut self,
        value: &Spanned<String>,
        what: &str,
        check: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        match check(value.get_ref()) {
            Ok(v) => Some(v),
            Err(message) => {
                self.err(value.span(), message.to_string(), format!("invalid {what}"));
                None
            }
        }
    }

    fn image(&mut self, raw: Option<Spanned<RawImage>>) -> Option<Image> {
        let Some(raw) = raw else {
            if self.dropped.iter().any(|t| t == "image") {
                return None;
            }
            self.push(
                self.loc(0..0)
                    .error("the recipe has no [image] table", "expected [image] with a name")
                    .with_help("add:\n[image]\nname = \"localhost/NAME\""),
            );
            return None;
        };
        let raw = raw.into_inner();
        let name =
            self.check(&raw.name, "image name", crate::oci::names::check_repository).map(|()| raw.name.into_inner());
        let tags = match raw.tags {
            Some(tags) => {
                let mut seen: BTreeMap<String, Range<usize>> = BTreeMap::new();
                for tag in &tags {
                    if self.check(tag, "tag", crate::oci::names::check_tag).is_some()
                        && let Some(first) = seen.insert(tag.get_ref().clone(), tag.span())
                    {
                        self.duplicate(first, tag.span(), &format!("tag `{}` is listed twice", tag.get_ref()));
                    }
                }
                seen.into_keys().collect()
            }
            None => vec!["latest".to_owned()],
        };
        let platforms = match raw.platforms {
            Some(list) => {
                if list.get_ref().is_empty() {
                    self.err(list.span(), "`platforms` is empty", "list at least one platform, e.g. \"linux/amd64\"");
                }
                let mut platforms: Vec<_> = list
                    .get_ref()
                    .iter()
                    .filter_map(|p| self.check(p, "platform", crate::oci::platform::parse_platform))
                    .collect();
                platforms.sort();
                platforms.dedup();
                platforms
            }
            None => vec![crate::oci::platform::parse_platform("linux/amd64").ok()?],
        };
        let sbom = match &raw.sbom {
            Some(value) => match SbomFormat::parse_setting(value.get_ref()) {
                Some(formats) => formats,
                None => {
                    self.err(
                        value.span(),
                        format!("`sbom = \"{}\"` is not an SBOM setting", value.get_ref()),
                        "expected \"spdx\", \"cyclonedx\", \"both\" or \"none\"",
                    );
                    Vec::new()
                }
            },
            None => Vec::new(),
        };
        Some(Image { name: name?, tags, platforms, sbom })
    }

    fn duplicate(&mut self, first: Range<usize>, again: Range<usize>, message: &str) {
        let error = self.loc(again).error_with(message, "again here", &self.loc(first), "first here");
        self.push(error);
    }

    fn from(&mut self, raw: Option<Spanned<RawFrom>>, dir: &std::path::Path) -> Option<Base> {
        let help = "set exactly one of: scratch = true, image = \"TRANSPORT:REF\", recipe = \"FILE.toml\"";
        let Some(raw) = raw else {
            if self.dropped.iter().any(|t| t == "from") {
                return None;
            }
            self.push(self.loc(0..0).error("the recipe has no [from] table", "expected [from]").with_help(help));
            return None;
        };
        let span = raw.span();
        let RawFrom { scratch, image, recipe } = raw.into_inner();
        let given: Vec<Range<usize>> =
            [scratch.as_ref().map(|s| s.span()), image.as_ref().map(|s| s.span()), recipe.as_ref().map(|s| s.span())]
                .into_iter()
                .flatten()
                .collect();
        if given.len() > 1 {
            let error = self
                .loc(given[1].clone())
                .error_with("[from] sets more than one base", "and this", &self.loc(given[0].clone()), "this")
                .with_help(help);
            self.push(error);
            return None;
        }
        if let Some(scratch) = scratch {
            if !*scratch.get_ref() {
                self.push(
                    self.loc(scratch.span()).error("`scratch = false` names no base", "set it to true").with_help(help),
                );
                return None;
            }
            return Some(Base::Scratch);
        }
        if let Some(image) = image {
            let reference = match ImageRef::parse(image.get_ref()) {
                Ok(reference) => reference,
                Err(message) => {
                    self.err(image.span(), message.to_string(), "expected an image reference");
                    return None;
                }
            };
            let name = match &reference {
                ImageRef::Docker(docker) => docker.to_string(),
                _ => image.get_ref().clone(),
            };
            let (loc, written) = (self.loc(image.span()), image.get_ref().clone());
            return Some(Base::Image { reference: reference.relative_to(dir), name, written, loc });
        }
        if let Some(recipe) = recipe {
            if recipe.get_ref().is_empty() || recipe.get_ref().contains('\0') {
                self.err(recipe.span(), "`from.recipe` is not a file path", "expected a path to a recipe");
                return None;
            }
            return Some(Base::Recipe { loc: self.loc(recipe.span()), path: dir.join(recipe.get_ref()) });
        }
        self.push(self.loc(span).error("[from] is empty", "nothing set here").with_help(help));
        None
    }

    /// Whether `value`, bound for the image config, has no control
    /// character; if it has one, the error says which and where.
    fn plain(&mut self, value: &Spanned<String>, what: &str) -> bool {
        match names::no_control_characters(value.get_ref()) {
            Ok(()) => true,
            Err(found) => {
                let message = format!("{what} contains {found}: not allowed in the image config or annotations");
                self.err(value.span(), message, "control character");
                false
            }
        }
    }

    /// Each item of a list bound for the image config.
    fn plain_list(&mut self, list: Option<Vec<Spanned<String>>>, what: &str) -> Option<Vec<String>> {
        let list = list?;
        for item in &list {
            self.plain(item, what);
        }
        Some(list.into_iter().map(Spanned::into_inner).collect())
    }

    fn config(&mut self, raw: RawConfig) -> ConfigPatch {
        let mut env = Vec::new();
        let mut entries: Vec<_> = raw.env.unwrap_or_default().into_iter().collect();
        entries.sort_by_key(|(name, _)| name.span().start);
        for (name, value) in entries {
            let (name_plain, value_plain) = (self.plain(&name, "an `env` name"), self.plain(&value, "an `env` value"));
            if !name_plain {
                continue;
            }
            if name.get_ref().is_empty() || name.get_ref().contains('=') {
                self.err(name.span(), "environment variable names may not be empty or contain `=`", "invalid name");
            } else if value_plain {
                let loc = self.loc(name.span().start..value.span().end);
                env.push(EnvSet { name: name.into_inner(), value: value.into_inner(), loc });
            }
        }
        let mut labels = BTreeMap::new();
        for (key, value) in raw.labels.unwrap_or_default() {
            let (key_plain, value_plain) = (self.plain(&key, "a `labels` key"), self.plain(&value, "a `labels` value"));
            if key_plain && value_plain {
                labels.insert(key.into_inner(), value.into_inner());
            }
        }
        let plain =
            |cx: &mut Cx, value: &Option<Spanned<String>>, what: &str| value.as_ref().is_none_or(|v| cx.plain(v, what));
        let (workdir_plain, user_plain, stop_plain) = (
            plain(self, &raw.workdir, "`workdir`"),
            plain(self, &raw.user, "`user`"),
            plain(self, &raw.stop_signal, "`stop_signal`"),
        );
        let entrypoint = self.plain_list(raw.entrypoint, "an `entrypoint` item");
        let cmd = self.plain_list(raw.cmd, "a `cmd` item");
        let exposed_ports = raw
            .exposed_ports
            .unwrap_or_default()
            .iter()
            .filter_map(|p| self.check(p, "port", names::parse_port))
            .collect();
        let volumes = raw
            .volumes
            .unwrap_or_default()
            .iter()
            .filter_map(|v| {
                let plain = self.plain(v, "a `volumes` item");
                plain.then(|| self.check(v, "volume", |text| ImagePath::parse(text).map(|p| p.to_string())))?
            })
            .collect();
        let unset = raw.unset.map(|u| self.unset(u)).unwrap_or_default();
        ConfigPatch {
            unset,
            user_loc: raw.user.as_ref().map(|u| self.loc(u.span())),
            entrypoint,
            cmd,
            env,
            workdir: raw
                .workdir
                .as_ref()
                .filter(|_| workdir_plain)
                .and_then(|w| self.check(w, "workdir", |text| ImagePath::parse(text).map(|p| p.to_string()))),
            user: raw.user.as_ref().filter(|_| user_plain).and_then(|u| self.check(u, "user", names::non_empty)),
            labels,
            exposed_ports,
            volumes,
            stop_signal: raw
                .stop_signal
                .as_ref()
                .filter(|_| stop_plain)
                .and_then(|s| self.check(s, "stop signal", names::non_empty)),
        }
    }

    fn unset(&mut self, raw: RawUnset) -> Unset {
        Unset {
            env: self.listed(raw.env, "env name", names::non_empty),
            labels: self.listed(raw.labels, "label", names::non_empty),
            exposed_ports: self.listed(raw.exposed_ports, "port", names::parse_port),
            volumes: self.listed(raw.volumes, "volume", |text| ImagePath::parse(text).map(|p| p.to_string())),
        }
    }

    /// Each item of `list` that passes `check`, as it returns it, with
    /// where it is.
    fn listed<E: std::fmt::Display>(
        &mut self,
        list: Option<Vec<Spanned<String>>>,
        what: &str,
        check: impl Fn(&str) -> Result<String, E>,
    ) -> Vec<(String, Loc)> {
        let mut out = Vec::new();
        for item in list.unwrap_or_default() {
            if let Some(value) = self.check(&item, what, &check) {
                out.push((value, self.loc(item.span())));
            }
        }
        out
    }

    fn annotations(&mut self, raw: BTreeMap<Spanned<String>, Spanned<String>>) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (key, value) in raw {
            let (key_plain, value_plain) =
                (self.plain(&key, "an `annotations` key"), self.plain(&value, "an `annotations` value"));
            if !(key_plain && value_plain) {
                continue;
            }
            if RESERVED_ANNOTATIONS.contains(&key.get_ref().as_str()) {
                self.err(key.span(), format!("`{}` is set by compose-img", key.get_ref()), "reserved annotation");
            } else {
                out.insert(key.into_inner(), value.into_inner());
            }
        }
        out
    }

    fn layers(&mut self, raw: Vec<Spanned<RawLayer>>, dir: &std::path::Path) -> Vec<Layer> {
        let mut names: BTreeMap<String, Range<usize>> = BTreeMap::new();
        let mut layers = Vec::new();
        for (index, raw) in raw.into_iter().enumerate() {
            let span = raw.span();
            let raw = raw.into_inner();
            let name = match &raw.name {
                Some(name) if name.get_ref().is_empty() => {
                    self.err(name.span(), "a layer name may not be empty", "empty name");
                    continue;
                }
                Some(name) => {
                    if let Some(first) = names.insert(name.get_ref().clone(), name.span()) {
                        self.duplicate(first, name.span(), &format!("two layers are named `{}`", name.get_ref()));
                    }
                    name.get_ref().clone()
                }
                None => format!("layer-{}", index + 1),
            };
            let entries = self.entries(raw, dir);
            layers.push(Layer { name, loc: self.loc(span), entries });
        }
        layers
    }

    fn path(&mut self, path: &Spanned<String>) -> Option<ImagePath> {
        let parsed = self.check(path, "path", ImagePath::parse)?;
        if parsed.is_root() {
            self.err(path.span(), "`/` itself cannot be an entry", "a path below `/` is needed");
            return None;
        }
        Some(parsed)
    }

    fn mode(&mut self, mode: Option<&Spanned<String>>, default: u32) -> Option<u32> {
        match mode {
            Some(mode) => self.check(mode, "mode", names::parse_mode),
            None => Some(default),
        }
    }

    fn entries(&mut self, raw: RawLayer, dir: &std::path::Path) -> Vec<Entry> {
        let mut entries = Vec::new();
        let mut push = |cx: &Cx, span: Range<usize>, kind: Option<EntryKind>| {
            if let Some(kind) = kind {
                entries.push(Entry { loc: cx.loc(span), kind });
            }
        };
        for copy in raw.copy {
            let kind = self.copy(copy.get_ref(), dir).map(EntryKind::Copy);
            push(self, copy.span(), kind);
        }
        for file in raw.file {
            let f = file.get_ref();
            let content: Option<Arc<[u8]>> = match (&f.content, &f.content_base64) {
                (Some(text), None) => Some(text.get_ref().as_bytes().into()),
                (None, Some(b64)) => base64::engine::general_purpose::STANDARD
                    .decode(b64.get_ref())
                    .map(Into::into)
                    .map_err(|e| {
                        self.err(b64.span(), format!("`content_base64` is not valid base64: {e}"), "invalid base64")
                    })
                    .ok(),
                (Some(_), Some(b64)) => {
                    self.err(b64.span(), "set either `content` or `content_base64`, not both", "second content");
                    None
                }
                // Written, but left out for a type error already reported.
                (None, None) if self.writes_key(file.span(), &["content", "content_base64"]) => None,
                (None, None) => {
                    self.err(file.span(), "a [[layer.file]] needs `content` or `content_base64`", "no content");
                    None
                }
            };
            let (path, mode) = (self.path(&f.path), self.mode(f.mode.as_ref(), 0o644));
            let owner = Owner { uid: f.uid.unwrap_or(0), gid: f.gid.unwrap_or(0) };
            let kind = (|| Some(EntryKind::File { path: path?, content: content?, mode: mode?, owner }))();
            push(self, file.span(), kind);
        }
        for dir in raw.dir {
            let d = dir.get_ref();
            let (path, mode) = (self.path(&d.path), self.mode(d.mode.as_ref(), 0o755));
            let owner = Owner { uid: d.uid.unwrap_or(0), gid: d.gid.unwrap_or(0) };
            let kind = (|| Some(EntryKind::Dir { path: path?, mode: mode?, owner }))();
            push(self, dir.span(), kind);
        }
        for link in raw.symlink {
            let l = link.get_ref();
            let path = self.path(&l.path);
            let target = self.check(&l.target, "symlink target", names::symlink_target);
            let owner = Owner { uid: l.uid.unwrap_or(0), gid: l.gid.unwrap_or(0) };
            let kind = (|| Some(EntryKind::Symlink { path: path?, target: target?, owner }))();
            push(self, link.span(), kind);
        }
        for link in raw.hardlink {
            let l = link.get_ref();
            let (path, target) = (self.path(&l.path), self.path(&l.target));
            let kind = (|| Some(EntryKind::Hardlink { path: path?, target: target? }))();
            push(self, link.span(), kind);
        }
        for remove in raw.remove {
            let kind = self.remove(&remove);
            push(self, remove.span(), kind);
        }
        for plugin in raw.plugin {
            let span = plugin.span();
            let kind = self.plugin(plugin, dir).map(EntryKind::Plugin);
            push(self, span, kind);
        }
        entries
    }

    fn remove(&mut self, remove: &Spanned<String>) -> Option<EntryKind> {
        let text = remove.get_ref();
        let (path, opaque) = match text.strip_suffix("/*") {
            Some("") => return Some(EntryKind::Remove { path: ImagePath::root(), opaque: true }),
            Some(dir) => (dir, true),
            None => (text.as_str(), false),
        };
        if path.contains('*') {
            self.err(
                remove.span(),
                "`remove` takes a path, or DIR/* for everything in DIR; no other globs",
                "unsupported glob",
            );
            return None;
        }
        let path = self.check(&Spanned::new(remove.span(), path.to_owned()), "path", ImagePath::parse)?;
        if path.is_root() {
            self.err(
                remove.span(),
                "`/` cannot be removed; use \"/*\" to hide everything below it",
                "removes the root",
            );
            return None;
        }
        Some(EntryKind::Remove { path, opaque })
    }

    fn copy(&mut self, raw: &RawCopy, dir: &std::path::Path) -> Option<Copy> {
        let owner_given = raw.uid.is_some() || raw.gid.is_some();
        let from = match (&raw.image, &raw.recipe) {
            (Some(image), None) => Some(Arc::new(ImageSource {
                reference: self.check(image, "image reference", ImageRef::parse)?.relative_to(dir),
                recipe: None,
                name: image.get_ref().clone(),
                owner_given,
                extracted: Default::default(),
            })),
            (None, Some(recipe)) => {
                if recipe.get_ref().is_empty() || recipe.get_ref().contains('\0') {
                    self.err(recipe.span(), "`recipe` is not a file path", "expected a path to a recipe");
                    return None;
                }
                Some(Arc::new(ImageSource {
                    reference: ImageRef::Oci { dir: dir.join(recipe.get_ref()), tag: None },
                    recipe: Some(dir.join(recipe.get_ref())),
                    name: recipe.get_ref().clone(),
                    owner_given,
                    extracted: Default::default(),
                }))
            }
            (Some(image), Some(recipe)) => {
                let error = self.loc(recipe.span()).error_with(
                    "a copy takes files from an image or from a recipe, not both",
                    "and this",
                    &self.loc(image.span()),
                    "this",
                );
                self.push(error);
                return None;
            }
            (None, None) => None,
        };
        let src = match from {
            Some(_) => self.check(&raw.src, "path in the image", |text| ImagePath::parse(text).map(|p| p.to_string())),
            None => self.check(&raw.src, "source", check_src_template),
        };
        let dest_text = raw.dest.as_ref().map_or("/", |d| d.get_ref().as_str());
        let dest = match &raw.dest {
            Some(dest) => self.check(dest, "destination", ImagePath::parse),
            None => Some(ImagePath::root()),
        };
        let include = self.globs(raw.include.as_deref(), &["**"]);
        let exclude = self.globs(raw.exclude.as_deref(), &[]);
        let mode = match &raw.mode {
            Some(mode) => Some(self.check(mode, "mode", names::parse_mode)?),
            None => None,
        };
        let dir_mode = self.mode(raw.dir_mode.as_ref(), 0o755);
        let dest = dest?;
        Some(Copy {
            src: src?,
            dest_is_dir: dest_text.ends_with('/') || dest.is_root(),
            dest,
            include: include?,
            exclude: exclude?,
            mode,
            dir_mode: dir_mode?,
            owner: Owner { uid: raw.uid.unwrap_or(0), gid: raw.gid.unwrap_or(0) },
            from,
        })
    }

    fn globs(&mut self, raw: Option<&[Spanned<String>]>, default: &[&str]) -> Option<Globs> {
        let patterns: Vec<Spanned<String>> = match raw {
            Some(list) => list.to_vec(),
            None => default.iter().map(|p| Spanned::new(0..0, (*p).to_owned())).collect(),
        };
        let mut set = GlobSetBuilder::new();
        let mut ok = true;
        for pattern in &patterns {
            match self.check(pattern, "glob", names::glob) {
                Some(glob) => {
                    set.add(glob);
                }
                None => ok = false,
            }
        }
        let set = set.build().ok()?;
        ok.then(|| Globs { patterns: patterns.into_iter().map(Spanned::into_inner).collect(), set })
    }

    fn plugin(&mut self, raw: Spanned<RawPlugin>, dir: &std::path::Path) -> Option<PluginUse> {
        let loc = self.loc(raw.span());
        let RawPlugin { script, with } = raw.into_inner();
        let text = script.get_ref();
        if text.is_empty() || text.contains('\0') || !text.ends_with(".rhai") {
            self.err(script.span(), "`script` must name a `.rhai` file", "script");
            return None;
        }
        let with = with.map(Spanned::into_inner).unwrap_or_default();
        let with = match serde_json::to_value(&with) {
            Ok(value) => value,
            Err(e) => {
                self.err(script.span(), format!("`with` cannot be handed to a plugin: {e}"), "plugin");
                return None;
            }
        };
        Some(PluginUse { script: dir.join(text), shown: text.clone(), with, loc })
    }
}

/// A `src` that is not a host path template.
#[derive(Debug, Error)]
enum InvalidTemplate {
    #[error("`src` must be a non-empty path")]
    Empty,
    #[error("`{0}` has a `{{` without `}}`")]
    Unclosed(String),
    #[error("`{{{name}}}` is not a placeholder: use {{os}}, {{arch}} or {{variant}}")]
    Placeholder { name: String },
}

/// A host path whose only `{...}` are `{os}`, `{arch}` and `{variant}`.
fn check_src_template(text: &str) -> Result<String, InvalidTemplate> {
    if text.is_empty() || text.contains('\0') {
        return Err(InvalidTemplate::Empty);
    }
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').ok_or_else(|| InvalidTemplate::Unclosed(text.to_owned()))?;
        let name = &rest[open + 1..open + close];
        if !matches!(name, "os" | "arch" | "variant") {
            return Err(InvalidTemplate::Placeholder { name: name.to_owned() });
        }
        rest = &rest[open + close + 1..];
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn src_templates() {
        assert_eq!(check_src_template("a/{os}-{arch}{variant}").unwrap(), "a/{os}-{arch}{variant}");
        assert_eq!(check_src_template("").unwrap_err().to_string(), "`src` must be a non-empty path");
        assert_eq!(check_src_template("a/{os").unwrap_err().to_string(), "`a/{os` has a `{` without `}`");
        assert_eq!(
            check_src_template("{cpu}").unwrap_err().to_string(),
            "`{cpu}` is not a placeholder: use {os}, {arch} or {variant}"
        );
    }
}
