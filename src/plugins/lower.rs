//! The merged file system below a layer, as `ctx.read_lower`,
//! `ctx.exists_lower` and `ctx.list_lower` see it: the layers below (the
//! parent's, then the recipe's earlier ones) merged by
//! [`crate::oci::layerfs`]. Only metadata is kept; a read streams the
//! file's layer again up to its data.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

use crate::digest::Digest;
use crate::oci::layerfs::{self, Kind, Merged};

const MAX_READ: u64 = super::engine::MAX_STRING as u64;

/// What a plugin cannot have from the layers below. The cause is part of
/// the message (a script sees one line).
#[derive(Debug, Error)]
pub(crate) enum LowerError {
    #[error("cannot read lower layer {}: {error}", layer.display())]
    Layer { layer: PathBuf, error: io::Error },
    #[error("/{0} is not a directory in the layers below")]
    NotADirectory(String),
    #[error("/{0} does not exist in the layers below")]
    Missing(String),
    #[error("/{0} is not a regular file in the layers below")]
    NotAFile(String),
    #[error("/{path} is {size} bytes, over the {MAX_READ}-byte limit of read_lower", MAX_READ = MAX_READ)]
    TooLarge { path: String, size: u64 },
    #[error("cannot read /{path} from {}: {error}", layer.display())]
    Read { path: String, layer: PathBuf, error: io::Error },
}

/// A layer blob: its file and media type.
pub(crate) struct LowerLayer {
    pub path: PathBuf,
    pub media_type: &'static str,
    /// What the image's config says the uncompressed layer hashes to.
    pub diff_id: Digest,
}

pub(crate) struct LowerFs {
    layers: Vec<LowerLayer>,
    merged: Merged,
}

impl LowerFs {
    pub(crate) fn open(layers: Vec<LowerLayer>) -> Result<LowerFs, LowerError> {
        let mut merged = Merged::default();
        for (index, layer) in layers.iter().enumerate() {
            let changes = layerfs::read_layer(&layer.path, layer.media_type, false, Some(&layer.diff_id))
                .map_err(|error| LowerError::Layer { layer: layer.path.clone(), error })?;
            merged.apply(index, changes);
        }
        Ok(LowerFs { layers, merged })
    }

    pub(crate) fn exists(&self, path: &str) -> bool {
        let path = layerfs::normalise(path);
        path.is_empty() || self.merged.entries.contains_key(&path)
    }

    /// The names directly inside `dir`, sorted.
    pub(crate) fn list(&self, dir: &str) -> Result<Vec<String>, LowerError> {
        let key = layerfs::normalise(dir);
        if !key.is_empty() && !matches!(self.merged.entries.get(&key), Some((e, _)) if e.kind == Kind::Dir) {
            return Err(LowerError::NotADirectory(key));
        }
        Ok(self.merged.children(&key))
    }

    /// The content of the regular file (or hard link to one) at `path`.
    pub(crate) fn read(&self, path: &str) -> Result<Vec<u8>, LowerError> {
        let key = layerfs::normalise(path);
        let Some((entry, layer)) = self.merged.resolve(&key) else {
            return Err(LowerError::Missing(key));
        };
        if entry.kind != Kind::File {
            return Err(LowerError::NotAFile(key));
        }
        if entry.size > MAX_READ {
            return Err(LowerError::TooLarge { path: key, size: entry.size });
        }
        let layer = &self.layers[*layer];
        layerfs::read_content(&layer.path, layer.media_type, entry.offset, entry.size)
            .map_err(|error| LowerError::Read { path: key, layer: layer.path.clone(), error })
    }
}
