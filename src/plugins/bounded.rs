//! Native functions of Rhai's packages whose result can be far larger than
//! their arguments, replaced by versions that check the size before they
//! allocate (Rhai checks its string and array limits only once a native
//! function has returned), and the functions that walk a value's nesting,
//! which check its depth first.
//!
//! - `replace`: a 1 MB string with every character replaced by a 1 MB
//!   string would be 1 TB; the length of the result is computed first.
//! - `split`, `split_rev`, `to_chars`: `split("")` of a 16 MiB string is
//!   16 million strings; at most one more piece than the array limit is
//!   ever made.
//! - `==`, `!=`, `print`, `debug`, `to_string`, `to_debug` and `to_json`
//!   of arrays and maps recurse through nested values with large stack
//!   frames: a value nested deeper than [`MAX_DEPTH`] is refused, and a
//!   shallower one is handed to a second engine that has Rhai's own
//!   functions, so the result is the same text as Rhai's.
//!
//! Functions registered on an engine are found before those of its
//! packages, so these replace Rhai's for every script.

use std::sync::OnceLock;

use rhai::{
    AST, Array, Dynamic, Engine, EvalAltResult, FuncArgs, FuncRegistration, INT, ImmutableString, Map, Position, Scope,
};

use super::engine::{MAX_ARRAY, MAX_STRING};

type Res<T> = Result<T, Box<EvalAltResult>>;

/// How deeply arrays and maps may nest in a value that is compared,
/// printed, or handed to compose-img by a hook.
pub(super) const MAX_DEPTH: usize = 64;

/// Whether `value` has arrays or maps nested more than `levels` deep (a
/// value that is neither has depth 0; `[[1]]` has depth 2). Stops at the
/// first path found too deep, so it recurses at most `levels + 1` times.
pub(super) fn deeper_than(value: &Dynamic, levels: usize) -> bool {
    if let Some(array) = value.read_lock::<Array>() {
        return levels == 0 || items_deeper_than(array.iter(), levels - 1);
    }
    if let Some(map) = value.read_lock::<Map>() {
        return levels == 0 || items_deeper_than(map.values(), levels - 1);
    }
    false
}

/// Whether any of `items` is [`deeper_than`] `levels`.
fn items_deeper_than<'a>(mut items: impl Iterator<Item = &'a Dynamic>, levels: usize) -> bool {
    items.any(|item| deeper_than(item, levels))
}

fn too_deep(what: &str) -> Box<EvalAltResult> {
    let message = format!("{what} is nested deeper than {MAX_DEPTH} levels of arrays and maps");
    Box::new(EvalAltResult::ErrorRuntime(message.into(), Position::NONE))
}

fn string_too_large() -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorDataTooLarge("Length of string".into(), Position::NONE))
}

fn array_too_large() -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorDataTooLarge("Size of array/BLOB".into(), Position::NONE))
}

/// The length of `text` with `count` pieces of `find` bytes replaced by
/// `with` bytes, refused when over the string limit.
fn replaced_len(text: &str, count: usize, find: usize, with: usize) -> Res<()> {
    let len = (text.len() as u128) - (count as u128) * (find as u128) + (count as u128) * (with as u128);
    if len > MAX_STRING as u128 { Err(string_too_large()) } else { Ok(()) }
}

/// How many times `find` occurs in `text` as `str::replace` counts it (the
/// empty string occurs before every character and at the end).
fn occurrences(text: &str, find: &str) -> usize {
    if find.is_empty() { text.chars().count() + 1 } else { text.matches(find).count() }
}

fn replace(text: &mut ImmutableString, find: &str, with: &str) -> Res<()> {
    if text.is_empty() {
        return Ok(());
    }
    replaced_len(text, occurrences(text, find), find.len(), with.len())?;
    *text = text.replace(find, with).into();
    Ok(())
}

/// Collects `pieces` into an array, refusing (before making them all) more
/// than the array limit.
fn bounded<'a>(pieces: impl Iterator<Item = &'a str>) -> Res<Array> {
    let array: Array = pieces.take(MAX_ARRAY + 1).map(|piece| ImmutableString::from(piece).into()).collect();
    if array.len() > MAX_ARRAY { Err(array_too_large()) } else { Ok(array) }
}

fn segments(n: INT) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// The engine the checked functions hand a value to once its depth is
/// known to be small: Rhai's packages and nothing of ours, so its `==` and
/// `to_debug` are Rhai's own.
fn inner() -> &'static (Engine, AST) {
    static INNER: OnceLock<(Engine, AST)> = OnceLock::new();
    INNER.get_or_init(|| {
        let mut engine = super::engine::packaged();
        engine.register_type_with_name::<super::ctx::LayerCtx>("LayerCtx");
        let script = "fn eq(a, b) { a == b } fn ne(a, b) { a != b } fn text(x) { x.to_debug() } \
                      fn json(x) { x.to_json() }";
        let ast = engine.compile(script).unwrap_or_else(|e| unreachable!("the inner script compiles: {e}"));
        (engine, ast)
    })
}

fn delegate<T: rhai::Variant + Clone>(name: &str, args: impl FuncArgs) -> Res<T> {
    let (engine, ast) = inner();
    engine.call_fn(&mut Scope::new(), ast, name, args)
}

/// Refuses comparing values nested too deeply; `items` are the items of
/// the two arrays or maps compared.
fn comparable<'a>(items: impl Iterator<Item = &'a Dynamic>) -> Res<()> {
    if items_deeper_than(items, MAX_DEPTH - 1) { Err(too_deep("a value compared")) } else { Ok(()) }
}

/// Rhai's text of an array or map whose items are `items`.
fn text<'a>(items: impl Iterator<Item = &'a Dynamic>, value: impl FnOnce() -> Dynamic) -> Res<ImmutableString> {
    if items_deeper_than(items, MAX_DEPTH - 1) {
        return Err(too_deep("a value printed"));
    }
    delegate("text", (value(),))
}

/// Registers the checked functions on `engine`.
pub(super) fn register(engine: &mut Engine) {
    engine.register_fn("replace", replace);
    engine.register_fn("replace", |text: &mut ImmutableString, find: &str, with: char| {
        replace(text, find, with.encode_utf8(&mut [0; 4]))
    });
    engine.register_fn("replace", |text: &mut ImmutableString, find: char, with: &str| {
        replace(text, find.encode_utf8(&mut [0; 4]), with)
    });
    engine.register_fn("replace", |text: &mut ImmutableString, find: char, with: char| {
        replace(text, find.encode_utf8(&mut [0; 4]), with.encode_utf8(&mut [0; 4]))
    });

    // Rhai's `split` family: the string itself (in an array) when it is
    // empty, the delimiter does not occur, or fewer than 2 segments are
    // asked for.
    engine.register_fn("split", |text: ImmutableString| -> Res<Array> {
        if text.is_empty() { Ok(vec![text.into()]) } else { bounded(text.split_whitespace()) }
    });
    engine.register_fn("split", |text: ImmutableString, by: &str| -> Res<Array> {
        if text.is_empty() || (!by.is_empty() && !text.contains(by)) {
            return Ok(vec![text.into()]);
        }
        bounded(text.split(by))
    });
    engine.register_fn("split", |text: ImmutableString, by: &str, n: INT| -> Res<Array> {
        if n <= 1 || text.is_empty() || (!by.is_empty() && !text.contains(by)) {
            return Ok(vec![text.into()]);
        }
        bounded(text.splitn(segments(n), by))
    });
    engine.register_fn("split", |text: ImmutableString, by: char| -> Res<Array> {
        if text.is_empty() || !text.contains(by) {
            return Ok(vec![text.into()]);
        }
        bounded(text.split(by))
    });
    engine.register_fn("split", |text: ImmutableString, by: char, n: INT| -> Res<Array> {
        if n <= 1 || text.is_empty() || !text.contains(by) {
            return Ok(vec![text.into()]);
        }
        bounded(text.splitn(segments(n), by))
    });
    engine.register_fn("split_rev", |text: ImmutableString, by: &str| -> Res<Array> {
        if text.is_empty() || (!by.is_empty() && !text.contains(by)) {
            return Ok(vec![text.into()]);
        }
        bounded(text.rsplit(by))
    });
    engine.register_fn("split_rev", |text: ImmutableString, by: &str, n: INT| -> Res<Array> {
        if n <= 1 || text.is_empty() || (!by.is_empty() && !text.contains(by)) {
            return Ok(vec![text.into()]);
        }
        bounded(text.rsplitn(segments(n), by))
    });
    engine.register_fn("split_rev", |text: ImmutableString, by: char| -> Res<Array> {
        if text.is_empty() || !text.contains(by) {
            return Ok(vec![text.into()]);
        }
        bounded(text.rsplit(by))
    });
    engine.register_fn("split_rev", |text: ImmutableString, by: char, n: INT| -> Res<Array> {
        if n <= 1 || text.is_empty() || !text.contains(by) {
            return Ok(vec![text.into()]);
        }
        bounded(text.rsplitn(segments(n), by))
    });
    engine.register_fn("to_chars", |text: &str| -> Res<Array> {
        let chars: Array = text.chars().take(MAX_ARRAY + 1).map(Dynamic::from).collect();
        if chars.len() > MAX_ARRAY { Err(array_too_large()) } else { Ok(chars) }
    });

    // Comparing and printing nested values. Pure: they may be called on
    // constants.
    for (name, inner) in [("==", "eq"), ("!=", "ne")] {
        FuncRegistration::new(name).with_purity(true).register_into_engine(
            engine,
            move |a: &mut Array, b: Array| -> Res<bool> {
                comparable(a.iter().chain(b.iter()))?;
                delegate(inner, (Dynamic::from_array(a.clone()), Dynamic::from_array(b)))
            },
        );
        FuncRegistration::new(name).with_purity(true).register_into_engine(
            engine,
            move |a: &mut Map, b: Map| -> Res<bool> {
                comparable(a.values().chain(b.values()))?;
                delegate(inner, (Dynamic::from_map(a.clone()), Dynamic::from_map(b)))
            },
        );
    }
    for name in ["print", "debug", "to_string", "to_debug"] {
        FuncRegistration::new(name)
            .with_purity(true)
            .register_into_engine(engine, |a: &mut Array| text(a.iter(), || a.clone().into()));
        FuncRegistration::new(name)
            .with_purity(true)
            .register_into_engine(engine, |m: &mut Map| text(m.values(), || m.clone().into()));
    }
    FuncRegistration::new("to_json").with_purity(true).register_into_engine(
        engine,
        |m: &mut Map| -> Res<ImmutableString> {
            if items_deeper_than(m.values(), MAX_DEPTH - 1) {
                return Err(too_deep("a map turned into JSON"));
            }
            delegate("json", (Dynamic::from_map(m.clone()),))
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_counted_in_levels_of_arrays_and_maps() {
        let mut value = Dynamic::from(1_i64);
        assert!(!deeper_than(&value, 0));
        for level in 1..=5 {
            value = if level % 2 == 0 {
                Dynamic::from_array(vec![value])
            } else {
                Dynamic::from_map(Map::from([("k".into(), value)]))
            };
            assert!(deeper_than(&value, level - 1) && !deeper_than(&value, level), "level {level}");
        }
    }

    #[test]
    fn the_length_of_a_replacement_is_known_before_it_is_made() {
        assert_eq!(occurrences("abca", "a"), 2);
        assert_eq!(occurrences("ab", ""), 3);
        assert!(replaced_len("abc", 1, 1, MAX_STRING - 2).is_ok());
        assert!(replaced_len("abc", 1, 1, MAX_STRING - 1).is_err());
        let mut text = ImmutableString::from("hello");
        replace(&mut text, "l", "L").unwrap();
        assert_eq!(text, "heLLo");
        let mut big = ImmutableString::from("a".repeat(1 << 20));
        let with = "b".repeat(1 << 20);
        assert!(replace(&mut big, "a", &with).is_err());
        assert_eq!(big.len(), 1 << 20, "left as it was");
    }

    #[test]
    fn pieces_past_the_array_limit_are_never_made() {
        let text = "a".repeat(MAX_ARRAY + 10);
        assert!(bounded(text.split("")).is_err());
        assert_eq!(bounded("a,b".split(',')).unwrap().len(), 2);
    }
}
