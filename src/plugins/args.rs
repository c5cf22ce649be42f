//! Declared arguments. A script that defines `fn args()` returns a map
//! from each argument's name to its declaration, `#{ type: "string" }`
//! (required) or `#{ type: "int", or: 3 }` (optional, with the value it
//! takes when not given: `default` is a reserved word in Rhai). The `with` table of every
//! use is checked against it before any hook runs: an unknown key, a
//! missing required one, or a value of the wrong type is an error at the
//! recipe entry listing what the plugin takes. The hooks then get `args`
//! as an [`Args`] value holding every declared argument (defaults filled
//! in); reading one that is not declared is an error, not `()`.
//!
//! Types: `string`, `int`, `float` (an integer is taken as a float),
//! `bool`, `array`, `map`, `mode` (a string `"0644"`, or an integer of at
//! most `0o777`: TOML's `644` is 0o1204, refused), `any`.

use std::collections::BTreeMap;
use std::sync::Arc;

use rhai::{Dynamic, Engine, Map};

use super::ctx::{Res, fail};
use crate::recipe::names::{InvalidMode, parse_mode};
use thiserror::Error;

const TYPES: [&str; 8] = ["string", "int", "float", "bool", "array", "map", "mode", "any"];

/// What is wrong with what `fn args()` handed back.
#[derive(Debug, Error)]
pub(crate) enum SpecError {
    #[error("fn args must hand back a map of declarations")]
    NotAMap,
    #[error("fn args: `{0}` must be declared by a map such as #{{ type: \"string\", or: \"x\" }}")]
    NotADeclaration(String),
    #[error("fn args: `{name}` has `{key}`; a declaration takes type, or (the default) and doc")]
    UnknownKey { name: String, key: String },
    #[error("fn args: `{name}` has type `{kind}`, not one of {}", TYPES.join(", "))]
    UnknownType { name: String, kind: String },
    #[error("fn args: the default of {0}")]
    Default(ArgError),
}

/// A `with` that does not fit the declaration; `takes` lists what does.
#[derive(Debug, Error)]
pub(crate) enum ArgsError {
    #[error("unknown argument `{key}`: it takes {takes}")]
    Unknown { key: String, takes: String },
    #[error("missing argument `{name}`: it takes {takes}")]
    Missing { name: String, takes: String },
    #[error("{source}: it takes {takes}")]
    Wrong { source: ArgError, takes: String },
}

/// A value that is not of its argument's type.
#[derive(Debug, Error)]
pub(crate) enum ArgError {
    #[error("argument `{name}` must be {want}, not {got}")]
    Type { name: String, want: String, got: &'static str },
    #[error("argument `{name}`: {source}")]
    Mode { name: String, source: InvalidMode },
    #[error(
        "argument `{name}`: the integer {mode} is 0o{mode:o}; write a mode as a string (\"0644\") or in octal (0o644)"
    )]
    DecimalMode { name: String, mode: i64 },
}

/// One declared argument.
#[derive(Debug, Clone)]
struct Param {
    kind: &'static str,
    /// The default, checked, and as the script wrote it.
    default: Option<(serde_json::Value, serde_json::Value)>,
}

/// What `fn args()` declares.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    params: BTreeMap<String, Param>,
}

impl Spec {
    /// The declaration `fn args()` handed back, or what is wrong with it.
    pub(crate) fn parse(value: &serde_json::Value) -> Result<Spec, SpecError> {
        let map = value.as_object().ok_or(SpecError::NotAMap)?;
        let mut params = BTreeMap::new();
        for (name, declared) in map {
            let declared = declared.as_object().ok_or_else(|| SpecError::NotADeclaration(name.clone()))?;
            if let Some(key) = declared.keys().find(|k| !matches!(k.as_str(), "type" | "or" | "doc")) {
                return Err(SpecError::UnknownKey { name: name.clone(), key: key.clone() });
            }
            let kind = declared.get("type").and_then(|t| t.as_str()).unwrap_or("");
            let kind = TYPES
                .iter()
                .find(|t| **t == kind)
                .ok_or_else(|| SpecError::UnknownType { name: name.clone(), kind: kind.to_owned() })?;
            let mut param = Param { kind, default: None };
            if let Some(default) = declared.get("or") {
                let checked = param.check(name, default).map_err(SpecError::Default)?;
                param.default = Some((checked, default.clone()));
            }
            params.insert(name.clone(), param);
        }
        Ok(Spec { params })
    }

    /// What the plugin takes, for messages: `a (string, required), b (int,
    /// default 3)`.
    fn takes(&self) -> String {
        if self.params.is_empty() {
            return "no arguments".into();
        }
        let shown: Vec<String> = self
            .params
            .iter()
            .map(|(name, p)| match &p.default {
                Some((_, shown)) => format!("{name} ({}, default {shown})", p.kind),
                None => format!("{name} ({}, required)", p.kind),
            })
            .collect();
        shown.join(", ")
    }

    /// `with` checked, with defaults filled in.
    pub(crate) fn apply(
        &self,
        with: &serde_json::Value,
    ) -> Result<serde_json::Map<String, serde_json::Value>, ArgsError> {
        let empty = serde_json::Map::new();
        let given = with.as_object().unwrap_or(&empty);
        if let Some(key) = given.keys().find(|k| !self.params.contains_key(*k)) {
            return Err(ArgsError::Unknown { key: key.clone(), takes: self.takes() });
        }
        let mut out = serde_json::Map::new();
        for (name, param) in &self.params {
            let value = match (given.get(name), &param.default) {
                (Some(value), _) => {
                    param.check(name, value).map_err(|source| ArgsError::Wrong { source, takes: self.takes() })?
                }
                (None, Some((default, _))) => default.clone(),
                (None, None) => return Err(ArgsError::Missing { name: name.clone(), takes: self.takes() }),
            };
            out.insert(name.clone(), value);
        }
        Ok(out)
    }
}

impl Param {
    /// `value` as argument `name`: a mode becomes its number.
    fn check(&self, name: &str, value: &serde_json::Value) -> Result<serde_json::Value, ArgError> {
        use serde_json::Value as V;
        let wrong = || ArgError::Type { name: name.to_owned(), want: a(self.kind), got: what(value) };
        match (self.kind, value) {
            ("any", _) | ("string", V::String(_)) | ("bool", V::Bool(_)) | ("array", V::Array(_)) => Ok(value.clone()),
            ("map", V::Object(_)) => Ok(value.clone()),
            ("int", V::Number(n)) if n.is_i64() => Ok(value.clone()),
            ("float", V::Number(n)) => Ok(n.as_f64().map_or(V::Null, V::from)),
            ("mode", V::String(text)) => {
                parse_mode(text).map(V::from).map_err(|source| ArgError::Mode { name: name.to_owned(), source })
            }
            ("mode", V::Number(n)) => match n.as_i64() {
                Some(m @ 0..=0o777) => Ok(V::from(m)),
                Some(m) => Err(ArgError::DecimalMode { name: name.to_owned(), mode: m }),
                None => Err(wrong()),
            },
            _ => Err(wrong()),
        }
    }
}

fn a(kind: &str) -> String {
    match kind {
        "int" | "array" | "any" => format!("an {kind}"),
        "mode" => "a mode (\"0644\")".into(),
        _ => format!("a {kind}"),
    }
}

fn what(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "nothing",
        serde_json::Value::Bool(_) => "a bool",
        serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => "an int",
        serde_json::Value::Number(_) => "a float",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "a map",
    }
}

/// The `args` of a plugin that declares them: reading an argument it does
/// not declare is an error.
#[derive(Clone)]
pub(crate) struct Args(Arc<Map>);

impl Args {
    pub(crate) fn new(values: Map) -> Args {
        Args(Arc::new(values))
    }

    fn get(&self, key: &str) -> Res<Dynamic> {
        self.0.get(key).cloned().ok_or_else(|| {
            let names: Vec<&str> = self.0.keys().map(|k| k.as_str()).collect();
            fail(format!("`{key}` is not an argument of this plugin (fn args declares: {})", names.join(", ")))
        })
    }
}

/// Registers the `Args` type: `args.name`, `args["name"]`, `"name" in
/// args`, `args.keys()`, `args.to_map()`.
pub(super) fn register(engine: &mut Engine) {
    engine.register_type_with_name::<Args>("Args");
    engine.register_indexer_get(|args: &mut Args, key: &str| args.get(key));
    engine.register_fn("contains", |args: &mut Args, key: &str| args.0.contains_key(key));
    engine.register_fn("keys", |args: &mut Args| -> rhai::Array {
        args.0.keys().map(|k| Dynamic::from(k.to_string())).collect()
    });
    engine.register_fn("to_map", |args: &mut Args| -> Map { (*args.0).clone() });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> Spec {
        Spec::parse(&json).unwrap()
    }

    #[test]
    fn with_is_checked_and_defaults_filled_in() {
        let spec = spec(serde_json::json!({
            "name": { "type": "string" },
            "mode": { "type": "mode", "or": "0644" },
            "n": { "type": "int", "or": 3 },
            "f": { "type": "float", "or": 1 },
        }));
        let takes =
            "it takes f (float, default 1), mode (mode, default \"0644\"), n (int, default 3), name (string, required)";
        let out = spec.apply(&serde_json::json!({ "name": "x", "mode": "0755" })).unwrap();
        assert_eq!(serde_json::Value::Object(out), serde_json::json!({ "name": "x", "mode": 0o755, "n": 3, "f": 1.0 }));
        let error = |with| spec.apply(&with).unwrap_err().to_string();
        assert_eq!(error(serde_json::json!({})), format!("missing argument `name`: {takes}"));
        assert_eq!(error(serde_json::json!({ "name": "x", "nme": 1 })), format!("unknown argument `nme`: {takes}"));
        assert_eq!(
            error(serde_json::json!({ "name": 1 })),
            format!("argument `name` must be a string, not an int: {takes}")
        );
        assert_eq!(
            error(serde_json::json!({ "name": "x", "mode": 644 })),
            format!(
                "argument `mode`: the integer 644 is 0o1204; write a mode as a string (\"0644\") or in octal (0o644): {takes}"
            )
        );
        assert_eq!(
            error(serde_json::json!({ "name": "x", "n": 1.5 })),
            format!("argument `n` must be an int, not a float: {takes}")
        );
    }

    #[test]
    fn declarations_are_checked() {
        let error = |json| Spec::parse(&json).unwrap_err().to_string();
        assert_eq!(
            error(serde_json::json!({ "a": { "type": "str" } })),
            "fn args: `a` has type `str`, not one of string, int, float, bool, array, map, mode, any"
        );
        assert_eq!(
            error(serde_json::json!({ "a": { "type": "int", "or": "x" } })),
            "fn args: the default of argument `a` must be an int, not a string"
        );
        assert_eq!(
            error(serde_json::json!({ "a": { "type": "int", "default": 1 } })),
            "fn args: `a` has `default`; a declaration takes type, or (the default) and doc"
        );
        assert_eq!(error(serde_json::json!([1])), "fn args must hand back a map of declarations");
    }
}
