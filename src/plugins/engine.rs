//! The one hardened Rhai engine every plugin runs on: `Engine::new_raw()`
//! with only the core, logic, math, string, array, blob and map packages (no
//! time, no module resolver), `eval` and `import` refused, strict
//! variables, limits on operations, call depth, expression depth, string,
//! array and map sizes, and a wall-clock deadline per hook call. `print` and
//! `debug` go to the calling hook's log (capped), never to stdout.

use std::cell::{Cell, RefCell};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rhai::debugger::{DebuggerCommand, DebuggerEvent};
use rhai::packages::{
    BasicArrayPackage, BasicBlobPackage, BasicMapPackage, BasicMathPackage, CorePackage, LogicPackage,
    MoreStringPackage, Package,
};
use rhai::{Dynamic, Engine, Position};

/// What a plugin may use, per hook call or value.
pub const MAX_OPERATIONS: u64 = 50_000_000;
pub const MAX_CALL_LEVELS: usize = 64;
pub const MAX_EXPR_DEPTH: usize = 64;
pub const MAX_STRING: usize = 16 << 20;
pub const MAX_ARRAY: usize = 100_000;
pub const MAX_MAP: usize = 100_000;
pub const DEADLINE: Duration = Duration::from_secs(10);
const MAX_LOG_LINES: usize = 100;
const MAX_LOG_LINE: usize = 500;

thread_local! {
    static DEADLINE_AT: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Where the script last was: limits trip at places Rhai reports no
    /// position for (an endless loop must still be located).
    static LAST_POSITION: Cell<Position> = const { Cell::new(Position::NONE) };
    static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(build)
}

fn build() -> Engine {
    let mut engine = Engine::new_raw();
    CorePackage::new().register_into_engine(&mut engine);
    LogicPackage::new().register_into_engine(&mut engine);
    BasicMathPackage::new().register_into_engine(&mut engine);
    MoreStringPackage::new().register_into_engine(&mut engine);
    BasicArrayPackage::new().register_into_engine(&mut engine);
    BasicBlobPackage::new().register_into_engine(&mut engine);
    BasicMapPackage::new().register_into_engine(&mut engine);
    engine.disable_symbol("eval");
    engine.disable_symbol("import");
    engine.set_max_modules(0);
    engine.set_strict_variables(true);
    engine.set_max_operations(MAX_OPERATIONS);
    engine.set_max_call_levels(MAX_CALL_LEVELS);
    engine.set_max_expr_depths(MAX_EXPR_DEPTH, MAX_EXPR_DEPTH);
    engine.set_max_string_size(MAX_STRING);
    engine.set_max_array_size(MAX_ARRAY);
    engine.set_max_map_size(MAX_MAP);
    engine.on_progress(|operations| {
        if operations % 4096 != 0 {
            return None;
        }
        let late = DEADLINE_AT.with(|d| d.get().is_some_and(|at| Instant::now() > at));
        late.then(|| Dynamic::from(format!("the plugin ran longer than {}s", DEADLINE.as_secs())))
    });
    #[allow(deprecated, reason = "Rhai marks its debugger interface volatile, not deprecated")]
    engine.register_debugger(
        |_, debugger| debugger,
        |_, event, _, _, position| {
            if matches!(event, DebuggerEvent::Step) && !position.is_none() {
                LAST_POSITION.with(|p| p.set(position));
            }
            Ok(DebuggerCommand::StepInto)
        },
    );
    engine.on_print(log);
    engine.on_debug(|text, _, pos| log(&format!("{text} ({pos})")));
    super::ctx::register(&mut engine);
    engine
}

fn log(text: &str) {
    LOG.with(|log| {
        let mut log = log.borrow_mut();
        if log.len() < MAX_LOG_LINES {
            log.push(text.chars().take(MAX_LOG_LINE).collect());
        } else if log.len() == MAX_LOG_LINES {
            log.push("… (further output dropped)".into());
        }
    });
}

/// Runs `call` with a fresh deadline and log on this thread; returns its
/// result, what the plugin printed, and the last position it reached.
pub fn supervised<T>(call: impl FnOnce() -> T) -> (T, Vec<String>, Position) {
    DEADLINE_AT.with(|d| d.set(Some(Instant::now() + DEADLINE)));
    LAST_POSITION.with(|p| p.set(Position::NONE));
    LOG.with(|log| log.borrow_mut().clear());
    let result = call();
    DEADLINE_AT.with(|d| d.set(None));
    (result, LOG.with(|log| std::mem::take(&mut *log.borrow_mut())), LAST_POSITION.with(Cell::get))
}
