//! A directory walk in the order of `walkdir`'s `sort_by_file_name`
//! (depth first, names in byte order) that reads metadata in parallel on
//! the current rayon pool, each entry by name relative to its open
//! directory: the stat of every input is most of an unchanged rebuild.
//! Directories are known from their directory entries and not stat'ed:
//! what a copy makes of one does not depend on its metadata.

use std::fs::{DirEntry, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::store::fingerprint::Fingerprint;

/// One entry below the walked root.
#[derive(Clone)]
pub(crate) struct Found {
    /// Relative to the root.
    pub rel: PathBuf,
    /// None for a directory.
    pub stat: Option<HostStat>,
}

impl Found {
    pub(crate) fn is_dir(&self) -> bool {
        self.stat.is_none()
    }
}

/// What a layer takes from the metadata of a host file, symlink or other
/// non-directory (not followed).
#[derive(Clone, Copy, Debug)]
pub(crate) struct HostStat {
    /// `st_mode`: type and permission bits.
    pub mode: u32,
    /// It has other hard links.
    pub linked: bool,
    pub fingerprint: Fingerprint,
}

impl HostStat {
    pub(crate) fn of(meta: &Metadata) -> HostStat {
        HostStat { mode: meta.mode(), linked: meta.nlink() > 1, fingerprint: Fingerprint::of(meta) }
    }

    pub(crate) fn is_file(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }

    pub(crate) fn is_symlink(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFLNK
    }
}

/// A path that could not be read, with why.
pub(crate) struct WalkError {
    pub path: PathBuf,
    pub error: io::Error,
}

/// How deep subtrees are walked in parallel (recursively); deeper ones are
/// walked one directory at a time, so depth costs no stack.
const PARALLEL_DEPTH: usize = 32;

/// Entries of one directory stat'ed by one task: a small directory is not
/// worth splitting, a large one still is.
const ENTRIES_PER_TASK: usize = 16;

type Prune<'a> = &'a (dyn Fn(&Path) -> bool + Sync);

/// Everything below `root` (not `root` itself), except what lies inside a
/// directory for which `prune` (given its path relative to `root`) is true;
/// such a directory is itself listed.
pub(crate) fn walk(root: &Path, prune: Prune<'_>) -> Result<Vec<Found>, WalkError> {
    let walked = walk_in_parallel(root, Path::new(""), prune, 0)?;
    let mut out = Vec::with_capacity(walked.len());
    walked.flatten_into(&mut out);
    Ok(out)
}

/// A walked directory: each entry with what was found below it, so that
/// entries are moved once into the flat result, not once per level.
enum Subtree {
    Nested { entries: Vec<(Found, Option<Subtree>)>, len: usize },
    Flat(Vec<Found>),
}

impl Subtree {
    fn len(&self) -> usize {
        match self {
            Subtree::Nested { len, .. } => *len,
            Subtree::Flat(found) => found.len(),
        }
    }

    fn flatten_into(self, out: &mut Vec<Found>) {
        match self {
            Subtree::Flat(found) => out.extend(found),
            Subtree::Nested { entries, .. } => {
                for (found, below) in entries {
                    out.push(found);
                    if let Some(below) = below {
                        below.flatten_into(out);
                    }
                }
            }
        }
    }
}

fn walk_in_parallel(root: &Path, rel: &Path, prune: Prune<'_>, depth: usize) -> Result<Subtree, WalkError> {
    if depth >= PARALLEL_DEPTH {
        let mut out = Vec::new();
        walk_iteratively(root, rel, prune, &mut out)?;
        return Ok(Subtree::Flat(out));
    }
    let entries: Vec<Result<(Found, Option<Subtree>), WalkError>> = sorted_entries(root, rel)?
        .into_par_iter()
        .with_min_len(ENTRIES_PER_TASK)
        .map(|(rel, entry)| {
            let found = stat(root, rel, &entry)?;
            let below = (found.is_dir() && !prune(&found.rel))
                .then(|| walk_in_parallel(root, &found.rel, prune, depth + 1))
                .transpose()?;
            Ok((found, below))
        })
        .collect();
    let entries: Vec<(Found, Option<Subtree>)> = entries.into_iter().collect::<Result<_, _>>()?;
    let len = entries.iter().map(|(_, below)| 1 + below.as_ref().map_or(0, Subtree::len)).sum();
    Ok(Subtree::Nested { entries, len })
}

fn walk_iteratively(root: &Path, rel: &Path, prune: Prune<'_>, out: &mut Vec<Found>) -> Result<(), WalkError> {
    let mut open = vec![list(root, rel)?.into_iter()];
    while let Some(listing) = open.last_mut() {
        let Some(found) = listing.next() else {
            open.pop();
            continue;
        };
        let below = (found.is_dir() && !prune(&found.rel)).then(|| list(root, &found.rel));
        out.push(found);
        if let Some(below) = below {
            open.push(below?.into_iter());
        }
    }
    Ok(())
}

/// The entries of directory `rel`, sorted by name, their metadata read in
/// parallel.
fn list(root: &Path, rel: &Path) -> Result<Vec<Found>, WalkError> {
    sorted_entries(root, rel)?
        .into_par_iter()
        .with_min_len(ENTRIES_PER_TASK)
        .map(|(rel, entry)| stat(root, rel, &entry))
        .collect()
}

fn stat(root: &Path, rel: PathBuf, entry: &DirEntry) -> Result<Found, WalkError> {
    let fail = |error| WalkError { path: root.join(&rel), error };
    if entry.file_type().map_err(fail)?.is_dir() {
        return Ok(Found { rel, stat: None });
    }
    let stat = HostStat::of(&entry.metadata().map_err(fail)?);
    Ok(Found { rel, stat: Some(stat) })
}

/// The entries of directory `rel`, each with its path relative to `root`,
/// sorted by name (all share the directory's prefix, so bytewise).
fn sorted_entries(root: &Path, rel: &Path) -> Result<Vec<(PathBuf, DirEntry)>, WalkError> {
    let dir = root.join(rel);
    let fail = |error| WalkError { path: dir.clone(), error };
    #[allow(clippy::disallowed_methods, reason = "entries are sorted by name before use")]
    let listing = std::fs::read_dir(&dir).map_err(fail)?;
    let mut entries: Vec<(PathBuf, DirEntry)> =
        listing.map(|entry| entry.map(|e| (rel.join(e.file_name()), e))).collect::<Result<_, _>>().map_err(fail)?;
    entries.sort_unstable_by(|a, b| a.0.as_os_str().cmp(b.0.as_os_str()));
    Ok(entries)
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
        assert!(found[2000].rel.ends_with("d/d/f") && found[2000].stat.is_some_and(|s| s.is_file()));
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
        assert!(found[2].is_dir() && found[3].stat.is_some_and(|s| s.is_file()));
    }
}
