//! `${NAME}` expanded in the raw recipe ([`super::vars`]), field by field,
//! before validation. `[image]`, `[from]` and `[annotations]` describe the one
//! image of every platform, so the per-platform built-ins are refused
//! there; `[config] env` values are expanded later, when the environment
//! they inherit is known (`assemble`).

use std::ops::Range;

use toml::Spanned;

use super::raw::{RawConfig, RawLayer, RawPlugin, RawRecipe};
use super::source::{Loc, LocatedError, SourceFile};
use super::vars::{BUILT_IN, ExpandError, Values, expand};

/// What substitution found: the errors, and whether a per-platform
/// built-in was used (then the recipe is loaded once per platform).
pub(super) struct Substituted {
    pub errors: Vec<LocatedError>,
    /// The values that could not be expanded: validation's complaints
    /// about them (kept as written) would only repeat the mistake.
    pub failed: Vec<Range<usize>>,
    pub per_platform: bool,
}

/// Expands every string of `raw` that takes variables: those of the whole
/// image with `fixed` (no platform), the rest with `values`.
pub(super) fn substitute(
    raw: &mut RawRecipe,
    file: &std::sync::Arc<SourceFile>,
    fixed: &Values,
    values: &Values,
) -> Substituted {
    let mut cx = Cx { file, errors: Vec::new(), failed: Vec::new(), per_platform: false, values: fixed };
    if let Some(image) = &mut raw.image {
        let image = image.get_mut();
        cx.one(&mut image.name);
        cx.list(image.tags.as_mut());
    }
    if let Some(from) = &mut raw.from {
        let from = from.get_mut();
        cx.option(from.image.as_mut());
        cx.option(from.recipe.as_mut());
    }
    for value in raw.annotations.values_mut() {
        cx.one(value);
    }
    cx.values = values;
    if let Some(config) = &mut raw.config {
        cx.config(config);
    }
    for layer in &mut raw.layer {
        cx.layer(layer.get_mut());
    }
    for plugin in &mut raw.plugin {
        cx.plugin(plugin.get_mut());
    }
    Substituted { errors: cx.errors, failed: cx.failed, per_platform: cx.per_platform }
}

struct Cx<'a> {
    file: &'a std::sync::Arc<SourceFile>,
    errors: Vec<LocatedError>,
    failed: Vec<Range<usize>>,
    per_platform: bool,
    values: &'a Values,
}

impl Cx<'_> {
    /// Expands `value` in place; a mistake becomes an error at its span
    /// (at the `${...}` itself when the value is written without escapes).
    fn one(&mut self, value: &mut Spanned<String>) {
        let span = value.span();
        if let Some(expanded) = self.text(value.get_ref(), span.clone()) {
            *value = Spanned::new(span, expanded);
        }
    }

    fn text(&mut self, text: &str, span: Range<usize>) -> Option<String> {
        if !text.contains('$') {
            return Some(text.to_owned());
        }
        if self.values.platform.is_some() && BUILT_IN.iter().any(|name| text.contains(&format!("${{{name}}}"))) {
            self.per_platform = true;
        }
        match expand(text, self.values) {
            Ok(expanded) => Some(expanded),
            Err(error) => {
                self.failed.push(span.clone());
                let at = self.within(span, text, &error);
                let label = match error {
                    ExpandError::PerPlatform { .. } => "one value for every platform",
                    ExpandError::Unknown { .. } => "unknown variable",
                    ExpandError::Unclosed { .. } | ExpandError::BadName { .. } => "here",
                };
                let error = Loc { file: std::sync::Arc::clone(self.file), span: at }.error(error.to_string(), label);
                self.errors.push(error);
                None
            }
        }
    }

    /// The span of the mistake in the file: inside the quoted value when
    /// the file holds it as written, else the whole value.
    fn within(&self, span: Range<usize>, text: &str, error: &ExpandError) -> Range<usize> {
        let source = self.file.text.get(span.clone()).unwrap_or("");
        let quoted = source.len() == text.len() + 2 && &source[1..source.len() - 1] == text;
        if quoted {
            let at = error.at();
            span.start + 1 + at.start..span.start + 1 + at.end
        } else {
            span
        }
    }

    fn option(&mut self, value: Option<&mut Spanned<String>>) {
        if let Some(value) = value {
            self.one(value);
        }
    }

    fn list(&mut self, list: Option<&mut Vec<Spanned<String>>>) {
        for value in list.into_iter().flatten() {
            self.one(value);
        }
    }

    fn config(&mut self, config: &mut RawConfig) {
        self.list(config.entrypoint.as_mut());
        self.list(config.cmd.as_mut());
        self.option(config.workdir.as_mut());
        self.option(config.user.as_mut());
        for value in config.labels.iter_mut().flat_map(|labels| labels.values_mut()) {
            self.one(value);
        }
        self.list(config.exposed_ports.as_mut());
        self.list(config.volumes.as_mut());
        self.option(config.stop_signal.as_mut());
    }

    fn layer(&mut self, layer: &mut RawLayer) {
        self.option(layer.name.as_mut());
        for copy in &mut layer.copy {
            let copy = copy.get_mut();
            self.one(&mut copy.src);
            self.option(copy.image.as_mut());
            self.option(copy.dest.as_mut());
            self.list(copy.include.as_mut());
            self.list(copy.exclude.as_mut());
        }
        for file in &mut layer.file {
            let file = file.get_mut();
            self.one(&mut file.path);
            self.option(file.content.as_mut());
        }
        for dir in &mut layer.dir {
            self.one(&mut dir.get_mut().path);
        }
        for link in &mut layer.symlink {
            let link = link.get_mut();
            self.one(&mut link.path);
            self.one(&mut link.target);
        }
        for link in &mut layer.hardlink {
            let link = link.get_mut();
            self.one(&mut link.path);
            self.one(&mut link.target);
        }
        for path in &mut layer.remove {
            self.one(path);
        }
        for plugin in &mut layer.plugin {
            self.plugin(plugin.get_mut());
        }
    }

    fn plugin(&mut self, plugin: &mut RawPlugin) {
        self.one(&mut plugin.script);
        if let Some(with) = &mut plugin.with {
            let span = with.span();
            for (_, value) in with.get_mut().iter_mut() {
                self.value(value, span.clone());
            }
        }
    }

    /// The strings of a `with` value, however deep; a mistake points at
    /// the whole `with` table.
    fn value(&mut self, value: &mut toml::Value, span: Range<usize>) {
        match value {
            toml::Value::String(text) => {
                if let Some(expanded) = self.text(&text.clone(), span) {
                    *text = expanded;
                }
            }
            toml::Value::Array(items) => items.iter_mut().for_each(|item| self.value(item, span.clone())),
            toml::Value::Table(table) => table.iter_mut().for_each(|(_, item)| self.value(item, span.clone())),
            _ => {}
        }
    }
}
