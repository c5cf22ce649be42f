//! Content digests of a layer's host files: taken from the layer's input
//! index when a file's stat fingerprint is unchanged, read (in parallel)
//! otherwise. The index is saved with what was learned.

use std::fs::File;
use std::io;

use rayon::prelude::*;

use super::tree::{FileSource, NodeKind, Tree};
use crate::digest::{ContentHash, Digest};
use crate::oci::platform::Platform;
use crate::recipe::{ImagePath, LocatedError, Recipe};
use crate::store::Store;
use crate::store::fingerprint::{Fingerprint, InputIndex};

fn index_id(recipe: &Recipe, layer: &str, platform: &Platform) -> Digest {
    Digest::of(format!("{}\0{layer}\0{platform}", recipe.path.display()).as_bytes())
}

/// Fills in `content` of every host file of `tree` that the index knows,
/// and hashes the others, unless `defer` and they are most of the layer's
/// bytes: then they stay unknown, for the layer writer to hash while it
/// reads them anyway (a cold build reads each input once).
pub(crate) fn digest_inputs(
    tree: &mut Tree,
    recipe: &Recipe,
    layer: &str,
    platform: &Platform,
    store: &Store,
    defer: bool,
) -> Result<(), LocatedError> {
    let index = InputIndex::load(store, &index_id(recipe, layer, platform));
    let (mut total, mut missing) = (0u64, 0u64);
    for (_, node) in tree.iter_mut() {
        if let NodeKind::File(FileSource::Host { path: host, fingerprint, content, .. }) = &mut node.kind {
            total += fingerprint.size;
            match index.lookup(host, fingerprint) {
                Some(digest) => *content = Some(*digest),
                None => missing += fingerprint.size,
            }
        }
    }
    if defer && missing > 0 && missing * 2 >= total {
        return Ok(());
    }
    // The files still unknown, by reference (a large tree is not copied),
    // hashed in parallel; the results come back in tree order.
    let hashed: Vec<Result<ContentHash, io::Error>> = {
        let unknown: Vec<(&std::path::Path, &Fingerprint)> = tree
            .iter()
            .filter_map(|(_, node)| match &node.kind {
                NodeKind::File(FileSource::Host { path, fingerprint, content: None, .. }) => {
                    Some((path.as_path(), fingerprint))
                }
                _ => None,
            })
            .collect();
        unknown.par_iter().map(|(host, fingerprint)| hash_file(host, fingerprint)).collect()
    };
    let mut results = hashed.into_iter();
    for (_, node) in tree.iter_mut() {
        if let NodeKind::File(FileSource::Host { path: host, content: content @ None, .. }) = &mut node.kind {
            let Some(result) = results.next() else { break };
            let digest =
                result.map_err(|e| node.loc.error(format!("cannot read {}: {e}", host.display()), "copied here"))?;
            *content = Some(digest);
        }
    }
    save(&index, tree, &|_| None, store);
    Ok(())
}

/// Records what the layer writer hashed (`hashed`, by image path, in the
/// tree's order) in the layer's input index.
pub(crate) fn record_hashed(
    tree: &Tree,
    hashed: &[(ImagePath, ContentHash)],
    recipe: &Recipe,
    layer: &str,
    platform: &Platform,
    store: &Store,
) {
    // The writer hashed only inputs the index did not know (planning
    // consulted it): the index changes, and is not read a second time.
    let index = InputIndex::unread(store, &index_id(recipe, layer, platform));
    let sorted = hashed.is_sorted_by(|a, b| a.0 < b.0);
    let found = |path: &ImagePath| {
        let at = if sorted {
            hashed.binary_search_by(|(p, _)| p.cmp(path)).ok()
        } else {
            hashed.iter().position(|(p, _)| p == path)
        };
        at.map(|i| &hashed[i].1)
    };
    save(&index, tree, &found, store);
}

/// Writes the index as the host files of `tree` with their content hash
/// (the tree's, else `hashed`'s); a file whose hash is unknown is left out.
fn save<'a>(
    index: &InputIndex,
    tree: &'a Tree,
    hashed: &(dyn Fn(&ImagePath) -> Option<&'a ContentHash> + 'a),
    store: &Store,
) {
    let inputs = || {
        tree.iter().filter_map(|(path, node)| match &node.kind {
            NodeKind::File(FileSource::Host { path: host, fingerprint, content, .. }) => {
                Some((host.as_path(), fingerprint, content.as_ref().or_else(|| hashed(path))?))
            }
            _ => None,
        })
    };
    // The index only saves work; failing to write it never fails a build.
    let _ = index.save_exactly(store, inputs);
}

/// The hash of a file's content, refused if the file changed while read.
fn hash_file(path: &std::path::Path, planned: &Fingerprint) -> Result<ContentHash, io::Error> {
    let mut file = File::open(path)?;
    let (digest, len) = ContentHash::of_reader(&mut file)?;
    let now = Fingerprint::of(&file.metadata()?);
    if len != planned.size || now.mtime != planned.mtime || now.ctime != planned.ctime {
        return Err(io::Error::other("the file changed while it was being read"));
    }
    Ok(digest)
}
