//! `ls` (the merged file system, or one layer's own changes) and `diff`
//! (what changed between two images' merged file systems, and which
//! layers differ).

use std::collections::BTreeSet;

use serde::Serialize;

use super::error::layer_err;
use super::{InspectError, Opened};
use crate::oci::layerfs::{self, Change, Entry, Kind, Merged};
use crate::store::Store;

#[derive(Debug, Serialize)]
pub(crate) struct FileRow {
    /// Absolute, as in the image.
    pub path: String,
    /// `file`, `dir`, `symlink`, `hardlink`, `device`, `fifo` or `whiteout` / `opaque`.
    pub kind: &'static str,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    /// A symlink's or hard link's target.
    pub link: Option<String>,
    /// Index (from 0, the bottom layer) of the layer it comes from.
    pub layer: usize,
}

fn kind_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::File => "file",
        Kind::Dir => "dir",
        Kind::Symlink(_) => "symlink",
        Kind::Hardlink(_) => "hardlink",
        Kind::Device => "device",
        Kind::Fifo => "fifo",
    }
}

/// The mode a user sees: a symlink's is always 0777 (what the kernel and
/// umoci show), whatever its tar header says.
fn shown_mode(entry: &Entry) -> u32 {
    if matches!(entry.kind, Kind::Symlink(_)) { 0o777 } else { entry.mode }
}

fn row(entry: &Entry, layer: usize) -> FileRow {
    let link = match &entry.kind {
        Kind::Symlink(target) => Some(target.clone()),
        Kind::Hardlink(target) => Some(format!("/{target}")),
        _ => None,
    };
    FileRow {
        path: format!("/{}", entry.path),
        kind: kind_name(&entry.kind),
        mode: shown_mode(entry),
        uid: entry.uid,
        gid: entry.gid,
        size: entry.size,
        link,
        layer,
    }
}

fn changes(opened: &Opened, store: &Store, index: usize, hash: bool) -> Result<Vec<Change>, InspectError> {
    let layer = &opened.image().layers[index];
    layerfs::read_layer(&store.blob_path(&layer.digest), layer.media_type, hash, Some(&layer.diff_id))
        .map_err(layer_err(&layer.digest))
}

/// The merged file system of the chosen image.
pub(crate) fn merged(opened: &Opened, store: &Store, hash: bool) -> Result<Merged, InspectError> {
    let mut merged = Merged::default();
    for index in 0..opened.image().layers.len() {
        merged.apply(index, changes(opened, store, index, hash)?);
    }
    Ok(merged)
}

/// The entries at and below `path` of the merged file system, or of layer
/// `layer` alone (with its whiteouts), sorted by path.
pub(crate) fn list(
    opened: &Opened,
    store: &Store,
    path: &str,
    layer: Option<usize>,
) -> Result<Vec<FileRow>, InspectError> {
    let dir = layerfs::normalise(path);
    let wanted = |p: &str| p == dir || layerfs::inside(p, &dir);
    if let Some(index) = layer {
        let count = opened.image().layers.len();
        if index >= count {
            return Err(InspectError::NoSuchLayer { index, count });
        }
        let mut rows: Vec<FileRow> = changes(opened, store, index, false)?
            .into_iter()
            .filter_map(|change| match change {
                Change::Add(entry) => wanted(&entry.path).then(|| row(&entry, index)),
                Change::Whiteout(hidden) => wanted(&hidden).then(|| marker(&hidden, "whiteout", index)),
                Change::Opaque(opaque) => wanted(&opaque).then(|| marker(&opaque, "opaque", index)),
            })
            .collect();
        rows.sort_by(|a, b| a.path.cmp(&b.path));
        return Ok(rows);
    }
    let merged = merged(opened, store, false)?;
    if !dir.is_empty() && !merged.entries.contains_key(&dir) {
        return Err(InspectError::NoSuchPath { path: dir, reference: opened.reference.clone() });
    }
    Ok(merged.entries.values().filter(|(e, _)| wanted(&e.path)).map(|(e, layer)| row(e, *layer)).collect())
}

fn marker(path: &str, kind: &'static str, layer: usize) -> FileRow {
    FileRow { path: format!("/{path}"), kind, mode: 0, uid: 0, gid: 0, size: 0, link: None, layer }
}

#[derive(Debug, Serialize)]
pub(crate) struct Changed {
    pub path: String,
    /// What differs: `kind`, `content`, `mode`, `owner`, `link`.
    pub what: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Difference {
    /// Config fields that differ (`Env`, `Entrypoint`, `Labels`, …, and the
    /// platform's `architecture`, `os`, `variant`).
    pub config: Vec<ConfigChange>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<Changed>,
    /// Layers (by digest) of only the first image, and of only the second.
    pub layers_only_in_first: Vec<String>,
    pub layers_only_in_second: Vec<String>,
}

/// One config field of two images: its value in each (JSON; null when
/// unset).
#[derive(Debug, Serialize)]
pub(crate) struct ConfigChange {
    pub field: String,
    pub first: serde_json::Value,
    pub second: serde_json::Value,
}

impl Difference {
    /// Whether the two images differ at all.
    pub(crate) fn differs(&self) -> bool {
        !(self.config.is_empty()
            && self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.layers_only_in_first.is_empty()
            && self.layers_only_in_second.is_empty())
    }
}

/// The fields of the two configs' `config` object, and the platform
/// fields, whose values differ, by name.
fn config_changes(a: &Opened, b: &Opened) -> Vec<ConfigChange> {
    let fields = |o: &Opened| -> serde_json::Map<String, serde_json::Value> {
        let value = serde_json::to_value(&o.image().config_json).unwrap_or_default();
        let mut fields = value.get("config").and_then(|c| c.as_object()).cloned().unwrap_or_default();
        for platform in ["architecture", "os", "variant"] {
            if let Some(v) = value.get(platform) {
                fields.insert(platform.to_owned(), v.clone());
            }
        }
        fields.retain(|_, v| !v.is_null());
        fields
    };
    let (first, second) = (fields(a), fields(b));
    let names: BTreeSet<&String> = first.keys().chain(second.keys()).collect();
    names
        .into_iter()
        .filter(|name| first.get(*name) != second.get(*name))
        .map(|name| ConfigChange {
            field: name.clone(),
            first: first.get(name).cloned().unwrap_or_default(),
            second: second.get(name).cloned().unwrap_or_default(),
        })
        .collect()
}

pub(crate) fn diff(a: &Opened, b: &Opened, store: &Store) -> Result<Difference, InspectError> {
    let (left, right) = (merged(a, store, true)?, merged(b, store, true)?);
    let mut difference = Difference {
        config: config_changes(a, b),
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
        layers_only_in_first: Vec::new(),
        layers_only_in_second: Vec::new(),
    };
    let content = |merged: &Merged, e: &Entry| merged.resolve(&e.path).and_then(|(f, _)| f.content);
    for (path, (old, _)) in &left.entries {
        match right.entries.get(path) {
            None => difference.removed.push(format!("/{path}")),
            Some((new, _)) => {
                let mut what = Vec::new();
                let link = |k: &Kind| match k {
                    Kind::Symlink(t) | Kind::Hardlink(t) => Some(t.clone()),
                    _ => None,
                };
                if kind_name(&old.kind) != kind_name(&new.kind) {
                    what.push("kind");
                } else if link(&old.kind) != link(&new.kind) {
                    what.push("link");
                }
                if old.kind == Kind::File && new.kind == Kind::File && content(&left, old) != content(&right, new) {
                    what.push("content");
                }
                if shown_mode(old) != shown_mode(new) {
                    what.push("mode");
                }
                if (old.uid, old.gid) != (new.uid, new.gid) {
                    what.push("owner");
                }
                if !what.is_empty() {
                    difference.changed.push(Changed { path: format!("/{path}"), what });
                }
            }
        }
    }
    difference.added =
        right.entries.keys().filter(|p| !left.entries.contains_key(*p)).map(|p| format!("/{p}")).collect();
    let digests = |o: &Opened| o.image().layers.iter().map(|l| l.digest.to_string()).collect::<BTreeSet<_>>();
    let (first, second) = (digests(a), digests(b));
    difference.layers_only_in_first =
        a.image().layers.iter().map(|l| l.digest.to_string()).filter(|d| !second.contains(d)).collect();
    difference.layers_only_in_second =
        b.image().layers.iter().map(|l| l.digest.to_string()).filter(|d| !first.contains(d)).collect();
    Ok(difference)
}
