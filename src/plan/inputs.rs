//! Content digests of a layer's host files: taken from the layer's input
//! index when a file's stat fingerprint is unchanged, read (in parallel)
//! otherwise. The index is saved with what was learned.

use std::fs::File;
use std::io;

use rayon::prelude::*;

use super::tree::{FileSource, NodeKind, Tree};
use crate::digest::Digest;
use crate::recipe::{ImagePath, LocatedError, Platform, Recipe};
use crate::store::Store;
use crate::store::fingerprint::{Fingerprint, InputIndex};

/// Fills in `content` of every host file of `tree`.
pub fn digest_inputs(
    tree: &mut Tree,
    recipe: &Recipe,
    layer: &str,
    platform: &Platform,
    store: &Store,
) -> Result<(), LocatedError> {
    let id = Digest::of(format!("{}\0{layer}\0{platform}", recipe.path.display()).as_bytes());
    let mut index = InputIndex::load(store, &id);
    let mut unknown: Vec<(ImagePath, std::path::PathBuf, Fingerprint)> = Vec::new();
    for (path, node) in tree.iter_mut() {
        if let NodeKind::File(FileSource::Host { path: host, fingerprint, content, .. }) = &mut node.kind {
            match index.lookup(host, fingerprint) {
                Some(digest) => *content = Some(digest.clone()),
                None => unknown.push((path.clone(), host.clone(), *fingerprint)),
            }
        }
    }
    let hashed: Vec<(ImagePath, Result<Digest, io::Error>)> =
        unknown.par_iter().map(|(path, host, fingerprint)| (path.clone(), hash_file(host, fingerprint))).collect();
    for ((path, result), (_, host, fingerprint)) in hashed.into_iter().zip(unknown) {
        let Some(node) = tree.get_mut(&path) else { continue };
        let digest =
            result.map_err(|e| node.loc.error(format!("cannot read {}: {e}", host.display()), "copied here"))?;
        if let NodeKind::File(FileSource::Host { content, .. }) = &mut node.kind {
            *content = Some(digest.clone());
        }
        index.record(host, fingerprint, digest);
    }
    let inputs: std::collections::BTreeSet<std::path::PathBuf> = tree
        .iter()
        .filter_map(|(_, n)| match &n.kind {
            NodeKind::File(FileSource::Host { path, .. }) => Some(path.clone()),
            _ => None,
        })
        .collect();
    index.retain(|p| inputs.contains(p));
    // The index only saves work; failing to write it never fails a build.
    let _ = index.save(store);
    Ok(())
}

/// The digest of a file's content, refused if the file changed while read.
fn hash_file(path: &std::path::Path, planned: &Fingerprint) -> Result<Digest, io::Error> {
    let mut file = File::open(path)?;
    let (digest, len) = Digest::of_reader(&mut file)?;
    let now = Fingerprint::of(&file.metadata()?);
    if len != planned.size || now.mtime != planned.mtime || now.ctime != planned.ctime {
        return Err(io::Error::other("the file changed while it was being read"));
    }
    Ok(digest)
}
