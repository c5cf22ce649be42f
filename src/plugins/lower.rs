//! The merged file system below a layer, as `ctx.read_lower`,
//! `ctx.exists_lower` and `ctx.list_lower` see it: the layers below (the
//! parent's, then the recipe's earlier ones) merged by
//! [`crate::oci::layerfs`]. Only metadata is kept; a read streams the
//! file's layer again up to its data.

use std::path::PathBuf;

use crate::oci::layerfs::{self, Kind, Merged};

const MAX_READ: u64 = super::engine::MAX_STRING as u64;

/// A layer blob: its file and media type.
pub struct LowerLayer {
    pub path: PathBuf,
    pub media_type: &'static str,
}

pub struct LowerFs {
    layers: Vec<LowerLayer>,
    merged: Merged,
}

impl LowerFs {
    pub fn open(layers: Vec<LowerLayer>) -> Result<LowerFs, String> {
        let mut merged = Merged::default();
        for (index, layer) in layers.iter().enumerate() {
            let changes = layerfs::read_layer(&layer.path, layer.media_type, false)
                .map_err(|e| format!("cannot read lower layer {}: {e}", layer.path.display()))?;
            merged.apply(index, changes);
        }
        Ok(LowerFs { layers, merged })
    }

    pub fn exists(&self, path: &str) -> bool {
        let path = layerfs::normalise(path);
        path.is_empty() || self.merged.entries.contains_key(&path)
    }

    /// The names directly inside `dir`, sorted.
    pub fn list(&self, dir: &str) -> Result<Vec<String>, String> {
        let key = layerfs::normalise(dir);
        if !key.is_empty() && !matches!(self.merged.entries.get(&key), Some((e, _)) if e.kind == Kind::Dir) {
            return Err(format!("/{key} is not a directory in the layers below"));
        }
        Ok(self.merged.children(&key))
    }

    /// The content of the regular file (or hard link to one) at `path`.
    pub fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        let key = layerfs::normalise(path);
        let Some((entry, layer)) = self.merged.resolve(&key) else {
            return Err(format!("/{key} does not exist in the layers below"));
        };
        if entry.kind != Kind::File {
            return Err(format!("/{key} is not a regular file in the layers below"));
        }
        if entry.size > MAX_READ {
            return Err(format!("/{key} is {} bytes, over the {MAX_READ}-byte limit of read_lower", entry.size));
        }
        let layer = &self.layers[*layer];
        layerfs::read_content(&layer.path, layer.media_type, entry.offset, entry.size)
            .map_err(|e| format!("cannot read /{key} from {}: {e}", layer.path.display()))
    }
}
