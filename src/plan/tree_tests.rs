//! The rules of one layer's tree: sorted entries, implied parents, which
//! directory declaration wins, collisions named at both entries, whiteouts.

use std::sync::Arc;

use miette::Diagnostic;

use super::*;
use crate::recipe::SourceFile;

/// A location whose span starts at `at`, so an error's labels tell which
/// entry they point at.
fn loc(at: usize) -> Loc {
    let file = Arc::new(SourceFile { name: "r.toml".into(), text: Arc::from("#".repeat(64)) });
    Loc { file, span: at..at + 1 }
}

fn p(path: &str) -> ImagePath {
    ImagePath::parse(path).unwrap()
}

fn file(at: usize) -> Node {
    Node {
        kind: NodeKind::File(FileSource::Inline(Arc::from(&b"x"[..]))),
        mode: 0o644,
        owner: Owner::default(),
        loc: loc(at),
        origin: Origin::Explicit,
    }
}

fn dir(mode: u32, owner: Owner, origin: Origin, at: usize) -> Node {
    Node { kind: NodeKind::Dir, mode, owner, loc: loc(at), origin }
}

/// The node at a tar name (whiteout names are no `ImagePath` a recipe
/// could write).
fn at<'t>(tree: &'t Tree, name: &str) -> &'t Node {
    tree.iter().find(|(path, _)| path.as_str() == name).map(|(_, node)| node).unwrap_or_else(|| panic!("no {name}"))
}

fn paths(tree: &Tree) -> Vec<&str> {
    tree.iter().map(|(path, _)| path.as_str()).collect()
}

/// `(offset, label)` of each label of `error`, in offset order.
fn labels(error: &LocatedError) -> Vec<(usize, String)> {
    let mut labels: Vec<_> =
        error.labels().unwrap().map(|l| (l.offset(), l.label().unwrap_or_default().to_owned())).collect();
    labels.sort();
    labels
}

#[test]
fn entries_are_sorted_bytewise_whatever_the_insertion_order() {
    let mut tree = Tree::default();
    for (i, path) in ["/b", "/a/z", "/a-b", "/B", "/a/b", "/a.c"].into_iter().enumerate() {
        tree.insert(p(path), file(i)).unwrap();
    }
    tree.insert_whiteout(&p("/a/x"), loc(9)).unwrap();
    // `-` (0x2d) and `.` (0x2e) sort before `/` (0x2f): a sibling comes
    // between a directory and its content, as in the tar stream.
    assert_eq!(paths(&tree), ["B", "a", "a-b", "a.c", "a/.wh.x", "a/b", "a/z", "b"]);
    assert_eq!(tree.len(), 8);
}

#[test]
fn implied_parents_are_0755_root_and_point_at_the_entry_that_needed_them() {
    let mut tree = Tree::default();
    let owned = Node { owner: Owner { uid: 5, gid: 6 }, mode: 0o600, ..file(7) };
    tree.insert(p("/usr/local/bin/tool"), owned).unwrap();
    assert_eq!(paths(&tree), ["usr", "usr/local", "usr/local/bin", "usr/local/bin/tool"]);
    for parent in ["usr", "usr/local", "usr/local/bin"] {
        let node = tree.get(&p(&format!("/{parent}"))).unwrap();
        assert_eq!(node.kind, NodeKind::Dir, "{parent}");
        assert_eq!((node.mode, node.owner, node.origin), (0o755, Owner::default(), Origin::Implied), "{parent}");
        assert_eq!(node.loc.span, 7..8, "{parent}");
    }
    let tool = tree.get(&p("/usr/local/bin/tool")).unwrap();
    assert_eq!((tool.mode, tool.owner), (0o600, Owner { uid: 5, gid: 6 }));
}

#[test]
fn a_declared_directory_wins_over_an_implied_one_in_either_order() {
    let declared = || dir(0o700, Owner { uid: 3, gid: 4 }, Origin::Explicit, 1);
    let mut after = Tree::default();
    after.insert(p("/d/f"), file(2)).unwrap();
    after.insert(p("/d"), declared()).unwrap();
    let mut before = Tree::default();
    before.insert(p("/d"), declared()).unwrap();
    before.insert(p("/d/f"), file(2)).unwrap();
    // A deeper entry implying the declared directory again changes nothing.
    before.insert(p("/d/e/g"), file(3)).unwrap();
    for tree in [&after, &before] {
        let d = tree.get(&p("/d")).unwrap();
        assert_eq!(
            (d.mode, d.owner, d.origin, d.loc.span.start),
            (0o700, Owner { uid: 3, gid: 4 }, Origin::Explicit, 1)
        );
    }
}

#[test]
fn the_stronger_claim_on_a_directory_wins() {
    // Copied beats Destination beats Implied, whichever comes first; the
    // weaker one is dropped without a conflict even when modes differ.
    let cases = [(Origin::Destination, Origin::Copied), (Origin::Implied, Origin::Destination)];
    for (weak, strong) in cases {
        for weak_first in [true, false] {
            let mut tree = Tree::default();
            let weak_node = dir(0o711, Owner { uid: 1, gid: 1 }, weak, 1);
            let strong_node = dir(0o750, Owner { uid: 2, gid: 2 }, strong, 2);
            let (first, second) = if weak_first { (weak_node, strong_node) } else { (strong_node, weak_node) };
            tree.insert(p("/d"), first).unwrap();
            tree.insert(p("/d"), second).unwrap();
            let d = tree.get(&p("/d")).unwrap();
            assert_eq!((d.origin, d.mode, d.owner.uid), (strong, 0o750, 2), "{weak:?} vs {strong:?}");
        }
    }
}

#[test]
fn copied_directories_may_meet_only_when_they_agree() {
    let owner = Owner { uid: 1, gid: 2 };
    for origin in [Origin::Copied, Origin::Destination] {
        let mut tree = Tree::default();
        tree.insert(p("/d"), dir(0o755, owner, origin, 1)).unwrap();
        tree.insert(p("/d"), dir(0o755, owner, origin, 2)).unwrap();
        assert_eq!(tree.get(&p("/d")).unwrap().loc.span.start, 1, "the first one stays");

        for other in [dir(0o700, owner, origin, 3), dir(0o755, Owner { uid: 1, gid: 9 }, origin, 3)] {
            let err = tree.clone().insert(p("/d"), other).unwrap_err();
            assert_eq!(
                err.to_string(),
                "two entries of this layer create the directory /d with different modes or owners",
                "{origin:?}"
            );
            assert_eq!(labels(&err), [(1, "first entry".to_owned()), (3, "second entry".to_owned())]);
        }
    }
}

#[test]
fn two_declarations_of_one_path_are_a_collision_naming_both() {
    let mut files = Tree::default();
    files.insert(p("/f"), file(1)).unwrap();
    let err = files.insert(p("/f"), file(2)).unwrap_err();
    assert_eq!(err.to_string(), "two entries of this layer write /f");
    assert_eq!(labels(&err), [(1, "first entry".to_owned()), (2, "second entry".to_owned())]);

    // Even two identical explicit directories: only walked ones may meet.
    let mut dirs = Tree::default();
    dirs.insert(p("/d"), dir(0o755, Owner::default(), Origin::Explicit, 1)).unwrap();
    let err = dirs.insert(p("/d"), dir(0o755, Owner::default(), Origin::Explicit, 2)).unwrap_err();
    assert_eq!(err.to_string(), "two entries of this layer write /d");

    // A file where a directory was declared, and a removal written twice.
    let err = dirs.insert(p("/d"), file(3)).unwrap_err();
    assert_eq!(err.to_string(), "two entries of this layer write /d");
    let mut removes = Tree::default();
    removes.insert_whiteout(&p("/x"), loc(1)).unwrap();
    let err = removes.insert_whiteout(&p("/x"), loc(2)).unwrap_err();
    assert_eq!(err.to_string(), "two entries of this layer write /.wh.x");
}

#[test]
fn an_entry_below_a_non_directory_is_refused_in_either_order() {
    // The non-directory first: the entry below cannot get its parent.
    let symlink = Node { kind: NodeKind::Symlink("elsewhere".into()), ..file(1) };
    for (first, what) in [(file(1), "a file"), (symlink, "a symlink")] {
        let mut tree = Tree::default();
        tree.insert(p("/a"), first).unwrap();
        let err = tree.insert(p("/a/b/c"), file(2)).unwrap_err();
        assert_eq!(err.to_string(), format!("/a is {what}, but an entry below it needs a directory"));
        assert_eq!(labels(&err), [(1, "first entry".to_owned()), (2, "second entry".to_owned())]);
        assert_eq!(paths(&tree), ["a"], "nothing of the refused entry stays");
    }

    // The entry below first: the non-directory lands on an implied parent.
    let mut tree = Tree::default();
    tree.insert(p("/a/b/c"), file(1)).unwrap();
    let err = tree.insert(p("/a/b"), file(2)).unwrap_err();
    assert_eq!(err.to_string(), "/a/b is a file here, but another entry needs it to be a directory");
    assert_eq!(labels(&err), [(1, "first entry".to_owned()), (2, "second entry".to_owned())]);
    let err = tree.insert(p("/a"), Node { kind: NodeKind::Hardlink(p("/a/b/c")), ..file(3) }).unwrap_err();
    assert_eq!(err.to_string(), "/a is a hard link here, but another entry needs it to be a directory");
    assert_eq!(tree.get(&p("/a")).unwrap().origin, Origin::Implied);
}

#[test]
fn removes_are_whiteouts_under_their_tar_names() {
    let mut tree = Tree::default();
    tree.insert_whiteout(&p("/etc/motd"), loc(1)).unwrap();
    tree.insert_whiteout(&p("/top"), loc(2)).unwrap();
    tree.insert_opaque(&p("/var/cache"), loc(3)).unwrap();
    assert_eq!(paths(&tree), [".wh.top", "etc", "etc/.wh.motd", "var", "var/cache", "var/cache/.wh..wh..opq"]);
    assert_eq!(tree.get(&p("/etc")).unwrap().origin, Origin::Implied);
    let whiteout = at(&tree, "etc/.wh.motd");
    assert_eq!((&whiteout.kind, whiteout.origin, whiteout.loc.span.start), (&NodeKind::Whiteout, Origin::Explicit, 1));
    let cache = tree.get(&p("/var/cache")).unwrap();
    assert_eq!((&cache.kind, cache.origin), (&NodeKind::Dir, Origin::Implied), "the opaque directory itself stays");
    assert_eq!(at(&tree, "var/cache/.wh..wh..opq").kind, NodeKind::OpaqueWhiteout);

    let mut root = Tree::default();
    root.insert_opaque(&ImagePath::root(), loc(1)).unwrap();
    assert_eq!(paths(&root), [OPAQUE_WHITEOUT]);

    // Emptying a path that is a file of this layer is a conflict.
    let mut tree = Tree::default();
    tree.insert(p("/f"), file(1)).unwrap();
    let err = tree.insert_opaque(&p("/f"), loc(2)).unwrap_err();
    assert_eq!(err.to_string(), "/f is a file, but an entry below it needs a directory");
}

/// `tree.check_whiteouts()` as `(message, the span the "added here" label
/// points at)`.
fn whiteout_conflict(tree: &Tree) -> Option<(String, usize)> {
    let err = tree.check_whiteouts().err()?;
    let added = labels(&err).into_iter().find(|(_, l)| l == "added here").unwrap().0;
    assert!(labels(&err).iter().any(|(_, l)| l == "removed here"));
    Some((err.to_string(), added))
}

#[test]
fn a_layer_may_not_remove_what_it_adds() {
    let mut same = Tree::default();
    same.insert_whiteout(&p("/a/b"), loc(1)).unwrap();
    same.insert(p("/a/b"), file(2)).unwrap();
    assert_eq!(whiteout_conflict(&same), Some(("this layer both removes /a/b and adds /a/b".to_owned(), 2)));

    // Below the removed path: the entry the recipe wrote is named, not the
    // directories it implied.
    let mut below = Tree::default();
    below.insert_whiteout(&p("/a/b"), loc(1)).unwrap();
    below.insert(p("/a/b/c/d"), file(2)).unwrap();
    assert_eq!(whiteout_conflict(&below), Some(("this layer both removes /a/b and adds /a/b/c/d".to_owned(), 2)));

    let mut top = Tree::default();
    top.insert(p("/x/y"), file(2)).unwrap();
    top.insert_whiteout(&p("/x"), loc(1)).unwrap();
    assert_eq!(whiteout_conflict(&top), Some(("this layer both removes /x and adds /x/y".to_owned(), 2)));

    // A sibling that sorts between the removed path and its content
    // (`b-c` < `b/`) does not hide the conflict.
    let mut sibling = Tree::default();
    sibling.insert_whiteout(&p("/a/b"), loc(1)).unwrap();
    sibling.insert(p("/a/b-c"), file(2)).unwrap();
    sibling.insert(p("/a/b/c"), file(3)).unwrap();
    let (message, added) = whiteout_conflict(&sibling).expect("the conflict is found");
    assert!(message.starts_with("this layer both removes /a/b and adds /a/b"), "{message}");
    assert_eq!(added, 3);
}

#[test]
fn removing_next_to_what_a_layer_adds_is_fine() {
    let mut tree = Tree::default();
    tree.insert_whiteout(&p("/a/b"), loc(1)).unwrap();
    for (i, path) in ["/a/bc", "/a/b-c", "/a/a", "/b", "/a/.b"].into_iter().enumerate() {
        tree.insert(p(path), file(2 + i)).unwrap();
    }
    // An opaque directory keeps what the same layer puts in it.
    tree.insert_opaque(&p("/o"), loc(8)).unwrap();
    tree.insert(p("/o/new"), file(9)).unwrap();
    assert_eq!(whiteout_conflict(&tree), None);
}

#[test]
fn only_declared_directories_are_kept_for_a_layer_on_others() {
    let mut tree = Tree::default();
    tree.insert(p("/implied/f"), file(1)).unwrap();
    tree.insert(p("/dest"), dir(0o700, Owner::default(), Origin::Destination, 2)).unwrap();
    tree.insert(p("/dest/walked"), dir(0o750, Owner::default(), Origin::Copied, 3)).unwrap();
    tree.insert(p("/declared"), dir(0o755, Owner::default(), Origin::Explicit, 4)).unwrap();
    tree.insert_whiteout(&p("/gone/x"), loc(5)).unwrap();
    tree.leave_out_undeclared_dirs();
    assert_eq!(paths(&tree), ["declared", "dest/walked", "gone/.wh.x", "implied/f"]);
}

#[test]
fn a_file_source_is_as_large_as_its_content() {
    let fingerprint = Fingerprint { size: 1 << 40, mtime: (1, 2), ctime: (3, 4), ino: 5, dev: 6 };
    let host = FileSource::Host { path: "/x".into(), fingerprint, linked: false, content: None };
    assert_eq!(host.size(), 1 << 40);
    assert_eq!(FileSource::Inline(Arc::from(&b"12345"[..])).size(), 5);
}
