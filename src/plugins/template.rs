//! `render(template, vars)`: a small template language for configuration
//! files (the reference is docs/plugins.md, "Templates").
//!
//! - `{{ name }}`, `{{ name.key }}`: a value of `vars` (or of a loop
//!   variable); a string as it is, a number or boolean as text. A missing
//!   value, an array or a map is an error (`| json` writes those).
//! - `{{ name | shell }}`, `| json`, `| xml`: escaped for a POSIX shell
//!   (single-quoted), as a JSON value, or for XML text and attributes.
//! - `{{ "text" }}`: the text itself (`{{ "{{" }}` writes two braces; `}}`
//!   outside a tag is plain text).
//! - `{{#for x in list}}…{{/for}}`: the body for each item of an array, or
//!   each `#{ key, value }` of a map in key order.
//! - `{{#if name}}…{{#else}}…{{/if}}`, `{{#if !name}}`: false are a missing
//!   value, `()`, `false`, `0`, `""` and an empty array or map.
//! - `{{-` and `-}}` drop the whitespace (newlines included) before or
//!   after the tag.
//!
//! Bounded: the output by the string limit, nesting by [`MAX_DEPTH`], and
//! the work by [`MAX_STEPS`] values and blocks expanded.

use rhai::{Dynamic, Map};
use thiserror::Error;

use super::bounded::MAX_DEPTH;
use super::ctx::{Res, fail};
use super::engine::MAX_STRING;

/// Values and blocks one `render` expands at most.
pub(super) const MAX_STEPS: usize = 10_000_000;

enum Node {
    Text(String),
    Value { line: usize, expr: Expr, filter: Filter },
    For { line: usize, var: String, list: Expr, body: Vec<Node> },
    If { not: bool, cond: Expr, then: Vec<Node>, otherwise: Vec<Node> },
}

enum Expr {
    Path(Vec<String>),
    Literal(String),
}

#[derive(Clone, Copy)]
enum Filter {
    None,
    Shell,
    Json,
    Xml,
}

/// A closing tag (`/for`, `/if`, `#else`) and its line.
type End = (String, usize);

/// What is wrong with a template or with the values it is given. Every
/// message but the limits' names the template's line.
#[derive(Debug, Error)]
pub(super) enum TemplateError {
    #[error("line {0}: `{{{{` is not closed by `}}}}`")]
    TagNotClosed(usize),
    #[error("line {0}: write `#for NAME in LIST`")]
    ForSyntax(usize),
    #[error("line {line}: `{text}` is not a name{hint}")]
    NotAName { line: usize, text: String, hint: &'static str },
    #[error("line {line}: `{{{{{tag}}}}}` closes no block")]
    ClosesNothing { line: usize, tag: String },
    #[error("line {at}: `{{{{{tag}}}}}` where the block of line {line} wants `{{{{{want}}}}}`")]
    Mismatch { at: usize, tag: String, line: usize, want: &'static str },
    #[error("line {line}: the block is not closed by `{{{{{want}}}}}`")]
    BlockNotClosed { line: usize, want: &'static str },
    #[error("line {line}: unknown block `{tag}` (#for, #if, #else, /for, /if)")]
    UnknownBlock { line: usize, tag: String },
    #[error("line {line}: unknown filter `{name}` (shell, json, xml)")]
    UnknownFilter { line: usize, name: String },
    #[error("blocks nest deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("line {line}: {name} is not given")]
    NotGiven { line: usize, name: String },
    #[error("line {line}: {name} {why}")]
    NotText { line: usize, name: String, why: NotText },
    #[error("line {line}: {name} is not an array or map")]
    NotAList { line: usize, name: String },
    #[error("more than {MAX_STEPS} values and blocks expanded")]
    TooManySteps,
    #[error("the result is over the string limit ({MAX_STRING} bytes)")]
    TooLong,
}

/// Why a value cannot be written as text.
#[derive(Debug, Error)]
pub(super) enum NotText {
    #[error("is nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("is not data: {0}")]
    NotData(String),
    #[error("is an array or map: write it with `| json` or a #for block")]
    Nested,
}

/// A tag: its text between the braces and the line it starts on.
struct Tag<'a> {
    text: &'a str,
    line: usize,
}

/// Splits `template` into texts and tags, trimming around `{{-`/`-}}`.
fn tokens(template: &str) -> Result<Vec<Result<String, Tag<'_>>>, TemplateError> {
    let mut out: Vec<Result<String, Tag<'_>>> = Vec::new();
    let mut rest = template;
    let mut line = 1;
    let mut trim_next = false;
    while let Some(open) = rest.find("{{") {
        let mut text = &rest[..open];
        if trim_next {
            text = text.trim_start();
        }
        let after = &rest[open + 2..];
        let (trim_before, after) = match after.strip_prefix('-') {
            Some(a) => (true, a),
            None => (false, after),
        };
        if trim_before {
            text = text.trim_end();
        }
        line += rest[..open].matches('\n').count();
        out.push(Ok(text.to_owned()));
        let close = after.find("}}").ok_or(TemplateError::TagNotClosed(line))?;
        let (mut inner, next) = (&after[..close], &after[close + 2..]);
        trim_next = inner.ends_with('-');
        if trim_next {
            inner = &inner[..inner.len() - 1];
        }
        out.push(Err(Tag { text: inner.trim(), line }));
        line += inner.matches('\n').count();
        rest = next;
    }
    out.push(Ok(if trim_next { rest.trim_start() } else { rest }.to_owned()));
    Ok(out)
}

fn parse(template: &str) -> Result<Vec<Node>, TemplateError> {
    let tokens = tokens(template)?;
    let mut iter = tokens.into_iter();
    let (nodes, end) = parse_block(&mut iter, 0)?;
    match end {
        None => Ok(nodes),
        Some((tag, line)) => Err(TemplateError::ClosesNothing { line, tag }),
    }
}

type Tokens<'a> = std::vec::IntoIter<Result<String, Tag<'a>>>;

/// Nodes up to the end or a closing tag (`/for`, `/if`, `#else`), which is
/// returned with its line.
fn parse_block(tokens: &mut Tokens<'_>, depth: usize) -> Result<(Vec<Node>, Option<End>), TemplateError> {
    if depth > MAX_DEPTH {
        return Err(TemplateError::TooDeep);
    }
    let mut nodes = Vec::new();
    while let Some(token) = tokens.next() {
        let tag = match token {
            Ok(text) if text.is_empty() => continue,
            Ok(text) => {
                nodes.push(Node::Text(text));
                continue;
            }
            Err(tag) => tag,
        };
        let line = tag.line;
        if let Some(head) = tag.text.strip_prefix("#for ") {
            let (var, list) = head.split_once(" in ").ok_or(TemplateError::ForSyntax(line))?;
            let var = var.trim();
            if var.is_empty() || !var.chars().all(|c| c.is_alphanumeric() || c == '_') {
                return Err(TemplateError::NotAName { line, text: var.to_owned(), hint: "" });
            }
            let list = expr(list.trim(), line)?;
            let (body, end) = parse_block(tokens, depth + 1)?;
            expect_end(end, "/for", line)?;
            nodes.push(Node::For { line, var: var.to_owned(), list, body });
        } else if let Some(cond) = tag.text.strip_prefix("#if ") {
            let cond = cond.trim();
            let (not, cond) = match cond.strip_prefix('!') {
                Some(c) => (true, c.trim()),
                None => (false, cond),
            };
            let cond = expr(cond, line)?;
            let (then, end) = parse_block(tokens, depth + 1)?;
            let otherwise = if end.as_ref().is_some_and(|(t, _)| t == "#else") {
                let (otherwise, end) = parse_block(tokens, depth + 1)?;
                expect_end(end, "/if", line)?;
                otherwise
            } else {
                expect_end(end, "/if", line)?;
                Vec::new()
            };
            nodes.push(Node::If { not, cond, then, otherwise });
        } else if matches!(tag.text, "/for" | "/if" | "#else") {
            return Ok((nodes, Some((tag.text.to_owned(), line))));
        } else if tag.text.starts_with(['#', '/']) {
            return Err(TemplateError::UnknownBlock { line, tag: tag.text.to_owned() });
        } else {
            let (value, filter) = match tag.text.split_once('|') {
                Some((value, filter)) => (value.trim(), self::filter(filter.trim(), line)?),
                None => (tag.text, Filter::None),
            };
            nodes.push(Node::Value { line, expr: expr(value, line)?, filter });
        }
    }
    Ok((nodes, None))
}

fn expect_end(end: Option<End>, want: &'static str, line: usize) -> Result<(), TemplateError> {
    match end {
        Some((tag, _)) if tag == want => Ok(()),
        Some((tag, at)) => Err(TemplateError::Mismatch { at, tag, line, want }),
        None => Err(TemplateError::BlockNotClosed { line, want }),
    }
}

fn filter(name: &str, line: usize) -> Result<Filter, TemplateError> {
    match name {
        "shell" => Ok(Filter::Shell),
        "json" => Ok(Filter::Json),
        "xml" => Ok(Filter::Xml),
        other => Err(TemplateError::UnknownFilter { line, name: other.to_owned() }),
    }
}

fn expr(text: &str, line: usize) -> Result<Expr, TemplateError> {
    if let Some(literal) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        return Ok(Expr::Literal(literal.to_owned()));
    }
    let parts: Vec<String> = text.split('.').map(str::to_owned).collect();
    if parts.iter().any(|p| p.is_empty() || !p.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-')) {
        return Err(TemplateError::NotAName { line, text: text.to_owned(), hint: " (NAME or NAME.KEY)" });
    }
    Ok(Expr::Path(parts))
}

struct Render<'a> {
    vars: &'a Map,
    scopes: Vec<(String, Dynamic)>,
    out: String,
    steps: usize,
}

impl Render<'_> {
    /// The value of `expr`, `None` when missing.
    fn value(&self, expr: &Expr) -> Option<Dynamic> {
        let path = match expr {
            Expr::Literal(text) => return Some(text.clone().into()),
            Expr::Path(path) => path,
        };
        let first = &path[0];
        let mut value = match self.scopes.iter().rev().find(|(name, _)| name == first) {
            Some((_, v)) => v.clone(),
            None => self.vars.get(first.as_str())?.clone(),
        };
        for key in &path[1..] {
            let next = value.read_lock::<Map>()?.get(key.as_str())?.clone();
            value = next;
        }
        (!value.is_unit()).then_some(value)
    }

    fn step(&mut self) -> Result<(), TemplateError> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(TemplateError::TooManySteps);
        }
        if self.out.len() > MAX_STRING {
            return Err(TemplateError::TooLong);
        }
        Ok(())
    }

    fn nodes(&mut self, nodes: &[Node]) -> Result<(), TemplateError> {
        for node in nodes {
            self.step()?;
            match node {
                Node::Text(text) => self.out.push_str(text),
                Node::Value { line, expr, filter } => {
                    let value =
                        self.value(expr).ok_or_else(|| TemplateError::NotGiven { line: *line, name: shown(expr) })?;
                    let text = text(&value, *filter).map_err(|why| TemplateError::NotText {
                        line: *line,
                        name: shown(expr),
                        why,
                    })?;
                    self.out.push_str(&text);
                }
                Node::For { line, var, list, body } => {
                    let value =
                        self.value(list).ok_or_else(|| TemplateError::NotGiven { line: *line, name: shown(list) })?;
                    let items: Vec<Dynamic> = if let Some(array) = value.read_lock::<rhai::Array>() {
                        array.clone()
                    } else if let Some(map) = value.read_lock::<Map>() {
                        map.iter()
                            .map(|(k, v)| {
                                Dynamic::from_map(Map::from([
                                    ("key".into(), k.to_string().into()),
                                    ("value".into(), v.clone()),
                                ]))
                            })
                            .collect()
                    } else {
                        return Err(TemplateError::NotAList { line: *line, name: shown(list) });
                    };
                    for item in items {
                        self.step()?;
                        self.scopes.push((var.clone(), item));
                        let done = self.nodes(body);
                        self.scopes.pop();
                        done?;
                    }
                }
                Node::If { not, cond, then, otherwise, .. } => {
                    let truthy = self.value(cond).is_some_and(|v| truthy(&v));
                    self.nodes(if truthy != *not { then } else { otherwise })?;
                }
            }
        }
        Ok(())
    }
}

fn shown(expr: &Expr) -> String {
    match expr {
        Expr::Literal(text) => format!("\"{text}\""),
        Expr::Path(path) => format!("`{}`", path.join(".")),
    }
}

fn truthy(value: &Dynamic) -> bool {
    if let Ok(b) = value.as_bool() {
        return b;
    }
    if let Ok(n) = value.as_int() {
        return n != 0;
    }
    if let Some(s) = value.read_lock::<rhai::ImmutableString>() {
        return !s.is_empty();
    }
    if let Some(a) = value.read_lock::<rhai::Array>() {
        return !a.is_empty();
    }
    if let Some(m) = value.read_lock::<Map>() {
        return !m.is_empty();
    }
    true
}

/// `value` as text through `filter`.
fn text(value: &Dynamic, filter: Filter) -> Result<String, NotText> {
    if let Filter::Json = filter {
        if super::bounded::deeper_than(value, MAX_DEPTH) {
            return Err(NotText::TooDeep);
        }
        let json: serde_json::Value = rhai::serde::from_dynamic(value).map_err(|e| NotText::NotData(e.to_string()))?;
        return Ok(json.to_string());
    }
    if value.is_array() || value.is_map() {
        return Err(NotText::Nested);
    }
    let plain = value.to_string();
    Ok(match filter {
        Filter::Shell => format!("'{}'", plain.replace('\'', r"'\''")),
        Filter::Xml => plain
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&apos;"),
        Filter::None | Filter::Json => plain,
    })
}

/// `render(template, vars)` for scripts.
pub(super) fn render(template: &str, vars: Map) -> Res<String> {
    let nodes = parse(template).map_err(|e| fail(format!("render: {e}")))?;
    let mut render = Render { vars: &vars, scopes: Vec::new(), out: String::new(), steps: 0 };
    render.nodes(&nodes).map_err(|e| fail(format!("render: {e}")))?;
    render.step().map_err(|e| fail(format!("render: {e}")))?;
    Ok(render.out)
}

#[cfg(test)]
#[path = "template_tests.rs"]
mod tests;
