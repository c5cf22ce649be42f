//! Where things are in a recipe: the source text, spans into it, and the
//! located error every recipe mistake becomes.

use std::ops::Range;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource};
use thiserror::Error;

/// A recipe file's name (as the user gave it) and text.
#[derive(Debug)]
pub struct SourceFile {
    pub name: String,
    pub text: Arc<str>,
}

/// A span in a recipe file: what later stages keep to point back at the
/// entry that caused an error.
#[derive(Clone, Debug)]
pub struct Loc {
    pub file: Arc<SourceFile>,
    pub span: Range<usize>,
}

impl Loc {
    /// `FILE:LINE:COLUMN` of the span's start (1-based), for messages
    /// printed without the source.
    pub fn position(&self) -> String {
        let before = &self.file.text[..self.span.start.min(self.file.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("{}:{line}:{column}", self.file.name)
    }

    /// An error pointing at this span.
    pub fn error(&self, message: impl Into<String>, label: impl Into<String>) -> LocatedError {
        LocatedError::new(&self.file, message, vec![(self.span.clone(), label.into())])
    }

    /// An error pointing at two spans of one file, e.g. both halves of a
    /// duplicate.
    pub fn error_with(
        &self,
        message: impl Into<String>,
        label: impl Into<String>,
        other: &Loc,
        other_label: impl Into<String>,
    ) -> LocatedError {
        LocatedError::new(
            &self.file,
            message,
            vec![(other.span.clone(), other_label.into()), (self.span.clone(), label.into())],
        )
    }
}

/// A mistake in a recipe: a message, the file, and labelled spans in it.
#[derive(Debug, Error, Diagnostic)]
#[error(transparent)]
#[diagnostic(transparent)]
pub struct LocatedError(Box<Located>);

#[derive(Debug, Error, Diagnostic)]
#[error("{message}")]
struct Located {
    message: String,
    #[source_code]
    source_code: NamedSource<Arc<str>>,
    #[label(collection)]
    labels: Vec<LabeledSpan>,
    #[help]
    help: Option<String>,
}

impl LocatedError {
    pub fn new(file: &SourceFile, message: impl Into<String>, labels: Vec<(Range<usize>, String)>) -> Self {
        let labels = labels
            .into_iter()
            .map(|(span, label)| {
                let len = span.end.saturating_sub(span.start);
                LabeledSpan::new(Some(label), span.start, len)
            })
            .collect();
        LocatedError(Box::new(Located {
            message: message.into(),
            source_code: NamedSource::new(&file.name, Arc::clone(&file.text)).with_language("toml"),
            labels,
            help: None,
        }))
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.0.help = Some(help.into());
        self
    }

    /// Where the first label starts: errors are reported in file order.
    pub fn first_offset(&self) -> usize {
        self.0.labels.iter().map(|l| l.offset()).min().unwrap_or(0)
    }
}
