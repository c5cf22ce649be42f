//! TOML → [`RawRecipe`] without stopping at the first mistake: the
//! document is parsed once into spanned values, and each part (the top
//! level, every `[[layer]]`, every `[[plugin]]`) is deserialized on its
//! own. A type error or unknown key is collected, the value or key it
//! points at is dropped, and the part is tried again, so the mistakes of
//! different tables (and several in one table) are all reported in one run.

use std::ops::Range;

use serde::de::{DeserializeOwned, IntoDeserializer};
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue, Error};

use super::raw::{RawLayer, RawPlugin, RawRecipe};

/// How many mistakes one part may report before it is given up on: each
/// one costs another pass over the part, so the time stays bounded.
const MAX_PER_PART: usize = 100;

/// What parsing found: the recipe (with the parts in error left out),
/// every mistake, and the top-level tables that were in the text but had
/// to be left out (so that validation does not also call them missing).
pub(super) struct Parsed {
    pub recipe: RawRecipe,
    pub errors: Vec<Error>,
    pub dropped: Vec<String>,
    /// Every key left out for its mistake, with the span of its table:
    /// validation does not call such a key missing.
    pub removed: Vec<(Range<usize>, String)>,
    /// The text has syntax errors (the first of `errors`).
    pub syntax: bool,
}

/// Parses `text`. A syntax error does not stop it: TOML's parser recovers
/// and goes on, and `syntax` says that it had to (what follows a syntax
/// error is then only checked for types and keys).
pub(super) fn parse(text: &str) -> Parsed {
    let (root, syntax) = DeTable::parse_recoverable(text);
    let span = root.span();
    let mut table = root.into_inner();
    let layers = take_array(&mut table, "layer");
    let plugins = take_array(&mut table, "plugin");
    let present: Vec<String> = table.keys().map(|k| k.get_ref().to_string()).collect();
    let has_syntax_errors = !syntax.is_empty();
    let at_syntax_errors: Vec<usize> = syntax.iter().filter_map(|e| e.span()).map(|s| s.start).collect();
    let mut found = Findings { errors: syntax, removed: Vec::new() };
    let top = Spanned::new(span, DeValue::Table(table));
    let mut recipe = lenient::<RawRecipe>(top, &mut found).unwrap_or_else(empty);
    let mut dropped = Vec::new();
    for key in present {
        let kept = match key.as_str() {
            "image" => recipe.image.is_some(),
            "from" => recipe.from.is_some(),
            "config" => recipe.config.is_some(),
            _ => true,
        };
        if !kept {
            dropped.push(key);
        }
    }
    match layers {
        Array::Items(items) => recipe.layer = items.into_iter().filter_map(|l| layer(l, &mut found)).collect(),
        Array::Other(value) => report_only::<Vec<RawLayer>>(value, &mut found),
        Array::Absent => {}
    }
    match plugins {
        Array::Items(items) => {
            recipe.plugin = items.into_iter().filter_map(|p| lenient::<Spanned<RawPlugin>>(p, &mut found)).collect();
        }
        Array::Other(value) => report_only::<Vec<RawPlugin>>(value, &mut found),
        Array::Absent => {}
    }
    let Findings { errors, removed } = found;
    // A value the parser could not read is reported once, as syntax.
    let (syntax, rest) = errors.split_at(at_syntax_errors.len());
    // After a syntax error, which table a key is in is the parser's guess:
    // only type errors are reported with it.
    let guessed = |e: &Error| {
        has_syntax_errors && (e.message().starts_with("unknown field") || e.message().starts_with("missing field"))
    };
    let rest = rest.iter().filter(|e| !e.span().is_some_and(|s| at_syntax_errors.contains(&s.start)) && !guessed(e));
    let errors = syntax.iter().chain(rest).cloned().collect();
    Parsed { recipe, errors, dropped, removed, syntax: has_syntax_errors }
}

/// What deserializing the parts found: the mistakes, and the keys left out
/// for them (with their table's span).
struct Findings {
    errors: Vec<Error>,
    removed: Vec<(Range<usize>, String)>,
}

/// A recipe with nothing in it, when even its top level could not be read.
fn empty() -> RawRecipe {
    RawRecipe {
        vars: Default::default(),
        image: None,
        from: None,
        config: None,
        annotations: Default::default(),
        layer: Vec::new(),
        plugin: Vec::new(),
    }
}

enum Array<'i> {
    Absent,
    Items(Vec<Spanned<DeValue<'i>>>),
    /// Not an array: deserialized only for its error.
    Other(Spanned<DeValue<'i>>),
}

/// Takes `key` out of `table` as an array of its items.
fn take_array<'i>(table: &mut DeTable<'i>, key: &str) -> Array<'i> {
    match table.remove(key) {
        None => Array::Absent,
        Some(value) => {
            let span = value.span();
            match value.into_inner() {
                DeValue::Array(items) => Array::Items(items.into_iter().collect()),
                other => Array::Other(Spanned::new(span, other)),
            }
        }
    }
}

fn report_only<T: DeserializeOwned>(value: Spanned<DeValue<'_>>, found: &mut Findings) {
    if let Err(e) = T::deserialize(value.into_deserializer()) {
        found.errors.push(e);
    }
}

/// One `[[layer]]`: its own keys, then each entry on its own.
fn layer(value: Spanned<DeValue<'_>>, found: &mut Findings) -> Option<Spanned<RawLayer>> {
    let span = value.span();
    let DeValue::Table(mut table) = value.into_inner() else {
        report_only::<Vec<RawLayer>>(Spanned::new(span.clone(), DeValue::Array(DeArray::new())), found);
        return None;
    };
    const ENTRIES: [&str; 6] = ["copy", "file", "dir", "symlink", "hardlink", "plugin"];
    let entries: Vec<(&str, Array<'_>)> = ENTRIES.iter().map(|&kind| (kind, take_array(&mut table, kind))).collect();
    let mut layer = lenient::<Spanned<RawLayer>>(Spanned::new(span, DeValue::Table(table)), found)?;
    for (kind, array) in entries {
        let items = match array {
            Array::Absent => continue,
            Array::Items(items) => items,
            Array::Other(value) => {
                let (start, end) = (value.span().start, value.span().end);
                let mut probe = DeTable::new();
                probe.insert(Spanned::new(start..start, kind.into()), value);
                report_only::<RawLayer>(Spanned::new(start..end, DeValue::Table(probe)), found);
                continue;
            }
        };
        let l = layer.get_mut();
        match kind {
            "copy" => l.copy = entries_of(items, found),
            "file" => l.file = entries_of(items, found),
            "dir" => l.dir = entries_of(items, found),
            "symlink" => l.symlink = entries_of(items, found),
            "hardlink" => l.hardlink = entries_of(items, found),
            _ => l.plugin = entries_of(items, found),
        }
    }
    Some(layer)
}

fn entries_of<T: DeserializeOwned>(items: Vec<Spanned<DeValue<'_>>>, found: &mut Findings) -> Vec<Spanned<T>> {
    items.into_iter().filter_map(|item| lenient::<Spanned<T>>(item, found)).collect()
}

/// Deserializes `value` as a `T`, dropping what each error points at and
/// trying again; `None` when the value itself had to be dropped. The keys
/// dropped are added to `found.removed`.
fn lenient<T: DeserializeOwned>(value: Spanned<DeValue<'_>>, found: &mut Findings) -> Option<T> {
    // Keys this pass dropped, with the span of the table they were in: a
    // "missing field" for one of them is not the author's mistake.
    let mut removed: Vec<(Range<usize>, String)> = Vec::new();
    let parsed = deserialize_pruning(value, &mut found.errors, &mut removed);
    found.removed.extend(removed);
    parsed
}

fn deserialize_pruning<T: DeserializeOwned>(
    mut value: Spanned<DeValue<'_>>,
    errors: &mut Vec<Error>,
    removed: &mut Vec<(Range<usize>, String)>,
) -> Option<T> {
    for _ in 0..MAX_PER_PART {
        let error = match T::deserialize(value.clone().into_deserializer()) {
            Ok(parsed) => return Some(parsed),
            Err(error) => error,
        };
        let span = error.span()?;
        // Missing because it was dropped, or because it was misspelt (the
        // unknown key's error suggests it).
        let ours = missing_key(error.message()).is_some_and(|key| {
            removed.iter().any(|(table, k)| *table == span && (k == key || strsim::jaro_winkler(k, key) > 0.8))
        });
        if !ours {
            errors.push(error);
        }
        match prune(&mut value, &span) {
            Some(found) => removed.extend(found),
            None => return None,
        }
    }
    None
}

/// The key serde's "missing field `KEY`" names.
fn missing_key(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// Drops the deepest key or value below `value` whose span holds `span`;
/// `None` if nothing below `value` does (the caller drops `value`). On
/// success, the dropped key (if it was a table's) and its table's span.
fn prune(value: &mut Spanned<DeValue<'_>>, span: &Range<usize>) -> Option<Option<(Range<usize>, String)>> {
    let holds = |outer: Range<usize>| outer.start <= span.start && span.end <= outer.end;
    let own = value.span();
    match value.get_mut() {
        DeValue::Table(table) => {
            let mut hit = None;
            for (key, child) in table.iter_mut() {
                if let Some(found) = prune(child, span) {
                    return Some(found);
                }
                if hit.is_none() && (holds(key.span()) || holds(child.span())) {
                    hit = Some(key.get_ref().to_string());
                }
            }
            let key = hit?;
            table.remove(key.as_str());
            Some(Some((own, key)))
        }
        DeValue::Array(items) => {
            for item in items.iter_mut() {
                if let Some(found) = prune(item, span) {
                    return Some(found);
                }
            }
            let at = items.iter().position(|item| holds(item.span()))?;
            let kept = std::mem::replace(items, DeArray::new()).into_iter().enumerate().filter(|(i, _)| *i != at);
            *items = kept.map(|(_, item)| item).collect();
            Some(None)
        }
        _ => None,
    }
}
