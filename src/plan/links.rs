//! Hard links of one layer: explicit `[[layer.hardlink]]` entries and host
//! files copied with several links. A tar hard link must name an entry that
//! comes earlier in the archive, so each group of paths sharing one content
//! is written as a file at its first path (in tar order) and links at the
//! others.

use std::collections::BTreeMap;

use super::tree::{FileSource, Node, NodeKind, Tree};
use crate::recipe::{ImagePath, LocatedError, Owner};

/// Rewrites the tree so every group of linked paths is one file and links to
/// it; explicit links whose target is not a regular file of this layer are
/// errors at the link's entry.
pub(crate) fn resolve(tree: &mut Tree) -> Result<(), LocatedError> {
    // Host files with several links group under their first path.
    let mut by_inode: BTreeMap<((u64, u64), u32, Owner), ImagePath> = BTreeMap::new();
    for (path, node) in tree.iter() {
        if let NodeKind::File(FileSource::Host { fingerprint: f, linked: true, .. }) = &node.kind {
            by_inode.entry(((f.dev, f.ino), node.mode, node.owner)).or_insert_with(|| path.clone());
        }
    }
    let group_of = |content: &ImagePath| -> ImagePath {
        match tree.get(content) {
            Some(node) => match &node.kind {
                NodeKind::File(FileSource::Host { fingerprint: f, linked: true, .. }) => {
                    by_inode.get(&((f.dev, f.ino), node.mode, node.owner)).cloned().unwrap_or_else(|| content.clone())
                }
                _ => content.clone(),
            },
            None => content.clone(),
        }
    };
    // Group key: the path whose node holds the content.
    let mut groups: BTreeMap<ImagePath, Vec<ImagePath>> = BTreeMap::new();
    // Only linked host files and hard links make groups; a plain file joins
    // the group of the first link that points at it.
    for (path, node) in tree.iter() {
        match &node.kind {
            NodeKind::File(FileSource::Host { linked: true, .. }) => {
                groups.entry(group_of(path)).or_default().push(path.clone());
            }
            NodeKind::Hardlink(_) => {
                let content = follow(tree, path, node)?;
                let members = groups.entry(group_of(&content)).or_default();
                let plain = !matches!(
                    tree.get(&content).map(|n| &n.kind),
                    Some(NodeKind::File(FileSource::Host { linked: true, .. }))
                );
                if plain && !members.contains(&content) {
                    members.push(content);
                }
                members.push(path.clone());
            }
            _ => {}
        }
    }
    for (content, mut members) in groups {
        if members.len() < 2 {
            continue;
        }
        members.sort();
        let first = members[0].clone();
        if first != content {
            let Some(source) = tree.get(&content).map(|n| (n.kind.clone(), n.mode, n.owner)) else { continue };
            if let Some(node) = tree.get_mut(&first) {
                (node.kind, node.mode, node.owner) = source;
            }
        }
        let (mode, owner) = tree.get(&first).map(|n| (n.mode, n.owner)).unwrap_or_default();
        for other in &members[1..] {
            if let Some(node) = tree.get_mut(other) {
                (node.kind, node.mode, node.owner) = (NodeKind::Hardlink(first.clone()), mode, owner);
            }
        }
    }
    Ok(())
}

/// The regular file an explicit hard link (possibly through other links)
/// points at.
fn follow(tree: &Tree, link: &ImagePath, link_node: &Node) -> Result<ImagePath, LocatedError> {
    let mut current = link.clone();
    for _ in 0..=tree.len() {
        match tree.get(&current).map(|n| &n.kind) {
            Some(NodeKind::File(_)) => return Ok(current),
            Some(NodeKind::Hardlink(next)) => current = next.clone(),
            _ => break,
        }
    }
    let what = match tree.get(&current).map(|n| &n.kind) {
        None => "is not an entry of this layer",
        Some(NodeKind::Hardlink(_)) => "is part of a cycle of hard links",
        Some(_) => "is not a regular file",
    };
    Err(link_node.loc.error(format!("hard link {link} points at {current}, which {what}"), "hard link"))
}

#[cfg(test)]
#[path = "links_tests.rs"]
mod tests;
