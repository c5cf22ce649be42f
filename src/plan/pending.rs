//! What a plugin sees of its own layer: the entries above it in the recipe
//! (and what plugins above it wrote) laid over the layers below, and the
//! rule that what it writes replaces them.

use crate::oci::layerfs::{Entry, Kind};
use crate::plugins::lower::{LowerFs, Pending, PendingEntry};
use crate::recipe::image_path::WHITEOUT_PREFIX;
use crate::recipe::{ImagePath, Loc};

use super::tree::{FileSource, Node, NodeKind, OPAQUE_WHITEOUT, Tree};

/// `lower` with the entries of `tree` written above `before` laid over
/// it; `None` when there are none (the plugin sees `lower` itself).
pub(super) fn view(lower: &LowerFs, tree: &Tree, before: &Loc) -> Option<LowerFs> {
    let entries: Vec<PendingEntry> =
        tree.iter().filter(|(_, node)| node.loc.is_before(before)).map(|(path, node)| pending(path, node)).collect();
    (!entries.is_empty()).then(|| lower.with_pending(entries))
}

fn pending(path: &ImagePath, node: &Node) -> PendingEntry {
    let key = path.as_str();
    let add = |kind, size, content| {
        let entry = Entry {
            path: key.to_owned(),
            kind,
            mode: node.mode,
            uid: u64::from(node.owner.uid),
            gid: u64::from(node.owner.gid),
            size,
            offset: 0,
            content: None,
        };
        PendingEntry::Add { entry, content }
    };
    match &node.kind {
        NodeKind::Dir => add(Kind::Dir, 0, None),
        NodeKind::File(source) => {
            let content = match source {
                FileSource::Inline(bytes) => Pending::Inline(bytes.clone()),
                FileSource::Host { path, .. } => Pending::Host(path.clone()),
            };
            add(Kind::File, source.size(), Some(content))
        }
        NodeKind::Symlink(target) => add(Kind::Symlink(target.clone()), 0, None),
        NodeKind::Hardlink(target) => add(Kind::Hardlink(target.as_str().to_owned()), 0, None),
        NodeKind::Whiteout => {
            let parent = path.parent().unwrap_or_else(ImagePath::root);
            let name = path.file_name().strip_prefix(WHITEOUT_PREFIX).unwrap_or_default();
            PendingEntry::Whiteout(parent.join(name).as_str().to_owned())
        }
        NodeKind::OpaqueWhiteout => {
            debug_assert_eq!(path.file_name(), OPAQUE_WHITEOUT);
            PendingEntry::Opaque(path.parent().unwrap_or_else(ImagePath::root).as_str().to_owned())
        }
    }
}
