//! Plugins stage: the Rhai host (SPEC §5).
//!
//! - [`engine`]: the one hardened engine (packages, limits, deadline, log);
//! - [`ctx`]: the `ctx` of `layer(ctx, args)`, recording what a hook adds;
//! - [`lower`]: the merged layers below a layer, for the `*_lower` reads;
//! - here: loading (each script compiled once into an AST) and running the
//!   `layer`, `config` and `manifest` hooks. What a layer hook records is
//!   recipe entries, which `plan` puts in the layer.
//!
//! Every failure names the script with line and column, the hook, and the
//! recipe entry that called it.

pub mod ctx;
mod engine;
pub mod lower;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rhai::{AST, CallFnOptions, Dynamic, EvalAltResult, Scope};

use crate::digest::Digest;
use crate::recipe::{Loc, LocatedError, PluginUse};
use ctx::LayerCtx;

pub use engine::DEADLINE;

/// A compiled script.
pub struct Plugin {
    shown: String,
    /// Digest of the source: part of the cache key of every layer it touches.
    pub digest: Digest,
    ast: AST,
}

/// A hook failed; the message names script, position, hook and entry.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HookError(pub String);

/// The script of `entry`, compiled once per process.
pub fn load(entry: &PluginUse) -> Result<Arc<Plugin>, LocatedError> {
    static LOADED: Mutex<BTreeMap<PathBuf, Arc<Plugin>>> = Mutex::new(BTreeMap::new());
    if let Some(plugin) = LOADED.lock().unwrap_or_else(|p| p.into_inner()).get(&entry.script) {
        return Ok(Arc::clone(plugin));
    }
    let source = std::fs::read_to_string(&entry.script)
        .map_err(|e| entry.loc.error(format!("cannot read plugin {}: {e}", entry.shown), "plugin"))?;
    let ast = engine::engine().compile(&source).map_err(|e| {
        let pos = e.position();
        let at = format!("{}:{}:{}", entry.shown, pos.line().unwrap_or(0), pos.position().unwrap_or(0));
        entry.loc.error(format!("{at}: syntax error in the plugin: {}", e.err_type()), "plugin")
    })?;
    let plugin = Arc::new(Plugin { shown: entry.shown.clone(), digest: Digest::of(source.as_bytes()), ast });
    LOADED.lock().unwrap_or_else(|p| p.into_inner()).insert(entry.script.clone(), Arc::clone(&plugin));
    Ok(plugin)
}

impl Plugin {
    /// Whether the script defines `hook(_, _)`.
    pub fn defines(&self, hook: &str) -> bool {
        self.ast.iter_functions().any(|f| f.name == hook && f.params.len() == 2)
    }

    /// What the layer cache key takes from this plugin and its `args`.
    pub fn key(&self, args: &serde_json::Value) -> String {
        format!("plugin {} {args}", self.digest)
    }

    fn call(&self, hook: &str, entry: &Loc, args: (Dynamic, Dynamic)) -> (Result<Dynamic, HookError>, Vec<String>) {
        let (result, log, last) = engine::supervised(|| {
            let options = CallFnOptions::new().eval_ast(false).rewind_scope(true);
            engine::engine().call_fn_with_options::<Dynamic>(options, &mut Scope::new(), &self.ast, hook, args)
        });
        (result.map_err(|e| self.error(hook, entry, &e, last)), log)
    }

    fn error(&self, hook: &str, entry: &Loc, error: &EvalAltResult, last: rhai::Position) -> HookError {
        let inner = error.unwrap_inner();
        let pos = [inner.position(), error.position(), last].into_iter().find(|p| !p.is_none()).unwrap_or(last);
        let message = match inner {
            EvalAltResult::ErrorRuntime(value, _) | EvalAltResult::ErrorTerminated(value, _) => value.to_string(),
            other => {
                let text = other.to_string();
                match text.rfind(" (line ") {
                    Some(cut) => text[..cut].to_owned(),
                    None => text,
                }
            }
        };
        HookError(format!(
            "{}:{}:{}: in fn {hook} (called by {}): {message}",
            self.shown,
            pos.line().unwrap_or(0),
            pos.position().unwrap_or(0),
            entry.position()
        ))
    }

    /// Runs `layer(ctx, args)`; what it asked for is in `ctx`.
    pub fn run_layer(&self, ctx: &LayerCtx, entry: &PluginUse) -> (Result<(), HookError>, Vec<String>) {
        let args = to_dynamic(&entry.with);
        let (result, log) = self.call("layer", &entry.loc, (Dynamic::from(ctx.clone()), args));
        (result.map(|_| ()), log)
    }

    /// Runs `name(value, args)` (`config` or `manifest`) and returns the
    /// value it hands back, as JSON.
    pub fn run_map_hook(
        &self,
        name: &str,
        value: &serde_json::Value,
        entry: &PluginUse,
    ) -> (Result<serde_json::Value, HookError>, Vec<String>) {
        let (result, log) = self.call(name, &entry.loc, (to_dynamic(value), to_dynamic(&entry.with)));
        let result = result.and_then(|value| {
            rhai::serde::from_dynamic::<serde_json::Value>(&value)
                .map_err(|e| HookError(format!("{}: fn {name} handed back a value that is not data: {e}", self.shown)))
        });
        (result, log)
    }
}

fn to_dynamic(value: &serde_json::Value) -> Dynamic {
    rhai::serde::to_dynamic(value).unwrap_or(Dynamic::UNIT)
}
