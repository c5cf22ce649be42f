//! Plugins stage: the Rhai host (the API: docs/plugins.md).
//!
//! - [`engine`]: the one hardened engine (packages, limits, deadline, log,
//!   a thread with a large stack per hook call);
//! - [`bounded`]: Rhai functions replaced by versions that check the size
//!   of their result before making it, or the depth of their arguments;
//! - [`ctx`]: the `ctx` of `layer(ctx, args)`, recording what a hook adds
//!   (read-only for image hooks that take it);
//! - [`lower`]: the merged layers below a layer, indexed once, paths
//!   resolved through symlinks, files read at their offsets;
//! - [`reads`]: the `ctx` functions over them (`*_lower`, `chmod`, `chown`);
//! - [`helpers`]: hashing, globs, regexes, TOML; [`template`]: `render`;
//!   [`format`](mod@format): printf's conversions;
//! - [`args`]: `fn args()` declarations, `with` checked against them, and
//!   the `Args` value hooks get;
//! - here: loading (each script compiled once into an AST) and running the
//!   `args`, `layer`, `config` and `manifest` hooks (and a layer hook alone,
//!   for `plugin test`). What a layer hook records is recipe entries, which
//!   `plan` puts in the layer.
//!
//! Every failure names the script with line and column, the hook, and the
//! recipe entry that called it.

mod args;
mod bounded;
pub(crate) mod ctx;
mod engine;
mod format;
mod helpers;
pub(crate) mod lower;
mod reads;
mod template;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use rhai::{AST, CallFnOptions, Dynamic, EvalAltResult, ImmutableString, Position, Scope};

use crate::digest::Digest;
use crate::recipe::source::capped;
use crate::recipe::{Loc, LocatedError, PluginUse};
use bounded::{MAX_DEPTH, deeper_than};
use ctx::LayerCtx;

/// The largest plugin script read, in bytes.
pub(crate) const MAX_SCRIPT: u64 = 1 << 20;
/// The longest message a hook's error keeps (what it threw), in bytes.
const MAX_MESSAGE: usize = 512;

/// A compiled script.
pub(crate) struct Plugin {
    shown: String,
    /// Digest of the source: part of the cache key of every layer it touches.
    pub digest: Digest,
    ast: AST,
    /// What `fn args()` declares, once asked.
    spec: OnceLock<Option<args::Spec>>,
}

/// A hook failed; the message names script, position, hook and entry.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct HookError(pub String);

/// The script of `entry`, compiled once per process.
pub(crate) fn load(entry: &PluginUse) -> Result<Arc<Plugin>, LocatedError> {
    static LOADED: Mutex<BTreeMap<PathBuf, Arc<Plugin>>> = Mutex::new(BTreeMap::new());
    if let Some(plugin) = LOADED.lock().unwrap_or_else(|p| p.into_inner()).get(&entry.script) {
        return Ok(Arc::clone(plugin));
    }
    let unreadable =
        |e: &dyn std::fmt::Display| entry.loc.error(format!("cannot read plugin {}: {e}", entry.shown), "plugin");
    let source = crate::files::read_bounded(&entry.script, MAX_SCRIPT).map_err(|e| unreadable(&e))?;
    let source = String::from_utf8(source).map_err(|_| unreadable(&"it is not UTF-8 text"))?;
    let ast = engine::engine().compile(&source).map_err(|e| {
        let pos = e.position();
        let (line, column) = (pos.line().unwrap_or(0), pos.position().unwrap_or(0));
        let at = format!("{}:{line}:{column}", entry.shown);
        // `f.curry(x)` is refused as a parse error about properties.
        let text = source.lines().nth(line.saturating_sub(1)).and_then(|l| l.get(column.saturating_sub(1)..));
        let hint = if text.is_some_and(|t| t.starts_with("curry")) {
            " (`curry` is refused)".to_owned()
        } else if matches!(e.err_type(), rhai::ParseErrorType::ExprTooDeep) {
            format!(" (expressions and blocks nest at most {} levels: the depth limit)", engine::MAX_EXPR_DEPTH)
        } else {
            String::new()
        };
        entry.loc.error(format!("{at}: syntax error in the plugin: {}{hint}", e.err_type()), "plugin")
    })?;
    if let Some((name, line, column)) = engine::captured(&ast) {
        let message = format!(
            "{}:{line}:{column}: a closure may not capture a variable (here `{name}`): pass it as an argument",
            entry.shown
        );
        return Err(entry.loc.error(message, "plugin"));
    }
    let plugin = Arc::new(Plugin {
        shown: entry.shown.clone(),
        digest: Digest::of(source.as_bytes()),
        ast,
        spec: OnceLock::new(),
    });
    LOADED.lock().unwrap_or_else(|p| p.into_inner()).insert(entry.script.clone(), Arc::clone(&plugin));
    Ok(plugin)
}

impl Plugin {
    /// Whether the script defines `hook(_, _)`, or for an image hook
    /// `hook(ctx, _, _)`.
    pub(crate) fn defines(&self, hook: &str) -> bool {
        self.ast
            .iter_functions()
            .any(|f| f.name == hook && (f.params.len() == 2 || (hook != "layer" && self.takes_ctx(hook))))
    }

    /// Whether image hook `hook` is `hook(ctx, value, args)`.
    pub(crate) fn takes_ctx(&self, hook: &str) -> bool {
        self.ast.iter_functions().any(|f| f.name == hook && f.params.len() == 3)
    }

    /// What `fn args()` declares (`None` without one), asked once.
    fn spec(&self, entry: &PluginUse) -> Result<Option<&args::Spec>, HookError> {
        if let Some(spec) = self.spec.get() {
            return Ok(spec.as_ref());
        }
        let declared = self.ast.iter_functions().any(|f| f.name == "args" && f.params.is_empty());
        let spec = if declared {
            let (spec, _) = self.call("args", &entry.loc, Vec::new, |value, last| {
                let wrong = |message: &str| self.located("args", &entry.loc, last, message);
                if deeper_than(&value, MAX_DEPTH) {
                    return Err(wrong(&format!("fn args handed back a value nested deeper than {MAX_DEPTH} levels")));
                }
                let json = rhai::serde::from_dynamic::<serde_json::Value>(&value)
                    .map_err(|e| wrong(&format!("fn args handed back a value that is not data: {e}")))?;
                args::Spec::parse(&json).map_err(|e| wrong(&e.to_string()))
            });
            Some(spec?)
        } else {
            None
        };
        Ok(self.spec.get_or_init(|| spec).as_ref())
    }

    /// The `with` of `entry` checked against `fn args()`, defaults filled
    /// in; `true` when the plugin declares its arguments.
    pub(crate) fn checked_args(&self, entry: &PluginUse) -> Result<(serde_json::Value, bool), HookError> {
        match self.spec(entry)? {
            None => Ok((entry.with.clone(), false)),
            Some(spec) => match spec.apply(&entry.with) {
                Ok(values) => Ok((serde_json::Value::Object(values), true)),
                Err(error) => Err(HookError(format!("{}: {error}", self.shown))),
            },
        }
    }

    /// What the layer cache key takes from this plugin and its `args`.
    pub(crate) fn key(&self, args: &serde_json::Value) -> String {
        format!("plugin {} {args}", self.digest)
    }

    /// Calls `hook(args)` on the engine's thread and hands what it returned
    /// to `then` there, so that no value of the script leaves that thread.
    fn call<T: Send>(
        &self,
        hook: &str,
        entry: &Loc,
        args: impl FnOnce() -> Vec<Dynamic> + Send,
        then: impl FnOnce(Dynamic, Position) -> Result<T, HookError> + Send,
    ) -> (Result<T, HookError>, Vec<String>) {
        let ran = engine::supervised(|last| {
            let options = CallFnOptions::new().eval_ast(false).rewind_scope(true);
            let result =
                engine::engine().call_fn_with_options::<Dynamic>(options, &mut Scope::new(), &self.ast, hook, args());
            match result {
                Ok(value) => then(value, last()),
                Err(error) => Err(self.error(hook, entry, &error, last())),
            }
        });
        ran.unwrap_or_else(|e| {
            (Err(self.located(hook, entry, Position::NONE, &format!("cannot start: {e}"))), Vec::new())
        })
    }

    fn error(&self, hook: &str, entry: &Loc, error: &EvalAltResult, last: Position) -> HookError {
        let inner = error.unwrap_inner();
        let pos = [inner.position(), error.position(), last].into_iter().find(|p| !p.is_none()).unwrap_or(last);
        let message = match inner {
            EvalAltResult::ErrorRuntime(value, _) | EvalAltResult::ErrorTerminated(value, _) => {
                if deeper_than(value, MAX_DEPTH) {
                    format!("(a value nested deeper than {MAX_DEPTH} levels)")
                } else if let Some(text) = value.read_lock::<ImmutableString>() {
                    capped(text.to_string(), MAX_MESSAGE)
                } else {
                    capped(value.to_string(), MAX_MESSAGE)
                }
            }
            EvalAltResult::ErrorTooManyOperations(_) => {
                format!("Too many operations: more than {} (the operation limit)", engine::MAX_OPERATIONS)
            }
            EvalAltResult::ErrorStackOverflow(_) => {
                format!(
                    "Stack overflow: functions called more than {} levels deep (the call limit)",
                    engine::MAX_CALL_LEVELS
                )
            }
            EvalAltResult::ErrorDataTooLarge(what, _) => engine::over_limit(what),
            other => {
                let text = other.to_string();
                match text.rfind(" (line ") {
                    Some(cut) => text[..cut].to_owned(),
                    None => text,
                }
            }
        };
        self.located(hook, entry, pos, &message)
    }

    /// `SCRIPT:LINE:COLUMN: in fn HOOK (called by RECIPE:LINE:COLUMN): message`.
    fn located(&self, hook: &str, entry: &Loc, pos: Position, message: &str) -> HookError {
        HookError(format!(
            "{}:{}:{}: in fn {hook} (called by {}): {message}",
            self.shown,
            pos.line().unwrap_or(0),
            pos.position().unwrap_or(0),
            entry.position()
        ))
    }

    /// Runs `layer(ctx, args)`; what it asked for is in `ctx`.
    pub(crate) fn run_layer(&self, ctx: &LayerCtx, entry: &PluginUse) -> (Result<(), HookError>, Vec<String>) {
        let (with, declared) = match self.checked_args(entry) {
            Ok(checked) => checked,
            Err(error) => return (Err(error), Vec::new()),
        };
        let args = || vec![Dynamic::from(ctx.clone()), hook_args(&with, declared)];
        self.call("layer", &entry.loc, args, |_, _| Ok(()))
    }

    /// Runs `name(value, args)` (`config` or `manifest`), or
    /// `name(ctx, value, args)` when `ctx` is given, and returns the value
    /// it hands back, as JSON: data nested at most [`MAX_DEPTH`] levels
    /// deep, which `check` accepts (else an error at the place the script
    /// returned from).
    pub(crate) fn run_map_hook<E: std::fmt::Display>(
        &self,
        name: &str,
        value: &serde_json::Value,
        entry: &PluginUse,
        ctx: Option<&LayerCtx>,
        check: &(dyn Fn(&serde_json::Value) -> Result<(), E> + Sync),
    ) -> (Result<serde_json::Value, HookError>, Vec<String>) {
        let (with, declared) = match self.checked_args(entry) {
            Ok(checked) => checked,
            Err(error) => return (Err(error), Vec::new()),
        };
        let args = || {
            let mut args: Vec<Dynamic> = ctx.map(|c| Dynamic::from(c.clone())).into_iter().collect();
            args.extend([to_dynamic(value), hook_args(&with, declared)]);
            args
        };
        self.call(name, &entry.loc, args, |value, last| {
            let wrong = |message: &str| self.located(name, &entry.loc, last, message);
            if deeper_than(&value, MAX_DEPTH) {
                return Err(wrong(&format!("fn {name} handed back a value nested deeper than {MAX_DEPTH} levels")));
            }
            let json = rhai::serde::from_dynamic::<serde_json::Value>(&value)
                .map_err(|e| wrong(&format!("fn {name} handed back a value that is not data: {e}")))?;
            check(&json).map_err(|e| wrong(&e.to_string()))?;
            Ok(json)
        })
    }
}

/// The `args` a hook gets: an [`args::Args`] when declared, else a map.
fn hook_args(with: &serde_json::Value, declared: bool) -> Dynamic {
    let map = to_dynamic(with);
    if declared { Dynamic::from(args::Args::new(map.try_cast::<rhai::Map>().unwrap_or_default())) } else { map }
}

/// Runs the `layer` hook of `entry` alone (`plugin test`): the entries it
/// records, and what it printed.
pub(crate) fn run_layer_alone(
    entry: &PluginUse,
    setting: ctx::Setting,
) -> (Result<Vec<crate::recipe::EntryKind>, LocatedError>, Vec<String>) {
    let plugin = match load(entry) {
        Ok(plugin) => plugin,
        Err(error) => return (Err(error), Vec::new()),
    };
    if !plugin.defines("layer") {
        let message = format!("{} defines no `fn layer(ctx, args)`", entry.shown);
        return (Err(entry.loc.error(message, "plugin")), Vec::new());
    }
    let ctx = LayerCtx::new(setting);
    let (result, log) = plugin.run_layer(&ctx, entry);
    let result = result.map(|()| std::mem::take(&mut ctx.state().ops)).map_err(|e| entry.loc.error(e.0, "plugin"));
    (result, log)
}

/// Loads the script of `entry` and checks its `with` against `fn args()`.
pub(crate) fn check(entry: &PluginUse) -> Result<(), LocatedError> {
    let plugin = load(entry)?;
    plugin.checked_args(entry).map(|_| ()).map_err(|e| entry.loc.error(e.0, "plugin"))
}

fn to_dynamic(value: &serde_json::Value) -> Dynamic {
    rhai::serde::to_dynamic(value).unwrap_or(Dynamic::UNIT)
}
