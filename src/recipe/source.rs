//! Where things are in a recipe: the source text, spans into it, and the
//! located error every recipe mistake becomes.

use std::ops::Range;
use std::sync::{Arc, OnceLock};

use miette::{
    Diagnostic, LabeledSpan, MietteError, MietteSpanContents, NamedSource, Severity, SourceCode, SourceSpan,
    SpanContents,
};
use thiserror::Error;

/// A recipe file's name (as the user gave it) and text.
#[derive(Debug)]
pub(crate) struct SourceFile {
    pub name: String,
    pub text: Arc<str>,
}

/// A span in a recipe file: what later stages keep to point back at the
/// entry that caused an error.
#[derive(Clone, Debug)]
pub(crate) struct Loc {
    pub file: Arc<SourceFile>,
    pub span: Range<usize>,
}

impl Loc {
    /// `FILE:LINE:COLUMN` of the span's start (1-based), for messages
    /// printed without the source.
    pub(crate) fn position(&self) -> String {
        let before = &self.file.text[..self.span.start.min(self.file.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("{}:{line}:{column}", self.file.name)
    }

    /// Whether this span comes before `other` in the same file (an entry
    /// above another).
    pub(crate) fn is_before(&self, other: &Loc) -> bool {
        self.file.name == other.file.name && self.span.start < other.span.start
    }

    /// An error pointing at this span.
    pub(crate) fn error(&self, message: impl Into<String>, label: impl Into<String>) -> LocatedError {
        LocatedError::new(&self.file, message, vec![(self.span.clone(), label.into())])
    }

    /// An error pointing at two spans of one file, e.g. both halves of a
    /// duplicate.
    pub(crate) fn error_with(
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
///
/// What it shows is bounded whatever the file holds: the message is cut at
/// [`MAX_MESSAGE`] bytes, a label spanning many lines is cut to its first
/// line, and a line near a label that is longer than [`MAX_LINE`] bytes is
/// shown as a window around the label (the position printed stays the
/// file's), so a huge recipe key or value cannot turn one error into
/// megabytes of output.
#[derive(Debug, Error, Diagnostic)]
#[error(transparent)]
#[diagnostic(transparent)]
pub(crate) struct LocatedError(Box<Located>);

/// The longest message a located error keeps, in bytes.
pub(crate) const MAX_MESSAGE: usize = 1024;
/// The longest source line shown whole, in bytes; a longer one is shown as a
/// window of this many bytes around the label.
pub(crate) const MAX_LINE: usize = 160;
/// A label over more lines than this (or longer than [`MAX_LINE`] bytes
/// and over several lines) points at its first line only.
const MAX_LABEL_LINES: usize = 3;
/// What a window keeps of a long line before the label it shows.
const WINDOW_LEAD: usize = 40;
const ELLIPSIS: &str = "…";

/// What a located error shows is worked out when it is first rendered, so
/// that making one costs nothing however long the file and however many
/// errors it has (at most a few are shown).
#[derive(Debug, Error)]
#[error("{message}")]
struct Located {
    message: String,
    name: String,
    text: Arc<str>,
    /// The labels as given: spans of `text`.
    given: Vec<(Range<usize>, String)>,
    help: Option<String>,
    /// Where the first label starts.
    offset: usize,
    /// For the error that stands for mistakes not kept: how many.
    unlisted: usize,
    /// An error, or a warning or note shown the same way.
    severity: Severity,
    shown: OnceLock<(NamedSource<Shown>, Vec<LabeledSpan>)>,
}

impl Located {
    /// The text shown and the labels in it: the file, or an excerpt of it
    /// when a line near a label is long.
    fn shown(&self) -> &(NamedSource<Shown>, Vec<LabeledSpan>) {
        self.shown.get_or_init(|| {
            let text = &self.text;
            let labels: Vec<(Range<usize>, String)> =
                self.given.iter().map(|(span, label)| (one_line(text, span.clone()), label.clone())).collect();
            let (shown, labels) = if labels.iter().any(|(span, _)| near_long_line(text, span.start)) {
                Shown::excerpt(text, labels)
            } else {
                (Shown { text: Arc::clone(text), first_line: 0, shift: Vec::new() }, labels)
            };
            let labels = labels
                .into_iter()
                .map(|(span, label)| LabeledSpan::new(Some(label), span.start, span.end - span.start))
                .collect();
            (NamedSource::new(&self.name, shown).with_language("toml"), labels)
        })
    }
}

impl Diagnostic for Located {
    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.shown().0)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.shown().1.iter().cloned()))
    }

    fn severity(&self) -> Option<Severity> {
        Some(self.severity)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help.as_ref().map(|help| Box::new(help) as Box<dyn std::fmt::Display>)
    }
}

impl LocatedError {
    pub(crate) fn new(file: &SourceFile, message: impl Into<String>, labels: Vec<(Range<usize>, String)>) -> Self {
        let given: Vec<(Range<usize>, String)> =
            labels.into_iter().map(|(span, label)| (span, capped(label, MAX_LINE))).collect();
        let offset = given.iter().map(|(span, _)| span.start).min().unwrap_or(0);
        LocatedError(Box::new(Located {
            message: capped(message.into(), MAX_MESSAGE),
            name: file.name.clone(),
            text: Arc::clone(&file.text),
            given,
            help: None,
            offset,
            unlisted: 0,
            severity: Severity::Error,
            shown: OnceLock::new(),
        }))
    }

    /// The error standing for `count` mistakes of `file` that are not
    /// listed; it sorts after every other.
    pub(crate) fn unlisted(file: &SourceFile, count: usize) -> Self {
        let mut error = LocatedError::new(file, format!("… and {count} more mistakes, not listed"), Vec::new());
        error.0.offset = usize::MAX;
        error.0.unlisted = count;
        error
    }

    /// How many mistakes this error stands for: 1, or those [`unlisted`](Self::unlisted).
    pub(crate) fn count(&self) -> usize {
        self.0.unlisted.max(1)
    }

    /// The same, as a warning: something that builds but is probably not
    /// what was meant (`build --deny-warnings` refuses it).
    pub(crate) fn into_warning(mut self) -> Self {
        self.0.severity = Severity::Warning;
        self
    }

    /// The same, as a note: something done that a user may not expect.
    pub(crate) fn into_note(mut self) -> Self {
        self.0.severity = Severity::Advice;
        self
    }

    pub(crate) fn is_warning(&self) -> bool {
        self.0.severity == Severity::Warning
    }

    pub(crate) fn with_help(mut self, help: impl Into<String>) -> Self {
        self.0.help = Some(capped(help.into(), MAX_MESSAGE));
        self
    }

    /// Where the first label starts: errors are reported in file order.
    pub(crate) fn first_offset(&self) -> usize {
        self.0.offset
    }
}

/// `text` cut to at most `max` bytes (at a character boundary), saying how
/// long it was.
pub(crate) fn capped(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let cut = floor_boundary(&text, max);
    format!("{}{ELLIPSIS} ({} bytes in all)", &text[..cut], text.len())
}

fn floor_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// `span` inside `text`, and over one line when it runs over many (or is
/// long and over several).
fn one_line(text: &str, span: Range<usize>) -> Range<usize> {
    let start = floor_boundary(text, span.start);
    let end = floor_boundary(text, span.end.max(start));
    let inside = &text[start..end];
    let lines = inside.matches('\n').count();
    if lines > MAX_LABEL_LINES || (lines > 0 && inside.len() > MAX_LINE) {
        let first = inside.find('\n').unwrap_or(inside.len());
        return start..start + first;
    }
    start..end
}

/// The start and end (without the newline) of the line holding `offset`.
fn line_at(text: &str, offset: usize) -> Range<usize> {
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    start..end
}

/// Whether the line at `offset`, or the line before or after it (miette
/// shows one line of context), is longer than [`MAX_LINE`].
fn near_long_line(text: &str, offset: usize) -> bool {
    let line = line_at(text, offset);
    let before = (line.start > 0).then(|| line_at(text, line.start - 1));
    let after = (line.end < text.len()).then(|| line_at(text, line.end + 1));
    [Some(line), before, after].into_iter().flatten().any(|l| l.len() > MAX_LINE)
}

/// What a located error shows of its file: the whole text, or an excerpt of
/// a few lines (long ones windowed) that knows where it came from, so the
/// line and column printed are the file's.
#[derive(Debug)]
struct Shown {
    text: Arc<str>,
    /// The file's line (0-based) the text starts at.
    first_line: usize,
    /// Per line of the text: the bytes of the file's line left out before
    /// what is shown, less the ellipsis that stands for them.
    shift: Vec<usize>,
}

impl Shown {
    /// The lines around the labels that sit close to the last one (labels
    /// further away are dropped), each long one cut to a window of
    /// [`MAX_LINE`] bytes around the label on it; the labels moved into it.
    fn excerpt(text: &str, labels: Vec<(Range<usize>, String)>) -> (Shown, Vec<(Range<usize>, String)>) {
        let line_of = |offset: usize| text[..offset].matches('\n').count();
        let last = labels.iter().map(|(span, _)| span.start).max().unwrap_or(0);
        let last_line = line_of(last);
        let labels: Vec<(Range<usize>, String, usize)> = labels
            .into_iter()
            .map(|(span, label)| {
                let line = line_of(span.start);
                (span, label, line)
            })
            .filter(|(_, _, line)| line.abs_diff(last_line) <= 2)
            .collect();
        let earliest = labels.iter().map(|l| l.0.start).min().unwrap_or(last);
        let mut first = line_of(earliest);
        let mut start = line_at(text, earliest).start;
        if first > 0 {
            first -= 1;
            start = line_at(text, start - 1).start;
        }
        let end = labels.iter().map(|l| l.2).max().unwrap_or(last_line) + 1;
        let mut shown = String::new();
        let mut shift = Vec::new();
        let mut moved = Vec::new();
        let mut line_start = start;
        for line in first..=end {
            // Past the end, or the empty "line" after a final newline.
            if line_start > text.len() || (line_start == text.len() && line > last_line) {
                break;
            }
            let whole = line_at(text, line_start);
            let on_line: Vec<&(Range<usize>, String, usize)> = labels.iter().filter(|l| l.2 == line).collect();
            let (keep, lead) = if whole.len() <= MAX_LINE {
                (whole.clone(), "")
            } else {
                let from = on_line.iter().map(|l| l.0.start - whole.start).min().unwrap_or(0);
                let from =
                    if from > 2 * WINDOW_LEAD { floor_boundary(&text[whole.clone()], from - WINDOW_LEAD) } else { 0 };
                let to = floor_boundary(&text[whole.clone()], from + MAX_LINE);
                (whole.start + from..whole.start + to, if from > 0 { ELLIPSIS } else { "" })
            };
            let base = shown.len() + lead.len();
            for (span, label, _) in on_line {
                let s = span.start.clamp(keep.start, keep.end);
                let e = span.end.clamp(s, keep.end);
                moved.push((base + s - keep.start..base + e - keep.start, label.clone()));
            }
            shift.push(keep.start - whole.start - lead.len());
            shown.push_str(lead);
            shown.push_str(&text[keep.clone()]);
            if keep.end < whole.end {
                shown.push_str(ELLIPSIS);
            }
            shown.push('\n');
            line_start = whole.end + 1;
        }
        (Shown { text: Arc::from(shown), first_line: first, shift }, moved)
    }
}

impl SourceCode for Shown {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let contents = self.text.read_span(span, context_lines_before, context_lines_after)?;
        if self.first_line == 0 && self.shift.is_empty() {
            return Ok(contents);
        }
        let line = contents.line();
        // Only a span read without context has a column (of its start).
        let column = match context_lines_before {
            0 => contents.column() + self.shift.get(line).copied().unwrap_or(0),
            _ => contents.column(),
        };
        Ok(Box::new(MietteSpanContents::new(
            contents.data(),
            *contents.span(),
            line + self.first_line,
            column,
            contents.line_count(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(error: &LocatedError) -> String {
        let mut out = String::new();
        let handler = miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor());
        handler.render_report(&mut out, error).unwrap();
        out
    }

    fn file(text: String) -> SourceFile {
        SourceFile { name: "r.toml".into(), text: text.into() }
    }

    #[test]
    fn messages_are_capped_at_a_character_boundary() {
        assert_eq!(capped("short".into(), 10), "short");
        assert_eq!(capped("ééé".into(), 3), "é… (6 bytes in all)");
        let file = file("a = 1\n".into());
        let error = LocatedError::new(&file, "x".repeat(5000), vec![(0..1, "here".into())]);
        assert!(error.to_string().len() < MAX_MESSAGE + 30, "{}", error.to_string().len());
    }

    #[test]
    fn a_long_line_is_shown_around_the_label_at_its_real_position() {
        let key = "k".repeat(100_000);
        let text = format!("[a]\nb = 1\n{key} = 1\nc = 2\n");
        let start = text.find(" = 1\nc").unwrap() + 3;
        let error = LocatedError::new(&file(text), "bad", vec![(start..start + 1, "here".into())]);
        let shown = render(&error);
        assert!(shown.contains("╭─[r.toml:3:100004]"), "{shown}");
        assert!(shown.contains(" 2 │ b = 1\n") && shown.contains(" 4 │ c = 2\n"), "{shown}");
        assert!(shown.contains("3 │ …kkkk"), "{shown}");
        assert!(shown.len() < 2000, "{} bytes", shown.len());
        assert_eq!(error.first_offset(), start);
    }

    #[test]
    fn a_label_over_many_lines_points_at_its_first() {
        let text = format!("a = [\n{}]\n", "1,\n".repeat(100_000));
        let error = LocatedError::new(&file(text.clone()), "bad", vec![(4..text.len() - 1, "here".into())]);
        let shown = render(&error);
        assert!(shown.contains("╭─[r.toml:1:5]"), "{shown}");
        assert!(shown.len() < 1000, "{} bytes:\n{shown}", shown.len());
    }

    #[test]
    fn short_lines_are_shown_as_they_are() {
        let text = "[image]\nname = \"x\"\n".to_owned();
        let error = LocatedError::new(&file(text), "bad", vec![(15..18, "here".into())]);
        let shown = render(&error);
        assert!(shown.contains("╭─[r.toml:2:8]") && shown.contains(" 2 │ name = \"x\"\n"), "{shown}");
    }
}
