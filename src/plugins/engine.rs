//! The one hardened Rhai engine every plugin runs on: `Engine::new_raw()`
//! with only the core, logic, math, string, array, blob and map packages (no
//! time, no module resolver), `eval` and `import` refused, strict
//! variables, limits on operations, call depth, expression depth, string,
//! array and map sizes, and a wall-clock deadline per hook call. `print` and
//! `debug` go to the calling hook's log (capped), never to stdout.
//!
//! Memory and stack: Rhai's size limits hold for each value, checked after
//! each operation, but not inside function pointers. So `curry` is refused
//! and so is a closure that captures a variable ([`captured`], when the
//! script is loaded: a chain of closures, each capturing the last, nests
//! without limit and holds whatever it captured outside the limits); the
//! functions that could allocate far more than
//! their arguments are checked first ([`super::bounded`]). What remains
//! nests arrays and maps at most [`MAX_ARRAY`] + [`MAX_MAP`] levels deep,
//! one item per level, and Rhai clones, sizes and drops values recursively:
//! each hook call runs on a thread of its own with a [`STACK`]-byte stack,
//! at most [`MAX_RUNNING`] at a time.

use std::cell::{Cell, RefCell};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rhai::debugger::{DebuggerCommand, DebuggerEvent};
use rhai::packages::{
    BasicArrayPackage, BasicBlobPackage, BasicMapPackage, BasicMathPackage, CorePackage, LogicPackage,
    MoreStringPackage, Package,
};
use rhai::{Dynamic, Engine, Position};

/// What a plugin may use, per hook call or value.
pub(super) const MAX_OPERATIONS: u64 = 50_000_000;
pub(super) const MAX_CALL_LEVELS: usize = 64;
pub(super) const MAX_EXPR_DEPTH: usize = 64;
pub(super) const MAX_STRING: usize = 16 << 20;
pub(super) const MAX_ARRAY: usize = 100_000;
pub(super) const MAX_MAP: usize = 100_000;
pub(crate) const DEADLINE: Duration = Duration::from_secs(10);
/// The stack of a hook call's thread: Rhai's recursion over a value nested
/// [`MAX_ARRAY`] + [`MAX_MAP`] levels deep (cloning a map is the largest
/// frame, about 300 bytes a level) fits twice over.
pub(super) const STACK: usize = 128 << 20;
/// Hook calls running at once: each reserves [`STACK`] bytes of address
/// space.
pub(super) const MAX_RUNNING: usize = 4;
const MAX_LOG_LINES: usize = 100;
const MAX_LOG_LINE: usize = 500;

thread_local! {
    static DEADLINE_AT: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Where the script last was: limits trip at places Rhai reports no
    /// position for (an endless loop must still be located).
    static LAST_POSITION: Cell<Position> = const { Cell::new(Position::NONE) };
    static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

pub(super) fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(build)
}

/// `Engine::new_raw()` with the packages a plugin has and the size limits
/// of its values: the engine plugins run on, and the inner one
/// [`super::bounded`] hands values to, start from it, so that both compare
/// and print values alike.
pub(super) fn packaged() -> Engine {
    let mut engine = Engine::new_raw();
    CorePackage::new().register_into_engine(&mut engine);
    LogicPackage::new().register_into_engine(&mut engine);
    BasicMathPackage::new().register_into_engine(&mut engine);
    MoreStringPackage::new().register_into_engine(&mut engine);
    BasicArrayPackage::new().register_into_engine(&mut engine);
    BasicBlobPackage::new().register_into_engine(&mut engine);
    BasicMapPackage::new().register_into_engine(&mut engine);
    engine.set_max_string_size(MAX_STRING);
    engine.set_max_array_size(MAX_ARRAY);
    engine.set_max_map_size(MAX_MAP);
    engine
}

fn build() -> Engine {
    let mut engine = packaged();
    engine.disable_symbol("eval");
    engine.disable_symbol("import");
    engine.disable_symbol("curry");
    engine.set_max_modules(0);
    engine.set_strict_variables(true);
    engine.set_max_operations(MAX_OPERATIONS);
    engine.set_max_call_levels(MAX_CALL_LEVELS);
    engine.set_max_expr_depths(MAX_EXPR_DEPTH, MAX_EXPR_DEPTH);
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
    super::bounded::register(&mut engine);
    super::ctx::register(&mut engine);
    super::helpers::register(&mut engine);
    super::args::register(&mut engine);
    engine
}

/// What Rhai's "data too large" error says (`what` is its subject), with
/// the limit and its value.
pub(super) fn over_limit(what: &str) -> String {
    let limit = match what {
        "Length of string" => format!("a string may hold at most {MAX_STRING} bytes (the string limit)"),
        "Size of array/BLOB" => format!(
            "an array may hold at most {MAX_ARRAY} items, and a blob {MAX_ARRAY} bytes (the array limit, which \
             Rhai applies to blobs too)"
        ),
        "Size of object map" => format!("a map may hold at most {MAX_MAP} entries (the map limit)"),
        _ => "(a size limit)".to_owned(),
    };
    format!("{what} over the limit: {limit}")
}

/// A variable a closure in `ast` captures, with its line and column.
///
/// A closure that captures makes each variable shared (`Stmt::Share`)
/// before it is made. Rhai names its statements only under its `internals`
/// feature, so this looks for that statement in the AST's `Debug` text:
/// `Share([("NAME" @ LINE:COLUMN, ...`. (A string constant shows its
/// quotes escaped, so it cannot look like that unless it ends in
/// `Share([(`, and then what follows does not parse.)
/// tests/suite/hostile_recipes.rs fails if a Rhai update changes the text.
pub(super) fn captured(ast: &rhai::AST) -> Option<(String, usize, usize)> {
    const SHARE: &str = "Share([(\"";
    let text = format!("{ast:?}");
    text.match_indices(SHARE).find_map(|(at, _)| {
        let rest = &text[at + SHARE.len()..];
        let (name, rest) = rest.split_once('"')?;
        let (line, rest) = rest.strip_prefix(" @ ")?.split_once(':')?;
        let column = rest.split(|c: char| !c.is_ascii_digit()).next()?;
        Some((name.to_owned(), line.parse().ok()?, column.parse().ok()?))
    })
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

/// Runs `call` on a thread of its own (with a [`STACK`]-byte stack, once
/// fewer than [`MAX_RUNNING`] others run) with a fresh deadline and log;
/// gives `call` the last position the script reached, and returns what
/// `call` returned and what the plugin printed. Every value of the script
/// must be dropped inside `call`. Fails only when the thread cannot start.
pub(super) fn supervised<T: Send>(
    call: impl FnOnce(&dyn Fn() -> Position) -> T + Send,
) -> std::io::Result<(T, Vec<String>)> {
    let _slot = Slot::take();
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new().name("plugin".into()).stack_size(STACK).spawn_scoped(scope, || {
            DEADLINE_AT.with(|d| d.set(Some(Instant::now() + DEADLINE)));
            LAST_POSITION.with(|p| p.set(Position::NONE));
            LOG.with(|log| log.borrow_mut().clear());
            let result = call(&|| LAST_POSITION.with(Cell::get));
            DEADLINE_AT.with(|d| d.set(None));
            (result, LOG.with(|log| std::mem::take(&mut *log.borrow_mut())))
        })?;
        Ok(thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    })
}

/// One of the [`MAX_RUNNING`] places for a running hook call, given back
/// when dropped.
struct Slot;

static RUNNING: (Mutex<usize>, Condvar) = (Mutex::new(0), Condvar::new());

impl Slot {
    fn take() -> Slot {
        let (count, freed) = &RUNNING;
        let mut count = count.lock().unwrap_or_else(|p| p.into_inner());
        while *count >= MAX_RUNNING {
            count = freed.wait(count).unwrap_or_else(|p| p.into_inner());
        }
        *count += 1;
        Slot
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let (count, freed) = &RUNNING;
        *count.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
        freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closures_that_capture_are_found_with_their_place() {
        let ast = |script: &str| engine().compile(script).unwrap();
        let capturing = "fn f(ctx, args) {\n  let p = 1;\n  [1].map(|v| v + p)\n}\n";
        assert_eq!(captured(&ast(capturing)), Some(("p".into(), 3, 19)));
        let plain = "fn f(ctx, args) {\n  let s = \"Share([(\";\n  [1].map(|v| v + 1)\n}\n";
        assert_eq!(captured(&ast(plain)), None);
    }
}
