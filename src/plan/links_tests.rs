//! Hard-link groups: host files sharing an inode and explicit links become
//! one file at the group's first path (in tar order) and links to it; a
//! link to something that is not a regular file of the layer is refused.

use std::sync::Arc;

use super::*;
use crate::plan::tree::Origin;
use crate::recipe::{Loc, SourceFile};
use crate::store::fingerprint::Fingerprint;

fn loc(at: usize) -> Loc {
    let file = Arc::new(SourceFile { name: "r.toml".into(), text: Arc::from("#".repeat(64)) });
    Loc { file, span: at..at + 1 }
}

fn p(path: &str) -> ImagePath {
    ImagePath::parse(path).unwrap()
}

fn node(kind: NodeKind, mode: u32, owner: Owner) -> Node {
    Node { kind, mode, owner, loc: loc(0), origin: Origin::Explicit }
}

/// A host file with inode `ino` (device 1); `linked` as the walk sets it
/// for a file with several links.
fn host(ino: u64, linked: bool) -> NodeKind {
    let fingerprint = Fingerprint { size: 3, mtime: (0, 0), ctime: (0, 0), ino, dev: 1 };
    NodeKind::File(FileSource::Host { path: format!("/host/{ino}").into(), fingerprint, linked, content: None })
}

fn inline(text: &str) -> NodeKind {
    NodeKind::File(FileSource::Inline(Arc::from(text.as_bytes())))
}

fn link(target: &str) -> NodeKind {
    NodeKind::Hardlink(p(target))
}

fn tree(entries: Vec<(&str, Node)>) -> Tree {
    let mut tree = Tree::default();
    for (path, node) in entries {
        tree.insert(p(path), node).unwrap();
    }
    tree
}

/// Kind, mode and owner at `path`.
fn at(tree: &Tree, path: &str) -> (NodeKind, u32, Owner) {
    let node = tree.get(&p(path)).unwrap_or_else(|| panic!("no {path}"));
    (node.kind.clone(), node.mode, node.owner)
}

fn error(mut tree: Tree) -> String {
    resolve(&mut tree).unwrap_err().to_string()
}

#[test]
fn host_files_sharing_an_inode_become_a_file_and_links_to_it() {
    let root = Owner::default();
    let mut t = tree(vec![
        ("/z", node(host(7, true), 0o640, root)),
        ("/b/x", node(host(7, true), 0o640, root)),
        ("/a", node(host(7, true), 0o640, root)),
        ("/other", node(host(8, true), 0o640, root)),
    ]);
    resolve(&mut t).unwrap();
    // The first path in tar order holds the content, whatever came first.
    assert_eq!(at(&t, "/a"), (host(7, true), 0o640, root));
    assert_eq!(at(&t, "/b/x"), (link("/a"), 0o640, root));
    assert_eq!(at(&t, "/z"), (link("/a"), 0o640, root));
    // Alone in its group, another inode stays a file.
    assert_eq!(at(&t, "/other"), (host(8, true), 0o640, root));
}

#[test]
fn one_inode_copied_with_other_modes_or_owners_or_unlinked_stays_separate_files() {
    let root = Owner::default();
    let someone = Owner { uid: 1000, gid: 1000 };
    let mut on_device_2 = node(host(7, true), 0o644, root);
    if let NodeKind::File(FileSource::Host { fingerprint, .. }) = &mut on_device_2.kind {
        fingerprint.dev = 2;
    }
    let mut t = tree(vec![
        ("/a", node(host(7, true), 0o644, root)),
        ("/b", node(host(7, true), 0o600, root)),
        ("/c", node(host(7, true), 0o644, someone)),
        // The same inode number on another device is another file.
        ("/d", on_device_2),
        // Files the walk saw with one link are never linked.
        ("/e", node(host(9, false), 0o644, root)),
        ("/f", node(host(9, false), 0o644, root)),
    ]);
    let paths = ["/a", "/b", "/c", "/d", "/e", "/f"];
    let before: Vec<_> = paths.iter().map(|path| at(&t, path)).collect();
    resolve(&mut t).unwrap();
    let after: Vec<_> = paths.iter().map(|path| at(&t, path)).collect();
    assert_eq!(after, before);
}

#[test]
fn a_link_before_its_target_in_tar_order_takes_the_content() {
    // /a links to /z: /a comes first in the archive, so it becomes the
    // file (with /z's mode and owner) and /z the link.
    let owner = Owner { uid: 3, gid: 4 };
    let mut t =
        tree(vec![("/z", node(inline("zzz"), 0o755, owner)), ("/a", node(link("/z"), 0o644, Owner::default()))]);
    resolve(&mut t).unwrap();
    assert_eq!(at(&t, "/a"), (inline("zzz"), 0o755, owner));
    assert_eq!(at(&t, "/z"), (link("/a"), 0o755, owner));
}

#[test]
fn a_link_takes_the_mode_and_owner_of_its_file() {
    let owner = Owner { uid: 3, gid: 4 };
    let mut t = tree(vec![
        ("/f", node(inline("x"), 0o4750, owner)),
        ("/l1", node(link("/f"), 0o644, Owner::default())),
        ("/l2", node(link("/f"), 0o600, Owner { uid: 9, gid: 9 })),
    ]);
    resolve(&mut t).unwrap();
    assert_eq!(at(&t, "/f"), (inline("x"), 0o4750, owner));
    assert_eq!(at(&t, "/l1"), (link("/f"), 0o4750, owner));
    assert_eq!(at(&t, "/l2"), (link("/f"), 0o4750, owner));
}

#[test]
fn chains_of_links_point_at_the_one_file() {
    let root = Owner::default();
    let mut t = tree(vec![
        ("/c", node(link("/b"), 0o644, root)),
        ("/b", node(link("/d"), 0o644, root)),
        ("/d", node(inline("d"), 0o600, root)),
    ]);
    resolve(&mut t).unwrap();
    assert_eq!(at(&t, "/b"), (inline("d"), 0o600, root));
    assert_eq!(at(&t, "/c"), (link("/b"), 0o600, root));
    assert_eq!(at(&t, "/d"), (link("/b"), 0o600, root));
}

#[test]
fn an_explicit_link_joins_the_group_of_a_linked_host_file() {
    let root = Owner::default();
    let mut t = tree(vec![
        ("/h1", node(host(7, true), 0o644, root)),
        ("/h2", node(host(7, true), 0o644, root)),
        ("/a", node(link("/h2"), 0o644, root)),
    ]);
    resolve(&mut t).unwrap();
    assert_eq!(at(&t, "/a"), (host(7, true), 0o644, root), "one file for the whole group");
    assert_eq!(at(&t, "/h1"), (link("/a"), 0o644, root));
    assert_eq!(at(&t, "/h2"), (link("/a"), 0o644, root));
}

#[test]
fn a_link_to_anything_but_a_regular_file_of_the_layer_is_refused() {
    let root = Owner::default();
    let missing = tree(vec![("/l", node(link("/nowhere"), 0o644, root))]);
    assert_eq!(error(missing), "hard link /l points at /nowhere, which is not an entry of this layer");

    let dir = tree(vec![("/d/f", node(inline("x"), 0o644, root)), ("/l", node(link("/d"), 0o644, root))]);
    assert_eq!(error(dir), "hard link /l points at /d, which is not a regular file");

    let symlink =
        tree(vec![("/s", node(NodeKind::Symlink("f".into()), 0o777, root)), ("/l", node(link("/s"), 0o644, root))]);
    assert_eq!(error(symlink), "hard link /l points at /s, which is not a regular file");

    let mut whiteout = tree(vec![("/l", node(link("/l"), 0o644, root))]);
    whiteout.insert_whiteout(&p("/x"), loc(0)).unwrap();
    whiteout.get_mut(&p("/l")).unwrap().kind = NodeKind::Hardlink(ImagePath::root().join(".wh.x"));
    assert_eq!(error(whiteout), "hard link /l points at /.wh.x, which is not a regular file");

    // Through another link, the message names where the chain ends.
    let through = tree(vec![("/a", node(link("/b"), 0o644, root)), ("/b", node(link("/gone"), 0o644, root))]);
    assert_eq!(error(through), "hard link /a points at /gone, which is not an entry of this layer");

    let cycle = tree(vec![("/a", node(link("/b"), 0o644, root)), ("/b", node(link("/a"), 0o644, root))]);
    assert!(error(cycle).ends_with("which is part of a cycle of hard links"));
}

#[test]
fn the_error_points_at_the_link() {
    let mut t = tree(vec![("/l", Node { loc: loc(9), ..node(link("/nowhere"), 0o644, Owner::default()) })]);
    let err = resolve(&mut t).unwrap_err();
    let labels: Vec<_> =
        miette::Diagnostic::labels(&err).unwrap().map(|l| (l.offset(), l.label().map(str::to_owned))).collect();
    assert_eq!(labels, [(9, Some("hard link".to_owned()))]);
}
