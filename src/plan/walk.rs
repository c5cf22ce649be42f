//! A directory walk in the order of `walkdir`'s `sort_by_file_name`
//! (depth first, names in byte order) that reads metadata in parallel on
//! the current rayon pool, each entry by name relative to its open
//! directory: the stat of every input is most of an unchanged rebuild.

use std::ffi::OsString;
use std::fs::{DirEntry, Metadata};
use std::io;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

/// One entry below the walked root.
pub struct Found {
    pub path: PathBuf,
    /// `path` relative to the root.
    pub rel: PathBuf,
    /// Not followed for symlinks.
    pub meta: Metadata,
}

/// A path that could not be read, with why.
pub struct WalkError {
    pub path: PathBuf,
    pub error: io::Error,
}

/// How deep subtrees are walked in parallel (recursively); deeper ones are
/// walked one directory at a time, so depth costs no stack.
const PARALLEL_DEPTH: usize = 32;

type Prune<'a> = &'a (dyn Fn(&Path) -> bool + Sync);

/// Everything below `root` (not `root` itself), except what lies inside a
/// directory for which `prune` (given its path relative to `root`) is true;
/// such a directory is itself listed.
pub fn walk(root: &Path, prune: Prune<'_>) -> Result<Vec<Found>, WalkError> {
    let mut out = Vec::new();
    walk_into(root, Path::new(""), prune, 0, &mut out)?;
    Ok(out)
}

fn walk_into(dir: &Path, rel: &Path, prune: Prune<'_>, depth: usize, out: &mut Vec<Found>) -> Result<(), WalkError> {
    if depth >= PARALLEL_DEPTH {
        return walk_iteratively(dir, rel, prune, out);
    }
    let subtrees: Vec<Result<Vec<Found>, WalkError>> = sorted_entries(dir)?
        .par_iter()
        .map(|(name, entry)| {
            let path = dir.join(name);
            let rel = rel.join(name);
            let meta = entry.metadata().map_err(fail(&path))?;
            let mut below = Vec::new();
            if meta.is_dir() && !prune(&rel) {
                walk_into(&path, &rel, prune, depth + 1, &mut below)?;
            }
            below.insert(0, Found { path, rel, meta });
            Ok(below)
        })
        .collect();
    for subtree in subtrees {
        out.extend(subtree?);
    }
    Ok(())
}

fn walk_iteratively(dir: &Path, rel: &Path, prune: Prune<'_>, out: &mut Vec<Found>) -> Result<(), WalkError> {
    let mut open = vec![list(dir, rel)?.into_iter()];
    while let Some(listing) = open.last_mut() {
        let Some(found) = listing.next() else {
            open.pop();
            continue;
        };
        let below = (found.meta.is_dir() && !prune(&found.rel)).then(|| list(&found.path, &found.rel));
        out.push(found);
        if let Some(below) = below {
            open.push(below?.into_iter());
        }
    }
    Ok(())
}

/// The entries of `dir`, sorted by name, their metadata read in parallel.
fn list(dir: &Path, rel: &Path) -> Result<Vec<Found>, WalkError> {
    sorted_entries(dir)?
        .par_iter()
        .map(|(name, entry)| {
            let path = dir.join(name);
            let meta = entry.metadata().map_err(fail(&path))?;
            Ok(Found { rel: rel.join(name), path, meta })
        })
        .collect()
}

fn sorted_entries(dir: &Path) -> Result<Vec<(OsString, DirEntry)>, WalkError> {
    #[allow(clippy::disallowed_methods, reason = "entries are sorted by name before use")]
    let listing = std::fs::read_dir(dir).map_err(fail(dir))?;
    let mut entries: Vec<(OsString, DirEntry)> =
        listing.map(|entry| entry.map(|e| (e.file_name(), e))).collect::<Result<_, _>>().map_err(fail(dir))?;
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(entries)
}

fn fail(path: &Path) -> impl FnOnce(io::Error) -> WalkError + '_ {
    move |error| WalkError { path: path.to_owned(), error }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::walk;

    #[test]
    fn a_deep_tree_is_walked_without_deep_recursion() {
        let dir = tempfile::tempdir().unwrap();
        let deepest = dir.path().join(["d"; 2000].join("/"));
        fs::create_dir_all(&deepest).unwrap();
        fs::write(deepest.join("f"), "x").unwrap();
        let found = walk(dir.path(), &|_| false).ok().unwrap();
        assert_eq!(found.len(), 2001);
        assert!(found[2000].rel.ends_with("d/d/f") && found[2000].meta.is_file());
    }

    #[test]
    fn lists_depth_first_in_byte_order_and_prunes() {
        let dir = tempfile::tempdir().unwrap();
        for path in ["b/z", "b/a", "a.txt", "B", "c/d/e"] {
            let path = dir.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, "x").unwrap();
        }
        let found = walk(dir.path(), &|rel| rel.ends_with("d")).ok().unwrap();
        let rels: Vec<_> = found.iter().map(|f| f.rel.to_str().unwrap().to_owned()).collect();
        assert_eq!(rels, ["B", "a.txt", "b", "b/a", "b/z", "c", "c/d"]);
        assert!(found[2].meta.is_dir() && found[3].meta.is_file());
    }
}
