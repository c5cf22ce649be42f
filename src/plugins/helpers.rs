//! Functions every plugin gets besides `ctx`: SHA-256 of strings and
//! blobs, glob and regex matching, TOML parse and emit, and template
//! expansion ([`super::template`]). Every result is bounded before it is
//! made: regexes compile with size and nesting limits and match in linear
//! time, a replacement stops at the string limit, parsed data is refused
//! when nested deeper than [`MAX_DEPTH`].

use std::cell::RefCell;
use std::collections::BTreeMap;

use rhai::{Array, Blob, Dynamic, Engine, ImmutableString, Map};

use super::bounded::{MAX_DEPTH, deeper_than};
use super::ctx::{Res, fail};
use super::engine::{MAX_ARRAY, MAX_STRING};
use crate::digest::Digest;

/// The most compiled regexes a hook call keeps.
const KEPT_REGEXES: usize = 64;
/// The size a compiled regex may take, in bytes.
const REGEX_SIZE: usize = 1 << 20;

/// `pattern` compiled, from this thread's cache (each hook call has a
/// thread of its own).
fn regex(pattern: &str) -> Res<regex::Regex> {
    thread_local! {
        static KEPT: RefCell<BTreeMap<String, regex::Regex>> = const { RefCell::new(BTreeMap::new()) };
    }
    if let Some(found) = KEPT.with(|kept| kept.borrow().get(pattern).cloned()) {
        return Ok(found);
    }
    let compiled = regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE)
        .dfa_size_limit(REGEX_SIZE)
        .nest_limit(MAX_DEPTH as u32)
        .build()
        .map_err(|e| fail(format!("`{pattern}` is not a regex: {e}")))?;
    KEPT.with(|kept| {
        let mut kept = kept.borrow_mut();
        if kept.len() < KEPT_REGEXES {
            kept.insert(pattern.to_owned(), compiled.clone());
        }
    });
    Ok(compiled)
}

/// The first match of `pattern` in `text`: the whole match then each
/// group (`""` for a group that did not take part); empty when none.
fn regex_captures(text: &str, pattern: &str) -> Res<Array> {
    let found = regex(pattern)?.captures(text);
    Ok(found
        .map(|c| c.iter().map(|m| Dynamic::from(m.map_or("", |m| m.as_str()).to_owned())).collect())
        .unwrap_or_default())
}

/// `text` with every match of `pattern` replaced by `with` (`$1`, `${name}`
/// name groups), refused once the result passes the string limit.
fn regex_replace(text: &str, pattern: &str, with: &str) -> Res<String> {
    let regex = regex(pattern)?;
    let mut out = String::new();
    let mut last = 0;
    for caps in regex.captures_iter(text) {
        let whole = caps.get(0).map_or(0..0, |m| m.range());
        out.push_str(&text[last..whole.start]);
        caps.expand(with, &mut out);
        last = whole.end;
        if out.len() > MAX_STRING {
            return Err(fail(format!("regex_replace: the result is over the string limit ({MAX_STRING} bytes)")));
        }
    }
    out.push_str(&text[last..]);
    if out.len() > MAX_STRING {
        return Err(fail(format!("regex_replace: the result is over the string limit ({MAX_STRING} bytes)")));
    }
    Ok(out)
}

fn glob_match(pattern: &str, text: &str) -> Res<bool> {
    Ok(super::lower::glob(pattern).map_err(fail)?.is_match(text))
}

/// How deeply `[` and `{` nest in `text`, strings not told apart: a cheap
/// bound taken before a parser recurses.
fn bracket_depth(text: &str) -> usize {
    let (mut depth, mut most) = (0usize, 0usize);
    for b in text.bytes() {
        match b {
            b'[' | b'{' => {
                depth += 1;
                most = most.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    most
}

fn parse_toml(text: &str) -> Res<Map> {
    // Brackets inside strings count too: a generous bound.
    if bracket_depth(text) > 16 * MAX_DEPTH {
        return Err(fail(format!("parse_toml: the text nests deeper than {MAX_DEPTH} levels")));
    }
    let value: toml::Table = toml::from_str(text).map_err(|e| fail(format!("parse_toml: {}", one_line(&e))))?;
    let value = rhai::serde::to_dynamic(value).map_err(|e| fail(format!("parse_toml: {e}")))?;
    if deeper_than(&value, MAX_DEPTH) {
        return Err(fail(format!("parse_toml: the text nests deeper than {MAX_DEPTH} levels")));
    }
    value.try_cast::<Map>().ok_or_else(|| fail("parse_toml: not a table"))
}

fn to_toml(map: &mut Map) -> Res<String> {
    let value = Dynamic::from_map(map.clone());
    if deeper_than(&value, MAX_DEPTH) {
        return Err(fail(format!("to_toml: the map nests deeper than {MAX_DEPTH} levels")));
    }
    let table: toml::Table = rhai::serde::from_dynamic(&value).map_err(|e| fail(format!("to_toml: {e}")))?;
    let text = toml::to_string(&table).map_err(|e| fail(format!("to_toml: {e}")))?;
    if text.len() > MAX_STRING {
        return Err(fail(format!("to_toml: the result is over the string limit ({MAX_STRING} bytes)")));
    }
    Ok(text)
}

/// A parser's message on one line: scripts see one line.
fn one_line(error: &dyn std::fmt::Display) -> String {
    error.to_string().split('\n').map(str::trim_end).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Registers the helpers.
pub(super) fn register(engine: &mut Engine) {
    engine.register_fn("sha256", |text: &str| Digest::of(text.as_bytes()).hex().to_owned());
    engine.register_fn("sha256", |bytes: Blob| Digest::of(&bytes).hex().to_owned());
    engine.register_fn("glob_match", glob_match);
    engine.register_fn("regex_match", |text: &str, pattern: &str| -> Res<bool> { Ok(regex(pattern)?.is_match(text)) });
    engine.register_fn("regex_captures", regex_captures);
    engine.register_fn("regex_replace", regex_replace);
    engine.register_fn("regex_split", |text: &str, pattern: &str| -> Res<Array> {
        let pieces: Array =
            regex(pattern)?.split(text).take(MAX_ARRAY + 1).map(|p| ImmutableString::from(p).into()).collect();
        if pieces.len() > MAX_ARRAY {
            return Err(fail(format!("regex_split: more than {MAX_ARRAY} pieces (the array limit)")));
        }
        Ok(pieces)
    });
    engine.register_fn("parse_toml", parse_toml);
    engine.register_fn("to_toml", to_toml);
    engine.register_fn("render", super::template::render);
    engine.register_fn("format", super::format::format);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regexes_match_capture_and_replace_within_the_limit() {
        assert!(regex_match_text("VERSION=1.2.3", r"^VERSION=\d+(\.\d+)*$"));
        let caps = regex_captures("name: app-1.0", r"(\w+)-(\d+)\.(\d+)(x)?").unwrap();
        let caps: Vec<String> = caps.into_iter().map(|c| c.into_string().unwrap()).collect();
        assert_eq!(caps, ["app-1.0", "app", "1", "0", ""]);
        assert!(regex_captures("none", r"\d").unwrap().is_empty());
        assert_eq!(regex_replace("a1b22", r"\d+", "<$0>").unwrap(), "a<1>b<22>");
        let error = regex_replace(&"a".repeat(1 << 20), "a", &"b".repeat(64)).unwrap_err().to_string();
        assert!(error.contains("over the string limit (16777216 bytes)"), "{error}");
        assert!(regex("(").unwrap_err().to_string().contains("`(` is not a regex"));
    }

    fn regex_match_text(text: &str, pattern: &str) -> bool {
        regex(pattern).unwrap().is_match(text)
    }

    #[test]
    fn globs_keep_star_inside_a_component() {
        assert!(glob_match("**/*.pyc", "usr/lib/x/a.pyc").unwrap());
        assert!(glob_match("*.pyc", "a.pyc").unwrap() && !glob_match("*.pyc", "x/a.pyc").unwrap());
    }

    #[test]
    fn toml_round_trips_and_deep_nesting_is_refused() {
        let mut map = parse_toml("a = 1\n[b]\nc = [\"x\", true]\n").unwrap();
        assert_eq!(to_toml(&mut map).unwrap(), "a = 1\n\n[b]\nc = [\"x\", true]\n");
        let deep = format!("a = {}1{}", "[".repeat(2000), "]".repeat(2000));
        assert!(parse_toml(&deep).unwrap_err().to_string().contains("deeper than 64 levels"));
        assert!(parse_toml("a = ").unwrap_err().to_string().contains("parse_toml: "));
    }
}
