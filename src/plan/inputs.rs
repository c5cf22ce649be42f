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
        hash_largest_first(&unknown)
    };
    let mut results = hashed.into_iter();
    for (_, node) in tree.iter_mut() {
        if let NodeKind::File(FileSource::Host { path: host, content: content @ None, .. }) = &mut node.kind {
            let Some(result) = results.next() else { break };
            *content = Some(result.map_err(|e| crate::recipe::unreadable_source(&node.loc, host, &e))?);
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

/// The hashes of `files`, in their order, hashed largest first and one
/// file per task. In tree order, large files often sit together (a folder
/// of assets): split by count, one worker would be left to hash them all
/// while the others idle.
fn hash_largest_first(files: &[(&std::path::Path, &Fingerprint)]) -> Vec<Result<ContentHash, io::Error>> {
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(files[i].1.size));
    let mut hashed: Vec<(usize, Result<ContentHash, io::Error>)> =
        order.par_iter().with_max_len(1).map(|&i| (i, hash_file(files[i].0, files[i].1))).collect();
    hashed.sort_by_key(|(i, _)| *i);
    hashed.into_iter().map(|(_, result)| result).collect()
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

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    /// Files of different sizes (the large ones together, as a folder of
    /// assets puts them) come back in their order, each with its own hash;
    /// one that changed since it was planned is refused in its place.
    #[test]
    fn hashes_come_back_in_order_whatever_the_schedule() {
        let dir = tempfile::tempdir().unwrap();
        let sizes = [10usize, 0, 3 << 20, 5 << 20, 1, 70_000, 2 << 20, 64 * 1024];
        let paths: Vec<_> = sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| {
                let path = dir.path().join(format!("f{i}"));
                fs::write(&path, vec![i as u8 + 1; size]).unwrap();
                path
            })
            .collect();
        let mut prints: Vec<_> = paths.iter().map(|p| Fingerprint::of(&fs::metadata(p).unwrap())).collect();
        prints[5].size += 1;
        let files: Vec<_> = paths.iter().map(|p| p.as_path()).zip(&prints).collect();
        let hashed = hash_largest_first(&files);
        assert_eq!(hashed.len(), sizes.len());
        for (i, (result, &size)) in hashed.iter().zip(&sizes).enumerate() {
            if i == 5 {
                assert!(result.as_ref().unwrap_err().to_string().contains("changed while it was being read"));
            } else {
                assert_eq!(*result.as_ref().unwrap(), ContentHash::of(&vec![i as u8 + 1; size]), "file {i}");
            }
        }
    }
}
