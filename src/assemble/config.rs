//! The runtime config of a recipe's image: the parent's, with the recipe's
//! `[config]` applied as a Dockerfile would apply it:
//!
//! - `[config.unset]` first drops what the parent set (env, labels, ports,
//!   volumes); dropping what the parent does not have is a warning;
//! - `entrypoint` without `cmd` clears the parent's `cmd`; `cmd = []`
//!   clears it too;
//! - `env` values expand `${NAME}` and `$NAME` from the environment so far
//!   (the parent's, then this recipe's earlier entries, in file order),
//!   then from the recipe's variables; `$$` is a `$`; an unknown name is an
//!   error at the entry;
//! - labels and env merge by name, ports and volumes are added.

use std::collections::BTreeSet;

use oci_spec::image::Config;

use crate::recipe::vars::{Values, check_name};
use crate::recipe::{ConfigPatch, LocatedError};

/// The parent's runtime config (none for scratch) with `patch` applied;
/// warnings about it go to `remarks`.
pub(super) fn runtime_config(
    parent: Option<&Config>,
    patch: &ConfigPatch,
    vars: &Values,
    remarks: &mut Vec<LocatedError>,
) -> Result<Config, LocatedError> {
    let mut config = parent.cloned().unwrap_or_default();
    unset(&mut config, patch, remarks);
    if let Some(v) = &patch.entrypoint {
        config.set_entrypoint(Some(v.clone()));
        if patch.cmd.is_none() {
            config.set_cmd(None);
        }
    }
    if let Some(v) = &patch.cmd {
        config.set_cmd((!v.is_empty()).then(|| v.clone()));
    }
    if !patch.env.is_empty() {
        let mut env = config.env().clone().unwrap_or_default();
        for set in &patch.env {
            let value = expand_env(&set.value, &env, vars).map_err(|e| {
                set.loc.error(e.to_string(), "in this value").with_help(
                    "an env value takes ${NAME} or $NAME from the environment so far or from [vars]; write $$ for a $",
                )
            })?;
            set_env(&mut env, &set.name, &value);
        }
        config.set_env(Some(env));
    }
    if let Some(v) = &patch.workdir {
        config.set_working_dir(Some(v.clone()));
    }
    if let Some(v) = &patch.user {
        config.set_user(Some(v.clone()));
    }
    if !patch.labels.is_empty() {
        let mut labels = config.labels().clone().unwrap_or_default();
        labels.extend(patch.labels.clone());
        config.set_labels(Some(labels));
    }
    let union = |old: &Option<Vec<String>>, new: &[String]| {
        let all: BTreeSet<String> = old.iter().flatten().chain(new).cloned().collect();
        Some(all.into_iter().collect::<Vec<_>>())
    };
    if !patch.exposed_ports.is_empty() {
        config.set_exposed_ports(union(config.exposed_ports(), &patch.exposed_ports));
    }
    if !patch.volumes.is_empty() {
        config.set_volumes(union(config.volumes(), &patch.volumes));
    }
    if let Some(v) = &patch.stop_signal {
        config.set_stop_signal(Some(v.clone()));
    }
    Ok(config)
}

/// Drops what `[config.unset]` names; a name the parent does not set is
/// a warning (the recipe expects something that is not there).
fn unset(config: &mut Config, patch: &ConfigPatch, remarks: &mut Vec<LocatedError>) {
    let unset = &patch.unset;
    let mut missing = |what: &str, name: &str, loc: &crate::recipe::Loc| {
        let message = format!("[config.unset] names {what} `{name}`, which the parent image does not set");
        remarks.push(loc.error(message, "nothing to unset").into_warning());
    };
    for (name, loc) in &unset.env {
        let is_it = |entry: &String| entry.split_once('=').map_or(entry.as_str(), |(k, _)| k) == name;
        if !drop_from(config.env().clone(), is_it, |env| {
            config.set_env(env);
        }) {
            missing("env", name, loc);
        }
    }
    for (name, loc) in &unset.labels {
        let mut labels = config.labels().clone().unwrap_or_default();
        if labels.remove(name).is_none() {
            missing("label", name, loc);
        }
        config.set_labels((!labels.is_empty()).then_some(labels));
    }
    for (port, loc) in &unset.exposed_ports {
        if !drop_from(
            config.exposed_ports().clone(),
            |p| p == port,
            |ports| {
                config.set_exposed_ports(ports);
            },
        ) {
            missing("port", port, loc);
        }
    }
    for (volume, loc) in &unset.volumes {
        if !drop_from(
            config.volumes().clone(),
            |v| v == volume,
            |volumes| {
                config.set_volumes(volumes);
            },
        ) {
            missing("volume", volume, loc);
        }
    }
}

/// `list` without the items `matches`, handed to `set` (`None` when none
/// is left); whether anything was dropped.
fn drop_from(
    list: Option<Vec<String>>,
    matches: impl Fn(&String) -> bool,
    set: impl FnOnce(Option<Vec<String>>),
) -> bool {
    let mut list = list.unwrap_or_default();
    let before = list.len();
    list.retain(|item| !matches(item));
    let dropped = list.len() != before;
    set((!list.is_empty()).then_some(list));
    dropped
}

/// Sets `name` in a `KEY=VALUE` list: in place when it is there, else at
/// the end.
fn set_env(env: &mut Vec<String>, name: &str, value: &str) {
    let entry = format!("{name}={value}");
    match env.iter_mut().find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == name) {
        Some(existing) => *existing = entry,
        None => env.push(entry),
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum EnvError {
    #[error("`{0}` is neither in the environment so far nor a variable of the recipe")]
    Unknown(String),
    #[error("`${{` is not closed: write `${{NAME}}`, or `$$` for a `$`")]
    Unclosed,
    #[error("`${{{0}}}` is not a variable name (`${{NAME:-default}}` and the like are not supported)")]
    BadName(String),
}

/// `value` with `${NAME}` and `$NAME` replaced from `env` (a `KEY=VALUE`
/// list, the last entry of a name winning) or else `vars`, and `$$` by `$`.
pub(crate) fn expand_env(value: &str, env: &[String], vars: &Values) -> Result<String, EnvError> {
    let lookup = |name: &str| -> Result<String, EnvError> {
        let from_env = env.iter().rev().find_map(|e| e.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')));
        if let Some(found) = from_env {
            return Ok(found.to_owned());
        }
        crate::recipe::vars::expand(&format!("${{{name}}}"), vars).map_err(|_| EnvError::Unknown(name.to_owned()))
    };
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('{') {
            let end = tail.find('}').ok_or(EnvError::Unclosed)?;
            let name = &tail[..end];
            check_name(name).map_err(|_| EnvError::BadName(name.to_owned()))?;
            out.push_str(&lookup(name)?);
            rest = &tail[end + 1..];
        } else {
            let len = after
                .char_indices()
                .find(|&(i, c)| !(c.is_ascii_alphanumeric() || c == '_') || (i == 0 && c.is_ascii_digit()))
                .map_or(after.len(), |(i, _)| i);
            if len == 0 {
                out.push('$');
            } else {
                out.push_str(&lookup(&after[..len])?);
            }
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_expand_from_the_environment_then_the_variables() {
        let env = vec!["PATH=/usr/bin".to_owned(), "HOME=/root".to_owned(), "PATH=/bin".to_owned()];
        let vars = Values { declared: [("version".to_owned(), "1.2".to_owned())].into(), platform: None };
        assert_eq!(expand_env("${PATH}:/opt/bin", &env, &vars).unwrap(), "/bin:/opt/bin");
        assert_eq!(expand_env("$HOME/x-$version.", &env, &vars).unwrap(), "/root/x-1.2.");
        assert_eq!(expand_env("$$HOME $ $1 cost$", &env, &vars).unwrap(), "$HOME $ $1 cost$");
        assert_eq!(expand_env("$NOPE", &env, &vars).unwrap_err(), EnvError::Unknown("NOPE".into()));
        assert_eq!(expand_env("${A:-b}", &env, &vars).unwrap_err(), EnvError::BadName("A:-b".into()));
        assert_eq!(expand_env("${A", &env, &vars).unwrap_err(), EnvError::Unclosed);
    }

    #[test]
    fn set_env_replaces_in_place_and_appends() {
        let mut env = vec!["PATH=/usr/bin".to_owned(), "HOME=/root".to_owned()];
        set_env(&mut env, "LANG", "C");
        set_env(&mut env, "PATH", "/bin");
        assert_eq!(env, ["PATH=/bin", "HOME=/root", "LANG=C"]);
    }
}
