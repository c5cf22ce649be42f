//! `[[layer.copy]]`: walking a host path into tree entries. Only metadata is
//! read here; contents are streamed later by the layer writer.

use std::fs::Metadata;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use super::tree::{FileSource, Node, NodeKind, Origin, Tree};
use crate::recipe::image_path::WHITEOUT_PREFIX;
use crate::recipe::{Copy, Loc, LocatedError, Platform};
use crate::store::fingerprint::Fingerprint;

/// Adds everything `copy` names to `tree`.
pub fn add_copy(
    tree: &mut Tree,
    copy: &Copy,
    loc: &Loc,
    recipe_dir: &Path,
    platform: &Platform,
) -> Result<(), LocatedError> {
    let src = recipe_dir.join(expand(&copy.src, platform));
    let meta = std::fs::metadata(&src).map_err(|e| io_error(loc, &src, &e))?;
    if !meta.is_dir() {
        let dest = if copy.dest_is_dir {
            let name = src.file_name().and_then(|n| n.to_str()).ok_or_else(|| not_utf8(loc, &src))?;
            copy.dest.join(name)
        } else {
            copy.dest.clone()
        };
        if dest.is_root() {
            return Err(loc.error(format!("{} is a file and cannot replace `/`", src.display()), "copied here"));
        }
        return tree.insert(dest, leaf(copy, loc, &src, &meta)?);
    }
    if !copy.dest.is_root() {
        tree.insert(copy.dest.clone(), dir_node(copy, loc))?;
    }
    let mut walk = WalkDir::new(&src).follow_links(false).min_depth(1).sort_by_file_name().into_iter();
    while let Some(entry) = walk.next() {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(&src).to_owned();
            let io = e.into_io_error().unwrap_or_else(|| std::io::Error::other("file system loop"));
            io_error(loc, &path, &io)
        })?;
        let rel = entry.path().strip_prefix(&src).unwrap_or(entry.path());
        let rel_text = rel.to_str().ok_or_else(|| not_utf8(loc, entry.path()))?;
        let is_dir = entry.file_type().is_dir();
        if copy.exclude.set.is_match(rel) {
            if is_dir {
                walk.skip_current_dir();
            }
            continue;
        }
        if !copy.include.set.is_match(rel) {
            continue;
        }
        let parts: Vec<&str> = rel_text.split('/').collect();
        if parts.iter().any(|p| p.starts_with(WHITEOUT_PREFIX)) {
            return Err(loc.error(
                format!("{} has a name reserved for whiteouts (`.wh.`)", entry.path().display()),
                "copied here",
            ));
        }
        let (name, within) = parts.split_last().unwrap_or((&"", &[]));
        let mut dest = copy.dest.clone();
        // Directories between `dest` and this entry carry the copy's
        // dir_mode and owner, whether or not the globs matched them.
        for part in within {
            dest = dest.join(part);
            tree.insert(dest.clone(), dir_node(copy, loc))?;
        }
        let dest = dest.join(name);
        if is_dir {
            tree.insert(dest, dir_node(copy, loc))?;
            continue;
        }
        let meta = entry.metadata().map_err(|e| io_error(loc, entry.path(), &std::io::Error::other(e)))?;
        tree.insert(dest, leaf(copy, loc, entry.path(), &meta)?)?;
    }
    Ok(())
}

fn dir_node(copy: &Copy, loc: &Loc) -> Node {
    Node { kind: NodeKind::Dir, mode: copy.dir_mode, owner: copy.owner, loc: loc.clone(), origin: Origin::Copied }
}

/// A file or symlink (never followed) found on the host.
fn leaf(copy: &Copy, loc: &Loc, path: &Path, meta: &Metadata) -> Result<Node, LocatedError> {
    let file_type = meta.file_type();
    let (kind, mode) = if file_type.is_symlink() {
        let target = std::fs::read_link(path).map_err(|e| io_error(loc, path, &e))?;
        let target = target.to_str().ok_or_else(|| not_utf8(loc, path))?.to_owned();
        (NodeKind::Symlink(target), 0o777)
    } else if file_type.is_file() {
        let default = if meta.permissions().mode() & 0o111 != 0 { 0o755 } else { 0o644 };
        let source = FileSource::Host {
            path: path.to_owned(),
            fingerprint: Fingerprint::of(meta),
            linked: meta.nlink() > 1,
            content: None,
        };
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
