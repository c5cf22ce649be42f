//! Build progress on stderr: on a terminal, a bar per layer being written
//! (bytes, rate, files) under an overall line, via indicatif; otherwise one
//! plain line per finished node. `--quiet` shows nothing, `--verbose` adds
//! cache keys and prints the lines on a terminal too.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::human::human_bytes;
use crate::layer::progress::{Finished, Progress};

pub(super) fn reporter(quiet: bool, verbose: bool) -> Box<dyn Progress> {
    // Bars need room: on a terminal narrower than this (or one that gives
    // no size, 0×0), plain lines, each cut to the width when it is known.
    const NARROWEST: usize = 40;
    let width = if std::io::stderr().is_terminal() { terminal_width() } else { None };
    match (quiet, width) {
        (true, _) => Box::new(crate::layer::progress::Silent),
        (false, Some(width)) if width >= NARROWEST => Box::new(Bars::new(verbose, width)),
        (false, width) => Box::new(Lines { verbose, width: width.filter(|w| *w > 0) }),
    }
}

/// The width of the terminal on stderr, in columns; `Some(0)` when it
/// reports none (a 0×0 terminal), `None` when it cannot be asked.
fn terminal_width() -> Option<usize> {
    let mut size = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one winsize into `size`, which outlives the call.
    let result = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut size) };
    (result == 0).then_some(usize::from(size.ws_col))
}

/// `text` cut to `width` characters (with `…` when cut); as it is for none.
fn fit(text: String, width: Option<usize>) -> String {
    match width {
        Some(width) if text.chars().count() > width => {
            let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
            cut.push('…');
            cut
        }
        _ => text,
    }
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(19)]
}

fn line(node: &Finished, verbose: bool) -> String {
    match node {
        Finished::Layer { recipe, platform, layer, digest, size, key, reused, .. } => {
            let verb = if *reused { "reused" } else { "built" };
            let key = if verbose { format!(" key {}", short(key)) } else { String::new() };
            format!("{verb} layer {layer} of {recipe} ({platform}): {} {}{key}", short(digest), human_bytes(*size))
        }
        // Read from where the lock file pins it; its blobs are downloaded
        // only when the store lacks them, so "fetched" would mislead.
        Finished::Parent { recipe, platform, reference, digest } => {
            format!("parent {reference} of {recipe} ({platform}): {}", short(digest))
        }
        Finished::Image { recipe, platform, digest } => format!("assembled {recipe} ({platform}): {}", short(digest)),
        Finished::Output { reference } => format!("wrote {reference}"),
    }
}

struct Lines {
    verbose: bool,
    /// The terminal's width, when known: each line is cut to it.
    width: Option<usize>,
}

impl Progress for Lines {
    fn finished(&self, node: Finished) {
        eprintln!("{}", fit(line(&node, self.verbose), self.width));
    }
}

struct LayerBar {
    bar: ProgressBar,
    files: u64,
    done: AtomicU64,
}

struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    layers: Mutex<BTreeMap<String, LayerBar>>,
    verbose: bool,
    /// The terminal's width: no line is longer (a longer one wraps, and the
    /// bars below it are then drawn over each other).
    width: usize,
}

impl Bars {
    fn new(verbose: bool, width: usize) -> Bars {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let overall = multi.add(ProgressBar::new(0));
        // 38 columns of text, the bar takes what is left.
        overall.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {pos:>3}/{len:3} build steps {wide_bar}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        overall.enable_steady_tick(std::time::Duration::from_millis(120));
        Bars { multi, overall, layers: Mutex::new(BTreeMap::new()), verbose, width }
    }
}

impl Progress for Bars {
    fn planned(&self, nodes: usize) {
        self.overall.set_length(nodes as u64);
    }

    fn layer_started(&self, id: &str, files: u64, bytes: u64) {
        let bar = self.multi.insert_before(&self.overall, ProgressBar::new(bytes));
        // The counters take 2 + 22 + 13 + 16 columns; the name what is
        // left (at least 10), cut with `!`; on a narrow terminal, the name
        // and bytes only.
        let template = match self.width.checked_sub(2 + 22 + 13 + 16 + 1) {
            Some(name) if name >= 10 => {
                format!(
                    "  {{prefix:{name}!}} {{bytes:>10}}/{{total_bytes:<10}} {{binary_bytes_per_sec:>12}} {{msg:15!}}"
                )
            }
            _ => format!("  {{prefix:{}!}} {{bytes:>10}}/{{total_bytes:<10}}", self.width.saturating_sub(2 + 22 + 1)),
        };
        bar.set_style(ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar()));
        bar.set_prefix(id.to_owned());
        bar.set_message(format!("0/{files} files"));
        self.layers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_owned(), LayerBar { bar, files, done: AtomicU64::new(0) });
    }

    fn layer_advanced(&self, id: &str, bytes: u64) {
        let layers = self.layers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(layer) = layers.get(id) {
            layer.bar.inc(bytes);
            let done = layer.done.fetch_add(1, Ordering::Relaxed) + 1;
            if done % 64 == 0 || done == layer.files {
                layer.bar.set_message(format!("{done}/{} files", layer.files));
            }
        }
    }

    fn finished(&self, node: Finished) {
        if !matches!(node, Finished::Output { .. }) {
            self.overall.inc(1);
        }
        if let Finished::Layer { id, .. } = &node {
            let mut layers = self.layers.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(layer) = layers.remove(id) {
                layer.bar.finish_and_clear();
                self.multi.remove(&layer.bar);
            }
        }
        if self.verbose {
            let _ = self.multi.println(fit(line(&node, true), Some(self.width)));
        }
    }
}

impl Drop for Bars {
    /// The overall count stays, as a line: every step done, or how far a
    /// failed build got.
    fn drop(&mut self) {
        let (done, total) = (self.overall.position(), self.overall.length().unwrap_or(0));
        let _ = self.multi.println(fit(format!("{done}/{total} build steps"), Some(self.width)));
        self.overall.finish_and_clear();
    }
}
