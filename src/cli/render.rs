//! Errors as text: recipe mistakes with file, line, column and a caret
//! (miette), everything else as `error:` with its chain of causes.
//!
//! Bounded whatever the input: at most [`MAX_ERRORS`] located errors are
//! shown (each already bounded by [`LocatedError`]), a line of a cause
//! chain is cut at [`MAX_LINE`] bytes, and the whole text at
//! [`MAX_OUTPUT`] bytes.

use std::fmt::Write as _;

use miette::{GraphicalReportHandler, GraphicalTheme};

use crate::Error;
use crate::assemble::AssembleError;
use crate::compose::ComposeError;
use crate::lock::LockError;
use crate::recipe::source::capped;
use crate::recipe::{LocatedError, RecipeError};

/// Located errors shown; the rest are counted.
const MAX_ERRORS: usize = 20;
/// A line of a cause chain, in bytes.
const MAX_LINE: usize = 4 << 10;
/// All of it, in bytes.
const MAX_OUTPUT: usize = 60 << 10;

pub(super) fn render(error: &Error, color: bool) -> String {
    let mut out = String::new();
    let mut shown = 0;
    match error {
        Error::Compose(ComposeError::Recipes(errors)) => {
            for error in errors {
                match error {
                    RecipeError::Invalid { errors: located, .. } => {
                        located_errors(&mut out, located, &mut shown, color);
                        line(&mut out, format!("error: {error}"));
                    }
                    RecipeError::Read { .. } | RecipeError::Undeclared { .. } => chain(&mut out, error),
                }
            }
        }
        Error::Compose(ComposeError::Warnings(warnings)) => {
            located_errors(&mut out, warnings, &mut shown, color);
            line(&mut out, format!("error: {} denied by --deny-warnings", counted(warnings.len(), "warning")));
        }
        Error::Compose(ComposeError::Lock(error))
            if let LockError::Invalid { errors, .. } | LockError::Unlocked { errors, .. } = error.as_ref() =>
        {
            located_errors(&mut out, errors, &mut shown, color);
            line(&mut out, format!("error: {error}"));
        }
        Error::Compose(ComposeError::Plan { recipe, errors }) => {
            located_errors(&mut out, errors, &mut shown, color);
            line(&mut out, format!("error: {} in {recipe}", crate::recipe::counted(errors)));
        }
        Error::Compose(ComposeError::Assemble { recipe, source: AssembleError::Hook(error) }) => {
            located_error(&mut out, error, color);
            line(&mut out, format!("error: assembling {recipe}"));
        }
        Error::Plugin(error) => located_error(&mut out, error, color),
        other => chain(&mut out, other),
    }
    if out.len() > MAX_OUTPUT {
        let all = out.len();
        let mut cut = MAX_OUTPUT;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(out[..cut].rfind('\n').map_or(0, |i| i + 1));
        let _ = writeln!(out, "… ({} more bytes of errors not shown)", all - out.len());
    }
    out
}

/// Warnings and notes of a successful run, each shown like an error,
/// then how many warnings there were.
pub(super) fn remarks(remarks: &[LocatedError], color: bool) -> String {
    let mut out = String::new();
    let mut shown = 0;
    located_errors(&mut out, remarks, &mut shown, color);
    let warnings = remarks.iter().filter(|r| r.is_warning()).count();
    if warnings > 0 {
        line(&mut out, format!("warning: {} (build --deny-warnings fails on them)", counted(warnings, "warning")));
    }
    out
}

fn counted(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

/// `errors`, as long as fewer than [`MAX_ERRORS`] were shown so far.
fn located_errors(out: &mut String, errors: &[LocatedError], shown: &mut usize, color: bool) {
    let room = MAX_ERRORS.saturating_sub(*shown);
    errors.iter().take(room).for_each(|e| located_error(out, e, color));
    *shown += errors.len().min(room);
    let hidden: usize = errors.iter().skip(room).map(LocatedError::count).sum();
    if hidden > 0 {
        line(out, format!("… {hidden} more errors not shown"));
    }
}

fn line(out: &mut String, text: String) {
    let _ = writeln!(out, "{}", capped(text, MAX_LINE));
}

fn located_error(out: &mut String, error: &LocatedError, color: bool) {
    let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
    if handler.render_report(out, error).is_err() {
        let _ = writeln!(out, "error: {error}");
    }
    out.push('\n');
}

fn chain(out: &mut String, error: &dyn std::error::Error) {
    line(out, format!("error: {error}"));
    let mut source = error.source();
    while let Some(cause) = source {
        line(out, format!("  caused by: {cause}"));
        source = cause.source();
    }
}
