//! `[[layer.copy]]`: walking a host path ([`super::walk`]) into tree
//! entries, in two steps: [`walk_copy`] reads the metadata of the source
//! (all the I/O), [`add_walked`] puts what it found in the tree. Contents
//! are streamed later by the layer writer.

use std::path::{Path, PathBuf};

use super::tree::{FileSource, Node, NodeKind, Origin, Tree};
use super::walk::{Found, HostStat, walk};
use crate::oci::platform::Platform;
use crate::recipe::image_path::WHITEOUT_PREFIX;
use crate::recipe::{Copy, ImagePath, Loc, LocatedError};

/// What the source of one `copy` is on the host.
#[derive(Clone)]
pub(crate) enum Walked {
    /// A file (or what a symlink named as the source points to).
    File { src: PathBuf, stat: HostStat },
    /// A directory, and everything below it that its `exclude` does not prune.
    Dir { src: PathBuf, found: Vec<Found> },
}

/// Adds everything `copy` names to `tree`.
pub(crate) fn add_copy(
    tree: &mut Tree,
    copy: &Copy,
    loc: &Loc,
    recipe_dir: &Path,
    platform: &Platform,
) -> Result<(), LocatedError> {
    add_walked(tree, copy, loc, walk_copy(copy, loc, recipe_dir, platform)?)
}

/// Reads the metadata of the source of `copy` and of everything below it.
pub(crate) fn walk_copy(
    copy: &Copy,
    loc: &Loc,
    recipe_dir: &Path,
    platform: &Platform,
) -> Result<Walked, LocatedError> {
    let src = recipe_dir.join(expand(&copy.src, platform));
    let meta = std::fs::metadata(&src).map_err(|e| io_error(loc, &src, &e))?;
    if !meta.is_dir() {
        return Ok(Walked::File { src, stat: HostStat::of(&meta) });
    }
    let exclude = &copy.exclude.set;
    let found = walk(&src, &|rel| exclude.is_match(rel)).map_err(|e| io_error(loc, &e.path, &e.error))?;
    Ok(Walked::Dir { src, found })
}

/// Adds what [`walk_copy`] found for `copy` to `tree`.
pub(crate) fn add_walked(tree: &mut Tree, copy: &Copy, loc: &Loc, walked: Walked) -> Result<(), LocatedError> {
    let (src, found) = match walked {
        Walked::File { src, stat } => {
            let dest = if copy.dest_is_dir {
                let name = src.file_name().and_then(|n| n.to_str()).ok_or_else(|| not_utf8(loc, &src))?;
                copy.dest.join(name)
            } else {
                copy.dest.clone()
            };
            if dest.is_root() {
                return Err(loc.error(format!("{} is a file and cannot replace `/`", src.display()), "copied here"));
            }
            return tree.insert(dest, leaf(copy, loc, src, &stat)?);
        }
        Walked::Dir { src, found } => (src, found),
    };
    if !copy.dest.is_root() {
        tree.insert(copy.dest.clone(), Node { origin: Origin::Destination, ..dir_node(copy, loc) })?;
    }
    let exclude = &copy.exclude.set;
    let include_all = copy.include.patterns.iter().any(|p| p == "**");
    // The directory (relative to `src`) of the entry before, and where it goes.
    let mut last_dir: Option<(String, ImagePath)> = None;
    for entry in found {
        let rel = entry.rel.as_path();
        let rel_text = rel.to_str().ok_or_else(|| not_utf8(loc, &src.join(rel)))?;
        if exclude.is_match(rel) || !(include_all || copy.include.set.is_match(rel)) {
            continue;
        }
        if rel_text.split('/').any(|p| p.starts_with(WHITEOUT_PREFIX)) {
            return Err(loc.error(
                format!("{} has a name reserved for whiteouts (`.wh.`)", src.join(rel).display()),
                "copied here",
            ));
        }
        let (within, name) = rel_text.rsplit_once('/').unwrap_or(("", rel_text));
        let dest_dir = match &last_dir {
            Some((dir, dest)) if dir == within => dest,
            _ => {
                // Directories between `dest` and this entry carry the copy's
                // dir_mode and owner, whether or not the globs matched them.
                let mut dest = copy.dest.clone();
                for part in within.split('/').filter(|p| !p.is_empty()) {
                    dest = dest.join(part);
                    tree.insert(dest.clone(), dir_node(copy, loc))?;
                }
                &last_dir.insert((within.to_owned(), dest)).1
            }
        };
        let dest = dest_dir.join(name);
        let Some(stat) = &entry.stat else {
            tree.insert(dest, dir_node(copy, loc))?;
            continue;
        };
        let node = leaf(copy, loc, src.join(rel), stat)?;
        tree.insert_below_dir(dest, node)?;
    }
    Ok(())
}

fn dir_node(copy: &Copy, loc: &Loc) -> Node {
    Node { kind: NodeKind::Dir, mode: copy.dir_mode, owner: copy.owner, loc: loc.clone(), origin: Origin::Copied }
}

/// A file or symlink (never followed) found on the host.
fn leaf(copy: &Copy, loc: &Loc, path: PathBuf, stat: &HostStat) -> Result<Node, LocatedError> {
    let (kind, mode) = if stat.is_symlink() {
        let target = std::fs::read_link(&path).map_err(|e| io_error(loc, &path, &e))?;
        let target = target.to_str().ok_or_else(|| not_utf8(loc, &path))?.to_owned();
        (NodeKind::Symlink(target), 0o777)
    } else if stat.is_file() {
        let default = if stat.mode & 0o111 != 0 { 0o755 } else { 0o644 };
        let source = FileSource::Host { path, fingerprint: stat.fingerprint, linked: stat.linked, content: None };
        (NodeKind::File(source), copy.mode.unwrap_or(default))
    } else {
        return Err(loc.error(
            format!(
                "{} is not a regular file, directory or symlink; devices, fifos and sockets cannot be copied",
                path.display()
            ),
            "copied here",
        ));
    };
    Ok(Node { kind, mode, owner: copy.owner, loc: loc.clone(), origin: Origin::Copied })
}

/// Replaces `{os}`, `{arch}` and `{variant}` (empty when there is none).
fn expand(src: &str, platform: &Platform) -> PathBuf {
    PathBuf::from(
        src.replace("{os}", &platform.os)
            .replace("{arch}", &platform.architecture)
            .replace("{variant}", platform.variant.as_deref().unwrap_or("")),
    )
}

fn io_error(loc: &Loc, path: &Path, error: &std::io::Error) -> LocatedError {
    loc.error(format!("cannot read {}: {error}", path.display()), "copied here")
}

fn not_utf8(loc: &Loc, path: &Path) -> LocatedError {
    loc.error(format!("{} has a name that is not UTF-8", path.display()), "copied here")
}
