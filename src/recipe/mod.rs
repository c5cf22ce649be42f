//! Recipe stage: a TOML file → a validated [`Recipe`].
//!
//! - [`raw`]: the schema as serde types, spans kept (docs/recipes.md);
//! - [`lenient`]: TOML → raw, each table on its own, so that the type
//!   errors and unknown keys of every table are reported together;
//! - [`validate`]: raw → [`model`], collecting every mistake;
//! - [`ignore`]: `.composeignore` beside the recipe;
//! - [`image_path`], [`names`]: the small grammars (paths, names, modes);
//! - [`source`]: source text, spans and [`LocatedError`], which later stages
//!   reuse to point back at the entry that failed;
//! - [`vars`]: `[vars]`, `--var` and `${NAME}`; `substitute` expands them
//!   in the raw recipe before validation, for one platform.

pub(crate) mod ignore;
pub(crate) mod image_path;
mod lenient;
pub(crate) mod model;
pub(crate) mod names;
mod raw;
pub(crate) mod source;
mod substitute;
mod validate;
pub(crate) mod vars;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::Diagnostic;
use thiserror::Error;

use crate::oci::platform::Platform;

pub(crate) use image_path::ImagePath;
pub(crate) use model::*;
pub(crate) use source::{Loc, LocatedError, SourceFile};
pub(crate) use validate::RESERVED_ANNOTATIONS;

#[derive(Debug, Error, Diagnostic)]
pub(crate) enum RecipeError {
    #[error("cannot read recipe {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("--var {name}: no recipe declares `{name}` (in [vars]) in {recipes} or their parents")]
    Undeclared { name: String, recipes: String },
    /// One or more located mistakes, in the order they appear in the file.
    #[error("{} in {file}", counted(.errors))]
    Invalid { file: String, errors: Vec<LocatedError> },
}

/// `1 error`, `N errors`: what `errors` stand for.
pub(crate) fn counted(errors: &[LocatedError]) -> String {
    match errors.iter().map(LocatedError::count).sum::<usize>() {
        1 => "1 error".to_owned(),
        n => format!("{n} errors"),
    }
}

/// The largest recipe file read, in bytes.
pub(crate) const MAX_RECIPE: u64 = 16 << 20;

/// Reads and validates the recipe at `path`: a regular file (not a FIFO or
/// a device) of at most [`MAX_RECIPE`] bytes, in UTF-8. Its variables take
/// the values `given` (`--var`) or their defaults; the built-in `${os}`,
/// `${arch}` and `${variant}` those of `platform`, or of the recipe's first
/// platform when `None` ([`Recipe::per_platform`] says whether it used
/// them, and so must be loaded again for its other platforms).
pub(crate) fn load(path: &Path, given: &vars::Given, platform: Option<&Platform>) -> Result<Recipe, RecipeError> {
    let read_error = |source| RecipeError::Read { path: path.to_owned(), source };
    let bytes = crate::files::read_bounded(path, MAX_RECIPE).map_err(read_error)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| read_error(std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text")))?;
    let canonical = std::fs::canonicalize(path).map_err(read_error)?;
    let file = Arc::new(SourceFile { name: path.display().to_string(), text: text.into() });
    let invalid = |mut errors: Vec<LocatedError>| {
        errors.sort_by_key(|e| e.first_offset());
        RecipeError::Invalid { file: file.name.clone(), errors }
    };
    let parsed = lenient::parse(&file.text);
    let mut errors: Vec<LocatedError> = parsed.errors.iter().map(|e| syntax_error(&file, e)).collect();
    if parsed.syntax {
        // What TOML's parser made of the rest is a guess: its types and
        // keys are checked, not its meaning.
        return Err(invalid(errors));
    }
    let mut raw = parsed.recipe;
    let (declared, more) = validate::declared(&raw.vars, &file, given);
    errors.extend(more);
    let platform = platform.cloned().or_else(|| validate::first_platform(&raw));
    let fixed = vars::Values { declared: declared.clone(), platform: None };
    let values = vars::Values { declared, platform };
    let mut substituted = substitute::substitute(&mut raw, &file, &fixed, &values);
    errors.extend(std::mem::take(&mut substituted.errors));
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let ignore = match ignore::IgnoreRules::load(canonical.parent().unwrap_or(Path::new("/"))) {
        Ok(ignore) => ignore,
        Err(ignore::IgnoreError::Read { path, source }) => return Err(RecipeError::Read { path, source }),
        Err(ignore::IgnoreError::Invalid { file, errors }) => return Err(RecipeError::Invalid { file, errors }),
    };
    // Reported only with other mistakes (planning finds them otherwise),
    // so that one run names every mistake of the recipe.
    let missing = missing_sources(&raw, &file, &dir);
    match validate::validate(raw, Arc::clone(&file), canonical, dir, &parsed.dropped, &parsed.removed) {
        Ok(mut recipe) if errors.is_empty() => {
            recipe.per_platform = substituted.per_platform;
            recipe.vars = values;
            recipe.ignore = ignore;
            Ok(recipe)
        }
        Ok(_) => {
            errors.extend(missing);
            Err(invalid(errors))
        }
        Err(more) => {
            let repeated = |e: &LocatedError| substituted.failed.iter().any(|span| span.contains(&e.first_offset()));
            errors.extend(more.into_iter().filter(|e| !repeated(e)));
            errors.extend(missing);
            Err(invalid(errors))
        }
    }
}

/// The `copy` entries whose host `src` does not exist (a plain path
/// relative to the recipe's directory: no platform placeholder, not from
/// an image or recipe), each an error at its `src`, worded as planning
/// words it ([`unreadable_source`]).
fn missing_sources(raw: &raw::RawRecipe, file: &Arc<SourceFile>, dir: &Path) -> Vec<LocatedError> {
    let copies = raw.layer.iter().flat_map(|layer| &layer.get_ref().copy).map(|copy| copy.get_ref());
    copies
        .filter(|copy| copy.image.is_none() && copy.recipe.is_none() && !copy.src.get_ref().contains('{'))
        .filter_map(|copy| {
            let path = dir.join(copy.src.get_ref());
            let error = std::fs::symlink_metadata(&path).err().filter(|e| e.kind() == std::io::ErrorKind::NotFound)?;
            let loc = Loc { file: Arc::clone(file), span: copy.src.span() };
            Some(unreadable_source(&loc, &path, &error))
        })
        .collect()
}

/// The error for a `copy` (at `loc`) that cannot read `path` of its host
/// source: loading says it of a missing `src`, planning of any source.
pub(crate) fn unreadable_source(loc: &Loc, path: &Path, error: &std::io::Error) -> LocatedError {
    loc.error(format!("cannot read {}: {error}", path.display()), "copied here")
}

/// A TOML syntax or type error in `file`, located and in TOML words (also
/// for lock files).
pub(crate) fn syntax_error(file: &Arc<SourceFile>, error: &toml::de::Error) -> LocatedError {
    let span = error.span().unwrap_or(0..0);
    let raw = error.message().trim_end();
    let loc = Loc { file: Arc::clone(file), span };
    let label = if raw.starts_with("unknown field") {
        "unknown key"
    } else if raw.starts_with("missing field") {
        "missing key"
    } else if raw.starts_with("invalid type") || raw.starts_with("invalid value") {
        "wrong type or value"
    } else {
        "here"
    };
    let error = loc.error(in_toml_words(raw), label);
    match fix_for(&file.text, error.first_offset(), raw).or_else(|| did_you_mean(raw)) {
        Some(help) => error.with_help(help),
        None => error,
    }
}

/// Keys a `[[layer]]` table has, which TOML puts in a sub-table when they
/// are written after one of its `[[layer.KIND]]` headers.
const LAYER_KEYS: [&str; 8] = ["name", "copy", "file", "dir", "symlink", "hardlink", "plugin", "remove"];

/// How to fix the mistakes people make most, from the text around it: a
/// mode written as a TOML number, a table header with one pair of
/// brackets where an array of tables is needed, an array where a table
/// is, a layer's key written after one of its entries.
fn fix_for(text: &str, offset: usize, raw: &str) -> Option<String> {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("").trim();
    let key = line.split('=').next().unwrap_or("").trim();
    if (key == "mode" || key == "dir_mode") && (raw.contains("leading zero") || raw.contains("integer")) {
        return Some(format!("a mode is a string of octal digits: write `{key} = \"0755\"`"));
    }
    if let Some(table) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']'))
        && !table.starts_with('[')
        && (raw.contains("expected a sequence") || raw.contains("expected an array"))
    {
        return Some(format!(
            "write `[[{table}]]`: each `[[{table}]]` header starts one more entry (an array of tables)"
        ));
    }
    if (key == "env" || key == "labels") && raw.contains("invalid type: sequence") {
        return Some(format!("`{key}` is a table of names and values: write `{key} = {{ A = \"b\" }}`"));
    }
    if let Some(unknown) = raw.strip_prefix("unknown field `").and_then(|r| r.split('`').next())
        && LAYER_KEYS.contains(&unknown)
        && let Some(header) = text[..line_start].lines().rev().map(str::trim).find(|l| l.starts_with('['))
        && header.starts_with("[[layer.")
    {
        return Some(format!(
            "TOML puts every key after `{header}` into that entry: move `{unknown}` above the layer's first `[[layer.…]]` line"
        ));
    }
    None
}

/// serde speaks of fields, sequences and maps; a recipe author writes keys,
/// arrays and tables.
fn in_toml_words(message: &str) -> String {
    [
        ("unknown field", "unknown key"),
        ("missing field", "missing key"),
        ("a sequence", "an array"),
        ("a map", "a table"),
        ("expected u32", "expected a whole number from 0 to 4294967295"),
        ("expected struct", "expected a table"),
    ]
    .iter()
    .fold(message.to_owned(), |text, (from, to)| text.replace(from, to))
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" message, the
/// closest expected name, if close enough to be a likely typo.
fn did_you_mean(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, rest) = rest.split_once('`')?;
    // Comparing takes time with the product of the lengths; no recipe key
    // is this long.
    if unknown.len() > 64 {
        return None;
    }
    let expected = rest.split('`').skip(1).step_by(2);
    let (best, score) =
        expected.map(|name| (name, strsim::jaro_winkler(unknown, name))).max_by(|a, b| a.1.total_cmp(&b.1))?;
    (score > 0.8).then(|| format!("did you mean `{best}`?"))
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggests_close_names_only() {
        let msg = "unknown field `nmae`, expected one of `name`, `tags`, `platforms`";
        assert_eq!(did_you_mean(msg).as_deref(), Some("did you mean `name`?"));
        assert_eq!(did_you_mean("unknown field `zzz`, expected one of `name`, `tags`"), None);
        assert_eq!(did_you_mean("unknown field `srcc`, expected `src`").as_deref(), Some("did you mean `src`?"));
    }
}
