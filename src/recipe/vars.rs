//! Recipe variables: `[vars]` declares them with defaults, `--var
//! NAME=VALUE` sets them, `${NAME}` uses them in the recipe's strings and
//! `$${` writes a literal `${`. Three are built in and differ by platform:
//! `${os}`, `${arch}` and `${variant}` (empty when the platform has none).
//!
//! Substitution happens on the raw recipe, before validation, so a value
//! is checked as if it had been written in place, and reaches the cache
//! keys and digests like any other text.

use std::collections::BTreeMap;
use std::ops::Range;

use thiserror::Error;

use crate::oci::platform::Platform;

/// The built-in variables, which a recipe may not declare.
pub(crate) const BUILT_IN: [&str; 3] = ["os", "arch", "variant"];

/// `--var NAME=VALUE` values, by name.
#[derive(Clone, Debug, Default)]
pub(crate) struct Given(pub BTreeMap<String, String>);

impl Given {
    /// Parses `NAME=VALUE` arguments; a name given twice keeps the last.
    pub(crate) fn parse<'a>(args: impl IntoIterator<Item = &'a str>) -> Result<Given, VarError> {
        let mut given = BTreeMap::new();
        for arg in args {
            let (name, value) = arg.split_once('=').ok_or_else(|| VarError::NotAssignment(arg.to_owned()))?;
            check_name(name)?;
            if BUILT_IN.contains(&name) {
                return Err(VarError::BuiltIn(name.to_owned()));
            }
            given.insert(name.to_owned(), value.to_owned());
        }
        Ok(Given(given))
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub(crate) enum VarError {
    #[error("--var {0:?} is not NAME=VALUE")]
    NotAssignment(String),
    #[error("`{0}` is not a variable name: use letters, digits and `_`, not starting with a digit")]
    BadName(String),
    #[error("`{0}` is built in (it is the platform's): it cannot be set")]
    BuiltIn(String),
}

/// Whether `name` is a variable name: `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn check_name(name: &str) -> Result<(), VarError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err(VarError::BadName(name.to_owned()))
    }
}

/// The values a recipe's strings are expanded with.
#[derive(Clone, Debug, Default)]
pub(crate) struct Values {
    /// Declared names with their value (`--var`, else the default).
    pub declared: BTreeMap<String, String>,
    /// The platform the recipe is loaded for; `None` leaves the built-in
    /// variables unresolved (an error where one is used).
    pub platform: Option<Platform>,
}

impl Values {
    fn get(&self, name: &str) -> Lookup {
        if let Some(value) = self.declared.get(name) {
            return Lookup::Found(value.clone());
        }
        let Some(platform) = &self.platform else {
            return if BUILT_IN.contains(&name) { Lookup::PlatformUnknown } else { Lookup::Unknown };
        };
        match name {
            "os" => Lookup::Found(platform.os.clone()),
            "arch" => Lookup::Found(platform.architecture.clone()),
            "variant" => Lookup::Found(platform.variant.clone().unwrap_or_default()),
            _ => Lookup::Unknown,
        }
    }
}

enum Lookup {
    Found(String),
    Unknown,
    PlatformUnknown,
}

/// Why a string could not be expanded, and where in it (byte range of
/// the string's value as expanded so far is not kept: the range is into
/// the text given).
#[derive(Debug, Error, PartialEq, Eq)]
pub(crate) enum ExpandError {
    #[error("`${{{name}}}` is not a variable of this recipe{}", declared_hint(.declared))]
    Unknown { name: String, declared: Vec<String>, at: Range<usize> },
    #[error("`${{` is not closed: write `${{NAME}}`, or `$${{` for a literal `${{`")]
    Unclosed { at: Range<usize> },
    #[error("`${{{name}}}` is not a variable name: use letters, digits and `_`")]
    BadName { name: String, at: Range<usize> },
    #[error("`${{{name}}}` differs by platform: it cannot be used here, where one value serves every platform")]
    PerPlatform { name: String, at: Range<usize> },
}

fn declared_hint(declared: &[String]) -> String {
    if declared.is_empty() {
        " (declare it in [vars], e.g. `name = \"default\"`)".to_owned()
    } else {
        format!(" (declared: {}; and the built-in os, arch, variant)", declared.join(", "))
    }
}

impl ExpandError {
    /// Where in the text the mistake is.
    pub(crate) fn at(&self) -> Range<usize> {
        match self {
            ExpandError::Unknown { at, .. }
            | ExpandError::Unclosed { at }
            | ExpandError::BadName { at, .. }
            | ExpandError::PerPlatform { at, .. } => at.clone(),
        }
    }
}

/// `text` with each `${NAME}` replaced by its value and each `$${` by
/// `${`; any other `$` is kept as it is.
pub(crate) fn expand(text: &str, values: &Values) -> Result<String, ExpandError> {
    if !text.contains('$') {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        let offset = text.len() - rest.len() + at;
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail.find('}').ok_or(ExpandError::Unclosed { at: offset..offset + 2 })?;
            let name = &tail[..end];
            let span = offset..offset + end + 3;
            if check_name(name).is_err() {
                return Err(ExpandError::BadName { name: name.to_owned(), at: span });
            }
            match values.get(name) {
                Lookup::Found(value) => out.push_str(&value),
                Lookup::PlatformUnknown => return Err(ExpandError::PerPlatform { name: name.to_owned(), at: span }),
                Lookup::Unknown => {
                    let declared = values.declared.keys().cloned().collect();
                    return Err(ExpandError::Unknown { name: name.to_owned(), declared, at: span });
                }
            }
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::platform::parse_platform;

    fn values() -> Values {
        let declared = [("version", "1.2"), ("v", "$x")].map(|(k, v)| (k.to_owned(), v.to_owned())).into();
        Values { declared, platform: Some(parse_platform("linux/arm/v7").unwrap()) }
    }

    #[test]
    fn names_are_replaced_and_escapes_kept_literal() {
        let v = values();
        assert_eq!(expand("app-${version}", &v).unwrap(), "app-1.2");
        assert_eq!(expand("${os}/${arch}${variant}", &v).unwrap(), "linux/armv7");
        assert_eq!(expand("$${version} $HOME $ $$ ${v}", &v).unwrap(), "${version} $HOME $ $$ $x");
        assert_eq!(expand("no dollar", &v).unwrap(), "no dollar");
        assert_eq!(expand("tail$", &v).unwrap(), "tail$");
    }

    #[test]
    fn mistakes_say_where_they_are() {
        let v = values();
        let unknown = expand("a ${nope} b", &v).unwrap_err();
        assert_eq!(unknown.at(), 2..9);
        assert!(unknown.to_string().contains("declared: v, version"), "{unknown}");
        assert_eq!(expand("a ${open", &v).unwrap_err(), ExpandError::Unclosed { at: 2..4 });
        assert!(matches!(expand("${a b}", &v).unwrap_err(), ExpandError::BadName { .. }));
        let per_platform = Values { platform: None, ..values() };
        assert!(matches!(expand("${arch}", &per_platform).unwrap_err(), ExpandError::PerPlatform { .. }));
    }

    #[test]
    fn given_values_are_checked() {
        let given = Given::parse(["a=1", "b==2", "a=3"]).unwrap();
        assert_eq!(given.0, [("a", "3"), ("b", "=2")].map(|(k, v)| (k.to_owned(), v.to_owned())).into());
        assert_eq!(Given::parse(["a"]).unwrap_err(), VarError::NotAssignment("a".into()));
        assert_eq!(Given::parse(["1a=x"]).unwrap_err(), VarError::BadName("1a".into()));
        assert_eq!(Given::parse(["arch=x"]).unwrap_err(), VarError::BuiltIn("arch".into()));
    }
}
