//! The sorted entry tree of one layer, and the rules for putting entries in
//! it: implied parent directories, which directory declaration wins, and
//! which collisions are errors (naming both entries).

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::path::PathBuf;
use std::sync::Arc;

use crate::digest::ContentHash;
use crate::recipe::image_path::WHITEOUT_PREFIX;
use crate::recipe::{ImagePath, Loc, LocatedError, Owner};
use crate::store::fingerprint::Fingerprint;

/// Tar name of an opaque whiteout, inside the directory it empties.
pub(crate) const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";

/// One layer's entries, keyed and therefore sorted bytewise by path.
/// Whiteouts are stored under their tar names (`dir/.wh.name`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Tree {
    nodes: BTreeMap<ImagePath, Node>,
}

#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub kind: NodeKind,
    pub mode: u32,
    pub owner: Owner,
    /// The recipe entry that put it here (for an implied directory: the
    /// entry below it that needed it).
    pub loc: Loc,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NodeKind {
    Dir,
    File(FileSource),
    Symlink(String),
    /// A hard link to an earlier (in tar order) regular file of this layer.
    Hardlink(ImagePath),
    Whiteout,
    OpaqueWhiteout,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileSource {
    /// A host file. `linked`: it has several links, so copies of it in one
    /// layer are written as hard links. `content` is its digest, known once
    /// the plan has consulted the input index (or read the file).
    Host {
        path: PathBuf,
        fingerprint: Fingerprint,
        linked: bool,
        content: Option<ContentHash>,
    },
    Inline(Arc<[u8]>),
}

impl FileSource {
    pub(crate) fn size(&self) -> u64 {
        match self {
            FileSource::Host { fingerprint, .. } => fingerprint.size,
            FileSource::Inline(bytes) => bytes.len() as u64,
        }
    }
}

/// How strongly an entry claims its path; only directories may share one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Origin {
    /// A parent directory nobody declared.
    Implied,
    /// The directory a `copy` of a directory goes into: declared by no
    /// entry either, but made with the copy's `dir_mode` and owner when
    /// it is written.
    Destination,
    /// Found while walking a `copy` source.
    Copied,
    /// Written in the recipe (`file`, `dir`, `symlink`, ...).
    Explicit,
}

impl NodeKind {
    fn describe(&self) -> &'static str {
        match self {
            NodeKind::Dir => "a directory",
            NodeKind::File(_) => "a file",
            NodeKind::Symlink(_) => "a symlink",
            NodeKind::Hardlink(_) => "a hard link",
            NodeKind::Whiteout | NodeKind::OpaqueWhiteout => "a whiteout",
        }
    }
}

impl Tree {
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&ImagePath, &Node)> {
        self.nodes.iter()
    }

    pub(crate) fn get(&self, path: &ImagePath) -> Option<&Node> {
        self.nodes.get(path)
    }

    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    pub(super) fn get_mut(&mut self, path: &ImagePath) -> Option<&mut Node> {
        self.nodes.get_mut(path)
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (&ImagePath, &mut Node)> {
        self.nodes.iter_mut()
    }

    /// Adds `node` at `path`, with its parent directories.
    pub(crate) fn insert(&mut self, path: ImagePath, node: Node) -> Result<(), LocatedError> {
        self.ensure_parents(&path, &node.loc)?;
        self.put(path, node)
    }

    /// Adds `node` at `path`, whose parent directory this tree has.
    pub(super) fn insert_below_dir(&mut self, path: ImagePath, node: Node) -> Result<(), LocatedError> {
        self.put(path, node)
    }

    /// A whiteout hiding `path` of the layers below.
    pub(crate) fn insert_whiteout(&mut self, path: &ImagePath, loc: Loc) -> Result<(), LocatedError> {
        let parent = path.parent().unwrap_or_else(ImagePath::root);
        let name = parent.join(&format!("{WHITEOUT_PREFIX}{}", path.file_name()));
        self.insert(name, whiteout_node(NodeKind::Whiteout, loc))
    }

    /// An opaque whiteout: `dir` keeps only what this layer puts in it.
    pub(crate) fn insert_opaque(&mut self, dir: &ImagePath, loc: Loc) -> Result<(), LocatedError> {
        if !dir.is_root() {
            self.insert(dir.clone(), implied_dir(&loc))?;
        }
        self.insert(dir.join(OPAQUE_WHITEOUT), whiteout_node(NodeKind::OpaqueWhiteout, loc))
    }

    fn ensure_parents(&mut self, path: &ImagePath, loc: &Loc) -> Result<(), LocatedError> {
        let Some((parent, _)) = path.as_str().rsplit_once('/') else { return Ok(()) };
        if self.nodes.get(parent).is_some_and(|n| n.kind == NodeKind::Dir) {
            return Ok(());
        }
        let mut parents = Vec::new();
        let mut cursor = path.parent();
        while let Some(p) = cursor.filter(|p| !p.is_root()) {
            // A directory already here had its own parents ensured.
            if self.nodes.get(&p).is_some_and(|n| n.kind == NodeKind::Dir) {
                break;
            }
            cursor = p.parent();
            parents.push(p);
        }
        for parent in parents.into_iter().rev() {
            self.put(parent, implied_dir(loc))?;
        }
        Ok(())
    }

    fn put(&mut self, path: ImagePath, node: Node) -> Result<(), LocatedError> {
        let mut slot = match self.nodes.entry(path) {
            Entry::Vacant(vacant) => {
                vacant.insert(node);
                return Ok(());
            }
            Entry::Occupied(occupied) => occupied,
        };
        let existing = slot.get();
        let both_dirs = existing.kind == NodeKind::Dir && node.kind == NodeKind::Dir;
        if both_dirs && node.origin != existing.origin {
            if node.origin > existing.origin {
                slot.insert(node);
            }
            return Ok(());
        }
        let same_copied_dir = both_dirs
            && matches!(node.origin, Origin::Copied | Origin::Destination)
            && node.mode == existing.mode
            && node.owner == existing.owner;
        if same_copied_dir || (both_dirs && node.origin == Origin::Implied) {
            return Ok(());
        }
        Err(collision(slot.key(), existing, &node))
    }

    /// Takes out what entries above `before` in the recipe wrote at `path`,
    /// so that a plugin's entry there replaces it: the node itself (a
    /// directory only by a directory), and a whiteout of `path` that a
    /// non-directory makes needless. With `below` (a plugin's `remove`),
    /// what they wrote inside `path` too.
    pub(super) fn forget_earlier(&mut self, path: &ImagePath, before: &Loc, dir: bool, below: bool) {
        let earlier = |node: &Node| node.loc.is_before(before);
        if below {
            let inside: Vec<ImagePath> = self
                .nodes
                .range(path.clone()..)
                .take_while(|(p, _)| *p == path || p.is_inside(path))
                .filter(|(_, node)| earlier(node))
                .map(|(p, _)| p.clone())
                .collect();
            for p in inside {
                self.nodes.remove(&p);
            }
            return;
        }
        if self.nodes.get(path).is_some_and(|node| earlier(node) && (dir || node.kind != NodeKind::Dir)) {
            self.nodes.remove(path);
        }
        if !dir && !path.is_root() {
            let parent = path.parent().unwrap_or_else(ImagePath::root);
            let whiteout = parent.join(&format!("{WHITEOUT_PREFIX}{}", path.file_name()));
            if self.nodes.get(&whiteout).is_some_and(earlier) {
                self.nodes.remove(&whiteout);
            }
        }
    }

    /// Leaves out the directories no entry declares (parents implied by an
    /// entry below them, and the destination of a directory `copy`), so a
    /// layer stacked on others never changes the metadata of a directory
    /// it only writes into: the layers below keep theirs, and an applier
    /// creates a missing one as 0755 root.
    pub(crate) fn leave_out_undeclared_dirs(&mut self) {
        self.nodes.retain(|_, node| !matches!(node.origin, Origin::Implied | Origin::Destination));
    }

    /// Checks what can only be checked once every entry is in: a whiteout
    /// may not hide something this same layer adds.
    pub(super) fn check_whiteouts(&self) -> Result<(), LocatedError> {
        for (key, node) in &self.nodes {
            if node.kind != NodeKind::Whiteout {
                continue;
            }
            let parent = key.parent().unwrap_or_else(ImagePath::root);
            let target = parent.join(&key.file_name()[WHITEOUT_PREFIX.len()..]);
            let mut clashes =
                self.nodes.range(target.clone()..).take_while(|(p, _)| **p == target || p.is_inside(&target));
            // Name an entry the recipe wrote rather than a directory it implied.
            let first = clashes.next();
            let clash = clashes.find(|(_, n)| n.origin != Origin::Implied).or(first);
            if let Some((path, other)) = clash {
                return Err(node.loc.error_with(
                    format!("this layer both removes {target} and adds {path}"),
                    "removed here",
                    &other.loc,
                    "added here",
                ));
            }
        }
        Ok(())
    }
}

/// A parent directory nobody declared: 0755 root:root.
fn implied_dir(loc: &Loc) -> Node {
    Node { kind: NodeKind::Dir, mode: 0o755, owner: Owner::default(), loc: loc.clone(), origin: Origin::Implied }
}

fn whiteout_node(kind: NodeKind, loc: Loc) -> Node {
    Node { kind, mode: 0o644, owner: Owner::default(), loc, origin: Origin::Explicit }
}

fn collision(path: &ImagePath, existing: &Node, new: &Node) -> LocatedError {
    let message = match (existing.origin, new.origin) {
        (Origin::Implied, _) => {
            format!("{path} is {} here, but another entry needs it to be a directory", new.kind.describe())
        }
        (_, Origin::Implied) => {
            format!("{path} is {}, but an entry below it needs a directory", existing.kind.describe())
        }
        _ if existing.kind == NodeKind::Dir
            && new.kind == NodeKind::Dir
            && matches!(new.origin, Origin::Copied | Origin::Destination) =>
        {
            format!("two entries of this layer create the directory {path} with different modes or owners")
        }
        _ => format!("two entries of this layer write {path}"),
    };
    new.loc.error_with(message, "second entry", &existing.loc, "first entry")
}

#[cfg(test)]
#[path = "tree_tests.rs"]
mod tests;
