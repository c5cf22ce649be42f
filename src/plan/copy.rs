//! `[[layer.copy]]`: walking a host path ([`super::walk`]) into tree
//! entries, in two steps: [`walk_copy`] reads the metadata of the source
//! (all the I/O), [`add_walked`] puts what it found in the tree. Contents
//! are streamed later by the layer writer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::tree::{FileSource, Node, NodeKind, Origin, Tree};
use super::walk::{Found, HostStat, walk};
use crate::oci::platform::Platform;
use crate::recipe::ignore::IgnoreRules;
use crate::recipe::image_path::WHITEOUT_PREFIX;
use crate::recipe::{Copy, Extracted, ImagePath, ImageSource, Loc, LocatedError, Owner, Recipe, unreadable_source};

/// What the source of one `copy` is on the host.
#[derive(Clone)]
pub(crate) enum Walked {
    /// A file (or what a symlink named as the source points to).
    File { src: PathBuf, stat: HostStat, image: Option<Arc<Extracted>> },
    /// A directory, and everything below it that its `exclude` does not
    /// prune and `.composeignore` does not leave out; `skipped` are the
    /// store and outputs of compose-img found inside (left out too).
    /// `image`: the files were extracted from an image (`copy.image`).
    Dir { src: PathBuf, found: Vec<Found>, skipped: Vec<PathBuf>, image: Option<Arc<Extracted>> },
}

impl Walked {
    /// The image the files come from, if they do.
    pub(crate) fn image(&self) -> Option<&Extracted> {
        match self {
            Walked::File { image, .. } | Walked::Dir { image, .. } => image.as_deref(),
        }
    }
}

/// Where a recipe's `copy` sources are read: its directory, and what of
/// the host never goes into a layer.
#[derive(Clone, Copy)]
pub(crate) struct Host<'a> {
    pub dir: &'a Path,
    pub ignore: Option<&'a IgnoreRules>,
    /// Canonical paths: the store and the build's outputs.
    pub never: &'a [PathBuf],
}

impl<'a> Host<'a> {
    pub(crate) fn of(recipe: &'a Recipe) -> Host<'a> {
        Host { dir: &recipe.dir, ignore: recipe.ignore.as_deref(), never: recipe.never_copied() }
    }
}

/// Adds everything `copy` names to `tree`.
pub(crate) fn add_copy(
    tree: &mut Tree,
    copy: &Copy,
    loc: &Loc,
    host: Host<'_>,
    platform: &Platform,
) -> Result<(), LocatedError> {
    add_walked(tree, copy, loc, walk_copy(copy, loc, host, platform)?)
}

/// Reads the metadata of the source of `copy` and of everything below it,
/// leaving out what `.composeignore` ignores and what compose-img wrote.
pub(crate) fn walk_copy(copy: &Copy, loc: &Loc, host: Host<'_>, platform: &Platform) -> Result<Walked, LocatedError> {
    if let Some(from) = &copy.from {
        return walk_image(copy, loc, from, platform);
    }
    let src = host.dir.join(expand(&copy.src, platform));
    let meta = std::fs::metadata(&src).map_err(|e| unreadable_source(loc, &src, &e))?;
    let canonical = std::fs::canonicalize(&src).map_err(|e| unreadable_source(loc, &src, &e))?;
    let ignore = host.ignore.filter(|rules| rules.covers(&canonical));
    // Only the store and outputs inside this source are looked for (a
    // large tree's entries are not each joined and compared for nothing).
    let never: Vec<&PathBuf> = host.never.iter().filter(|path| path.starts_with(&canonical)).collect();
    let left_out = |rel: &Path, is_dir: bool| {
        let path = canonical.join(rel);
        ignore.is_some_and(|rules| rules.ignores(&path, is_dir)) || never.contains(&&path)
    };
    if !meta.is_dir() {
        if left_out(Path::new(""), false) {
            let why = format!("{} is left out by {}", src.display(), crate::recipe::ignore::FILE_NAME);
            return Err(loc.error(why, "copies nothing"));
        }
        return Ok(Walked::File { src, stat: HostStat::of(&meta), image: None });
    }
    let exclude = &copy.exclude.set;
    let prune = |rel: &Path| exclude.is_match(rel) || left_out(rel, true);
    let mut found = walk(&src, &prune).map_err(|e| unreadable_source(loc, &e.path, &e.error))?;
    let mut skipped = Vec::new();
    if ignore.is_some() || !never.is_empty() {
        found.retain(|entry| {
            if never.contains(&&canonical.join(&entry.rel)) {
                skipped.push(src.join(&entry.rel));
                return false;
            }
            !ignore.is_some_and(|rules| rules.ignores(&canonical.join(&entry.rel), entry.is_dir()))
        });
    }
    if !skipped.is_empty() {
        leave_out_emptied_dirs(&mut found, &src, &skipped);
    }
    check_include(copy, loc, &src, &found)?;
    Ok(Walked::Dir { src, found, skipped, image: None })
}

/// Walks what `copy` takes from an image: the part of its merged file
/// system extracted into the store for `platform` before planning.
fn walk_image(copy: &Copy, loc: &Loc, from: &ImageSource, platform: &Platform) -> Result<Walked, LocatedError> {
    let Some(image) = from.for_platform(platform) else {
        return Err(loc.error(format!("{} was not read for {platform}", from.name), "copied from this image"));
    };
    let src = image.root.join(copy.src.trim_start_matches('/'));
    let meta = std::fs::symlink_metadata(&src).map_err(|_| {
        loc.error(format!("{} has no {} (for {platform})", from.name, copy.src), "copied from this image")
    })?;
    if meta.file_type().is_symlink() {
        let message = format!("{} is a symlink in {}: name what it points to", copy.src, from.name);
        return Err(loc.error(message, "copied from this image"));
    }
    if !meta.is_dir() {
        return Ok(Walked::File { src, stat: HostStat::of(&meta), image: Some(image) });
    }
    let exclude = &copy.exclude.set;
    let found =
        walk(&src, &|rel: &Path| exclude.is_match(rel)).map_err(|e| unreadable_source(loc, &e.path, &e.error))?;
    check_include(copy, loc, &src, &found)?;
    Ok(Walked::Dir { src, found, skipped: Vec::new(), image: Some(image) })
}

/// Leaves out the directories above a skipped store or output that hold
/// nothing else (`out/` of `out/app`): they exist only for compose-img.
fn leave_out_emptied_dirs(found: &mut Vec<Found>, src: &Path, skipped: &[PathBuf]) {
    let mut emptied: Vec<PathBuf> = Vec::new();
    for path in skipped {
        let mut dir = path.strip_prefix(src).ok().and_then(Path::parent);
        while let Some(rel) = dir.filter(|d| !d.as_os_str().is_empty()) {
            if found.iter().any(|entry| entry.rel != rel && entry.rel.starts_with(rel)) {
                break;
            }
            emptied.push(rel.to_owned());
            dir = rel.parent();
        }
    }
    found.retain(|entry| !(entry.is_dir() && emptied.contains(&entry.rel)));
}

/// A copy whose `include` globs match nothing copies nothing: an error, as
/// `COPY` fails when nothing matches.
fn check_include(copy: &Copy, loc: &Loc, src: &Path, found: &[Found]) -> Result<(), LocatedError> {
    if copy.include.patterns.iter().any(|p| p == "**") {
        return Ok(());
    }
    let (include, exclude) = (&copy.include.set, &copy.exclude.set);
    if found.iter().any(|entry| include.is_match(&entry.rel) && !exclude.is_match(&entry.rel)) {
        return Ok(());
    }
    let globs = copy.include.patterns.iter().map(|p| format!("{p:?}")).collect::<Vec<_>>().join(", ");
    Err(loc.error(format!("`include` ({globs}) matches nothing in {}", src.display()), "copies nothing"))
}

/// What a user should hear about a walked copy: each file the host keeps
/// private (no read bit for others) that the image would make readable to
/// all (unless the recipe sets the mode), as a warning; the store and
/// outputs left out, as a note.
pub(crate) fn remarks(copy: &Copy, loc: &Loc, walked: &Walked) -> Vec<LocatedError> {
    let private = |stat: &HostStat| copy.mode.is_none() && stat.is_file() && stat.mode & 0o004 == 0;
    let mut remarks = Vec::new();
    let mut warn = |path: &Path, stat: &HostStat| {
        let image_mode = if stat.mode & 0o111 != 0 { 0o755 } else { 0o644 };
        let message = format!(
            "{} is private on the host (mode {:04o}) and would be readable by everyone in the image ({image_mode:04o}); \
             set `mode` on the copy, or leave it out with `exclude` or {}",
            path.display(),
            stat.mode & 0o7777,
            crate::recipe::ignore::FILE_NAME
        );
        remarks.push(loc.error(message, "copied here").into_warning());
    };
    if walked.image().is_some() {
        return remarks;
    }
    match walked {
        Walked::File { src, stat, .. } if private(stat) => warn(src, stat),
        Walked::File { .. } => {}
        Walked::Dir { src, found, skipped, .. } => {
            for entry in found {
                if let Some(stat) = entry.stat.as_ref().filter(|stat| private(stat)) {
                    warn(&src.join(&entry.rel), stat);
                }
            }
            for path in skipped {
                let message = format!("{} is compose-img's store or output: left out of the layer", path.display());
                remarks.push(loc.error(message, "copied here").into_note());
            }
        }
    }
    remarks
}

/// Adds what [`walk_copy`] found for `copy` to `tree`.
pub(crate) fn add_walked(tree: &mut Tree, copy: &Copy, loc: &Loc, walked: Walked) -> Result<(), LocatedError> {
    let image = match &walked {
        Walked::File { image, .. } | Walked::Dir { image, .. } => image.clone(),
    };
    let from_image = |node: Node, path: &Path| match &image {
        Some(image) => with_image_meta(node, copy, &image.root, &image.meta, path),
        None => node,
    };
    let (src, found) = match walked {
        Walked::File { src, stat, .. } => {
            let dest = if copy.dest_is_dir {
                let name = src.file_name().and_then(|n| n.to_str()).ok_or_else(|| not_utf8(loc, &src))?;
                copy.dest.join(name)
            } else {
                copy.dest.clone()
            };
            if dest.is_root() {
                return Err(loc.error(format!("{} is a file and cannot replace `/`", src.display()), "copied here"));
            }
            let node = from_image(leaf(copy, loc, src.clone(), &stat)?, &src);
            return tree.insert(dest, node);
        }
        Walked::Dir { src, found, .. } => (src, found),
    };
    if !copy.dest.is_root() {
        // From an image, the directory named is copied with its mode and
        // owner; from the host, `dest` is only where the files go.
        let node = match &image {
            Some(_) => from_image(dir_node(copy, loc), &src),
            None => Node { origin: Origin::Destination, ..dir_node(copy, loc) },
        };
        tree.insert(copy.dest.clone(), node)?;
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
                let mut host = src.clone();
                for part in within.split('/').filter(|p| !p.is_empty()) {
                    dest = dest.join(part);
                    host.push(part);
                    tree.insert(dest.clone(), from_image(dir_node(copy, loc), &host))?;
                }
                &last_dir.insert((within.to_owned(), dest)).1
            }
        };
        let dest = dest_dir.join(name);
        let Some(stat) = &entry.stat else {
            tree.insert(dest, from_image(dir_node(copy, loc), &src.join(rel)))?;
            continue;
        };
        let node = from_image(leaf(copy, loc, src.join(rel), stat)?, &src.join(rel));
        tree.insert_below_dir(dest, node)?;
    }
    Ok(())
}

/// `node`, found at `path` below an image extracted at `root`, with the
/// mode (unless the copy sets one, for files) and owner (unless the copy
/// sets one) the image gives it.
fn with_image_meta(
    mut node: Node,
    copy: &Copy,
    root: &Path,
    meta: &BTreeMap<String, (u32, u32, u32)>,
    path: &Path,
) -> Node {
    let key = path.strip_prefix(root).ok().and_then(Path::to_str).unwrap_or_default();
    let Some(&(mode, uid, gid)) = meta.get(key) else { return node };
    match node.kind {
        NodeKind::Symlink(_) => {}
        NodeKind::File(_) if copy.mode.is_some() => {}
        _ => node.mode = mode,
    }
    if !copy.from.as_ref().is_some_and(|from| from.owner_given) {
        node.owner = Owner { uid, gid };
    }
    node
}

fn dir_node(copy: &Copy, loc: &Loc) -> Node {
    Node { kind: NodeKind::Dir, mode: copy.dir_mode, owner: copy.owner, loc: loc.clone(), origin: Origin::Copied }
}

/// A file or symlink (never followed) found on the host.
fn leaf(copy: &Copy, loc: &Loc, path: PathBuf, stat: &HostStat) -> Result<Node, LocatedError> {
    let (kind, mode) = if stat.is_symlink() {
        let target = std::fs::read_link(&path).map_err(|e| unreadable_source(loc, &path, &e))?;
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

fn not_utf8(loc: &Loc, path: &Path) -> LocatedError {
    loc.error(format!("{} has a name that is not UTF-8", path.display()), "copied here")
}
