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
    match (quiet, std::io::stderr().is_terminal()) {
        (true, _) => Box::new(crate::layer::progress::Silent),
        (false, false) => Box::new(Lines { verbose }),
        (false, true) => Box::new(Bars::new(verbose)),
    }
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(19)]
}

fn line(node: &Finished, verbose: bool) -> String {
    match node {
        Finished::Layer { recipe, layer, digest, size, key, reused } => {
            let verb = if *reused { "reused" } else { "built" };
            let key = if verbose { format!(" key {}", short(key)) } else { String::new() };
            format!("{verb} layer {layer} of {recipe}: {} {}{key}", short(digest), human_bytes(*size))
        }
        Finished::Parent { recipe, reference, digest } => {
            format!("fetched parent {reference} of {recipe}: {}", short(digest))
        }
        Finished::Image { recipe, platform, digest } => format!("assembled {recipe} ({platform}): {}", short(digest)),
        Finished::Output { reference } => format!("wrote {reference}"),
    }
}

struct Lines {
    verbose: bool,
}

impl Progress for Lines {
    fn finished(&self, node: Finished) {
        eprintln!("{}", line(&node, self.verbose));
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
}

impl Bars {
    fn new(verbose: bool) -> Bars {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let overall = multi.add(ProgressBar::new(0));
        overall.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {pos}/{len} build steps {wide_bar}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        overall.enable_steady_tick(std::time::Duration::from_millis(120));
        Bars { multi, overall, layers: Mutex::new(BTreeMap::new()), verbose }
    }
}

impl Progress for Bars {
    fn planned(&self, nodes: usize) {
        self.overall.set_length(nodes as u64);
    }

    fn layer_started(&self, id: &str, files: u64, bytes: u64) {
        let bar = self.multi.insert_before(&self.overall, ProgressBar::new(bytes));
        bar.set_style(
            ProgressStyle::with_template(
                "  {prefix:40!} {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
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
        if let Finished::Layer { recipe, layer, .. } = &node {
            let mut layers = self.layers.lock().unwrap_or_else(|p| p.into_inner());
            let prefix = format!("{recipe} {layer} (");
            let ids: Vec<String> = layers.keys().filter(|id| id.starts_with(&prefix)).cloned().collect();
            for id in ids {
                if let Some(layer) = layers.remove(&id) {
                    layer.bar.finish_and_clear();
                    self.multi.remove(&layer.bar);
                }
            }
        }
        if self.verbose {
            let _ = self.multi.println(line(&node, true));
        }
    }
}

impl Drop for Bars {
    fn drop(&mut self) {
        self.overall.finish_and_clear();
    }
}
