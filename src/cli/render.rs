//! Errors as text: recipe mistakes with file, line, column and a caret
//! (miette), everything else as `error:` with its chain of causes.

use std::fmt::Write as _;

use miette::{GraphicalReportHandler, GraphicalTheme};

use crate::Error;
use crate::recipe::{LocatedError, RecipeError};

pub fn render(error: &Error, color: bool) -> String {
    let mut out = String::new();
    match error {
        Error::Recipes(errors) => {
            for error in errors {
                match error {
                    RecipeError::Invalid { errors: located, .. } => {
                        located.iter().for_each(|e| located_error(&mut out, e, color));
                        let _ = writeln!(out, "error: {error}");
                    }
                    RecipeError::Read { .. } => chain(&mut out, error),
                }
            }
        }
        Error::Plan { recipe, errors } => {
            errors.iter().for_each(|e| located_error(&mut out, e, color));
            let count = if errors.len() == 1 { "1 error".to_owned() } else { format!("{} errors", errors.len()) };
            let _ = writeln!(out, "error: {count} in {recipe}");
        }
        other => chain(&mut out, other),
    }
    out
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
    let _ = writeln!(out, "error: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = writeln!(out, "  caused by: {cause}");
        source = cause.source();
    }
}
