//! The deterministic tar writer, read back with the `tar` crate and byte by
//! byte: one ustar header per entry with exactly the planned fields, PAX
//! records only for what ustar cannot hold, and host files copied exactly
//! as planned or refused.

use std::sync::Arc;

use tar::Archive;

use super::*;
use crate::plan::tree::Origin;
use crate::recipe::{Loc, Owner, SourceFile};

const EPOCH: u64 = 1_700_000_000;

fn loc() -> Loc {
    Loc { file: Arc::new(SourceFile { name: "r.toml".into(), text: Arc::from("") }), span: 0..0 }
}

fn p(path: &str) -> ImagePath {
    ImagePath::parse(path).unwrap()
}

fn node(kind: NodeKind, mode: u32, owner: Owner) -> Node {
    Node { kind, mode, owner, loc: loc(), origin: Origin::Explicit }
}

fn inline(bytes: &[u8]) -> NodeKind {
    NodeKind::File(FileSource::Inline(Arc::from(bytes)))
}

fn root() -> Owner {
    Owner::default()
}

fn write(tree: &Tree, mtime: u64) -> Vec<u8> {
    let mut out = Vec::new();
    write_tree(tree, mtime, &mut out, &|_| {}).unwrap();
    out
}

/// What the `tar` crate reads back of one entry (PAX records applied).
#[derive(Debug, PartialEq)]
struct Seen {
    path: String,
    kind: EntryType,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    link: Option<String>,
    content: Vec<u8>,
}

fn read(archive: &[u8]) -> Vec<Seen> {
    let mut entries = Vec::new();
    for entry in Archive::new(archive).entries().unwrap() {
        let mut entry = entry.unwrap();
        let header = entry.header().clone();
        // Deterministic headers: ustar, empty user and group names, no
        // device numbers.
        assert!(header.as_ustar().is_some() && header.as_gnu().is_none(), "not ustar");
        assert_eq!(header.username_bytes(), Some(&b""[..]));
        assert_eq!(header.groupname_bytes(), Some(&b""[..]));
        assert_eq!((header.device_major().unwrap(), header.device_minor().unwrap()), (Some(0), Some(0)));
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut content).unwrap();
        assert_eq!(content.len() as u64, header.size().unwrap());
        entries.push(Seen {
            path: String::from_utf8(entry.path_bytes().into_owned()).unwrap(),
            kind: header.entry_type(),
            mode: header.mode().unwrap(),
            uid: header.uid().unwrap(),
            gid: header.gid().unwrap(),
            mtime: header.mtime().unwrap(),
            link: entry.link_name_bytes().map(|l| String::from_utf8(l.into_owned()).unwrap()),
            content,
        });
    }
    entries
}

/// The raw entries (PAX headers included) as `(type, name field, body)`.
fn raw(archive: &[u8]) -> Vec<(EntryType, Vec<u8>, Vec<u8>)> {
    Archive::new(archive)
        .entries()
        .unwrap()
        .raw(true)
        .map(|entry| {
            let mut entry = entry.unwrap();
            let header = entry.header().clone();
            let mut body = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut body).unwrap();
            (header.entry_type(), header.as_old().name.to_vec(), body)
        })
        .collect()
}

/// The PAX records of a body, each checked to count its own length.
fn pax_records(body: &[u8]) -> Vec<(String, String)> {
    let mut records = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let text = std::str::from_utf8(rest).unwrap();
        let (len, _) = text.split_once(' ').unwrap();
        let len: usize = len.parse().unwrap();
        let record = &text[..len];
        assert!(record.ends_with('\n'), "record {record:?} does not end where its length says");
        let (key, value) = record[..len - 1].split_once(' ').unwrap().1.split_once('=').unwrap();
        records.push((key.to_owned(), value.to_owned()));
        rest = &rest[len..];
    }
    records
}

fn entry(path: &str, kind: EntryType, mode: u32, link: Option<&str>, content: &[u8]) -> Seen {
    Seen {
        path: path.to_owned(),
        kind,
        mode,
        uid: 0,
        gid: 0,
        mtime: EPOCH,
        link: link.map(str::to_owned),
        content: content.to_vec(),
    }
}

#[test]
fn every_kind_of_entry_in_tree_order_with_the_planned_headers() {
    let mut tree = Tree::default();
    let owner = Owner { uid: 1000, gid: 100 };
    tree.insert(p("/usr/bin/tool"), node(inline(b"#!/bin/sh\n"), 0o4755, owner)).unwrap();
    tree.insert(p("/tmp"), node(NodeKind::Dir, 0o1777, root())).unwrap();
    tree.insert(p("/usr/bin/sh"), node(NodeKind::Symlink("../../bin/busybox".into()), 0o777, root())).unwrap();
    tree.insert(p("/usr/bin/tool2"), node(NodeKind::Hardlink(p("/usr/bin/tool")), 0o4755, owner)).unwrap();
    tree.insert(p("/empty"), node(inline(b""), 0o600, root())).unwrap();
    tree.insert_whiteout(&p("/etc/gone"), loc()).unwrap();
    tree.insert_opaque(&p("/var"), loc()).unwrap();

    let archive = write(&tree, EPOCH);
    let found = read(&archive);
    let owned = |mut e: Seen| {
        (e.uid, e.gid) = (1000, 100);
        e
    };
    use EntryType::*;
    assert_eq!(
        found,
        [
            entry("empty", Regular, 0o600, None, b""),
            entry("etc/", Directory, 0o755, None, b""),
            entry("etc/.wh.gone", Regular, 0o644, None, b""),
            entry("tmp/", Directory, 0o1777, None, b""),
            entry("usr/", Directory, 0o755, None, b""),
            entry("usr/bin/", Directory, 0o755, None, b""),
            entry("usr/bin/sh", Symlink, 0o777, Some("../../bin/busybox"), b""),
            owned(entry("usr/bin/tool", Regular, 0o4755, None, b"#!/bin/sh\n")),
            owned(entry("usr/bin/tool2", Link, 0o4755, Some("usr/bin/tool"), b"")),
            entry("var/", Directory, 0o755, None, b""),
            entry("var/.wh..wh..opq", Regular, 0o644, None, b""),
        ]
    );
    // Nothing but headers, content padded to blocks, and two zero blocks:
    // no PAX header for names that fit.
    assert_eq!(archive.len(), (found.len() + 1 + 2) * 512);
    assert!(archive[archive.len() - 1024..].iter().all(|b| *b == 0));
    assert!(raw(&archive).iter().all(|(kind, _, _)| *kind != XHeader));
}

#[test]
fn the_bytes_depend_only_on_the_tree_and_the_mtime() {
    let tree = |content: &[u8]| {
        let mut tree = Tree::default();
        tree.insert(p("/d/f"), node(inline(content), 0o644, root())).unwrap();
        tree
    };
    let one = write(&tree(b"x"), EPOCH);
    assert_eq!(one, write(&tree(b"x"), EPOCH));
    let later = write(&tree(b"x"), EPOCH + 1);
    assert_ne!(one, later);
    assert!(read(&later).iter().all(|e| e.mtime == EPOCH + 1));
    // The largest mtime the CLI accepts fits the ustar field.
    assert!(read(&write(&tree(b"x"), MAX_MTIME)).iter().all(|e| e.mtime == MAX_MTIME));
    assert!(read(&write(&tree(b"x"), 0)).iter().all(|e| e.mtime == 0));
}

#[test]
fn content_is_padded_to_whole_blocks() {
    for size in [0usize, 1, 511, 512, 513, 1024] {
        let mut tree = Tree::default();
        let content = vec![b'a'; size];
        tree.insert(p("/f"), node(inline(&content), 0o644, root())).unwrap();
        let archive = write(&tree, EPOCH);
        assert_eq!(archive.len(), 512 + size.div_ceil(512) * 512 + 1024, "{size} bytes");
        assert_eq!(read(&archive)[0].content, content);
    }
}

#[test]
fn names_and_targets_longer_than_100_bytes_go_to_pax_records() {
    // 100 bytes fill the ustar field (no NUL needed); 101 do not fit.
    let name = |len: usize| format!("d/{}", "n".repeat(len - 2));
    let target = "t".repeat(100);
    let long_file = format!("l/{}", "y".repeat(120));
    let mut tree = Tree::default();
    tree.insert(p(&format!("/{}", name(100))), node(inline(b"a"), 0o644, root())).unwrap();
    tree.insert(p(&format!("/{}", name(101))), node(inline(b"b"), 0o644, root())).unwrap();
    // A directory's name has its `/`: 99 bytes + `/` fit, 100 + `/` do not.
    tree.insert(p(&format!("/{}", "e".repeat(99))), node(NodeKind::Dir, 0o755, root())).unwrap();
    tree.insert(p(&format!("/{}", "f".repeat(100))), node(NodeKind::Dir, 0o755, root())).unwrap();
    tree.insert(p(&format!("/{long_file}")), node(inline(b"c"), 0o644, root())).unwrap();
    tree.insert(p("/s100"), node(NodeKind::Symlink(target.clone()), 0o777, root())).unwrap();
    tree.insert(p("/s101"), node(NodeKind::Symlink(format!("{target}t")), 0o777, root())).unwrap();
    tree.insert(p("/zlink"), node(NodeKind::Hardlink(p(&format!("/{long_file}"))), 0o644, root())).unwrap();

    let archive = write(&tree, EPOCH);
    let found = read(&archive);
    let by_path = |path: &str| found.iter().find(|e| e.path == path).unwrap_or_else(|| panic!("no {path}"));
    assert_eq!(by_path(&name(100)).content, b"a");
    assert_eq!(by_path(&name(101)).content, b"b");
    assert_eq!(by_path(&format!("{}/", "e".repeat(99))).kind, EntryType::Directory);
    assert_eq!(by_path(&format!("{}/", "f".repeat(100))).kind, EntryType::Directory);
    assert_eq!(by_path(&long_file).content, b"c");
    assert_eq!(by_path("s100").link.as_deref(), Some(target.as_str()));
    assert_eq!(by_path("s101").link, Some(format!("{target}t")));
    assert_eq!(by_path("zlink").link.as_deref(), Some(long_file.as_str()));

    // Exactly what does not fit has a PAX header, one record each, in tree
    // order; the ustar name field after it holds the first 100 bytes.
    let raw = raw(&archive);
    let mut pax = Vec::new();
    for (i, (kind, _, body)) in raw.iter().enumerate() {
        if *kind == EntryType::XHeader {
            let records = pax_records(body);
            if let [(key, value)] = records.as_slice()
                && key == "path"
            {
                assert_eq!(raw[i + 1].1, value.as_bytes()[..100]);
            }
            pax.extend(records);
        }
    }
    let record = |key: &str, value: &str| (key.to_owned(), value.to_owned());
    assert_eq!(
        pax,
        [
            record("path", &name(101)),
            record("path", &format!("{}/", "f".repeat(100))),
            record("path", &long_file),
            record("linkpath", &format!("{target}t")),
            record("linkpath", &long_file),
        ]
    );
}

#[test]
fn pax_record_lengths_count_their_own_digits() {
    // "LEN path=NAME\n" with LEN counting itself: from a 989-byte name to
    // a 990-byte one the record goes from 999 to 1001 bytes.
    for len in [101, 988, 989, 990, 991] {
        let name: String = (0..len).map(|i| if i % 50 == 49 { '/' } else { 'a' }).collect();
        let mut tree = Tree::default();
        let path = p(&format!("/{name}"));
        assert_eq!(path.as_str().len(), len);
        tree.insert(path.clone(), node(inline(b"x"), 0o644, root())).unwrap();
        let archive = write(&tree, EPOCH);
        assert_eq!(read(&archive).pop().unwrap().path, name, "{len}");
        // Every record of every header (long implied parents have theirs)
        // counts its length right; the file's is the last.
        let records: Vec<_> = raw(&archive)
            .into_iter()
            .filter(|(kind, _, _)| *kind == EntryType::XHeader)
            .map(|(_, _, body)| pax_records(&body))
            .collect();
        assert_eq!(records.last().unwrap(), &[("path".to_owned(), name.clone())], "{len}");
    }
}

#[test]
fn ids_beyond_ustar_go_to_pax_records_and_the_field_is_clamped() {
    let max = 0o777_7777;
    let mut tree = Tree::default();
    tree.insert(p("/fits"), node(inline(b""), 0o644, Owner { uid: max, gid: max })).unwrap();
    tree.insert(p("/huge"), node(inline(b""), 0o644, Owner { uid: max + 1, gid: u32::MAX })).unwrap();
    let archive = write(&tree, EPOCH);
    let found = read(&archive);
    assert_eq!((found[0].uid, found[0].gid), (u64::from(max), u64::from(max)));
    assert_eq!((found[1].uid, found[1].gid), (u64::from(max) + 1, u64::from(u32::MAX)));

    let raw = raw(&archive);
    assert_eq!(raw.len(), 3, "one PAX header, for /huge only");
    assert_eq!(raw[1].0, EntryType::XHeader);
    let ids = [("uid".to_owned(), (max + 1).to_string()), ("gid".to_owned(), u32::MAX.to_string())];
    assert_eq!(pax_records(&raw[1].2), ids);
    let header = tar::Header::from_byte_slice(&archive[3 * 512..4 * 512]);
    assert_eq!((header.uid().unwrap(), header.gid().unwrap()), (u64::from(max), u64::from(max)));
}

/// A host file `content` under `dir`, as the plan sees it.
fn host_node(dir: &Path, name: &str, content: &[u8], digest: Option<ContentHash>) -> (PathBuf, Node) {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    let fingerprint = Fingerprint::of(&std::fs::metadata(&path).unwrap());
    let source = FileSource::Host { path: path.clone(), fingerprint, linked: false, content: digest };
    (path, node(NodeKind::File(source), 0o644, root()))
}

#[test]
fn host_files_are_streamed_and_hashed_when_their_digest_is_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let (_, unknown) = host_node(dir.path(), "unknown", &big, None);
    // A known digest is trusted, not recomputed (this one is wrong).
    let (_, known) = host_node(dir.path(), "known", b"known", Some(ContentHash::of(b"other")));
    let mut tree = Tree::default();
    tree.insert(p("/unknown"), unknown).unwrap();
    tree.insert(p("/known"), known).unwrap();
    tree.insert(p("/inline"), node(inline(b"12"), 0o644, root())).unwrap();
    tree.insert(p("/d"), node(NodeKind::Dir, 0o755, root())).unwrap();

    let sizes = std::cell::RefCell::new(Vec::new());
    let mut out = Vec::new();
    let hashed = write_tree(&tree, EPOCH, &mut out, &|n| sizes.borrow_mut().push(n)).unwrap();
    assert_eq!(hashed, [(p("/unknown"), ContentHash::of(&big))]);
    assert_eq!(sizes.into_inner(), [0, 2, 5, big.len() as u64], "d/, inline, known, unknown");
    let found = read(&out);
    assert_eq!(found[2].content, b"known");
    assert_eq!(found[3].content, big);
}

#[test]
fn a_host_file_that_changed_since_the_plan_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let write_one = |node: Node| {
        let mut tree = Tree::default();
        tree.insert(p("/f"), node).unwrap();
        write_tree(&tree, EPOCH, &mut Vec::new(), &|_| {})
    };
    let changed = |result: Result<Vec<(ImagePath, ContentHash)>, TarError>, what: &str| match result {
        Err(TarError::Changed { expected, .. }) => assert_eq!(expected, 6, "{what}"),
        other => panic!("{what}: {other:?}"),
    };

    let (path, planned) = host_node(dir.path(), "grown", b"123456", None);
    std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"7").unwrap();
    changed(write_one(planned), "grown");

    let (path, planned) = host_node(dir.path(), "shrunk", b"123456", None);
    std::fs::write(&path, b"12345").unwrap();
    changed(write_one(planned), "shrunk");

    // Same size, other content: the ctime (and mtime) give it away.
    let (path, planned) = host_node(dir.path(), "rewritten", b"123456", None);
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&path, b"654321").unwrap();
    changed(write_one(planned), "rewritten");

    let (path, planned) = host_node(dir.path(), "gone", b"123456", None);
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(write_one(planned), Err(TarError::Read { path: unread, .. }) if unread == path));

    // Unchanged, it is written.
    let (_, planned) = host_node(dir.path(), "same", b"123456", None);
    assert!(write_one(planned).is_ok());
}

#[test]
fn a_file_beyond_the_ustar_size_limit_has_a_pax_size() {
    // The headers come before the content: a plan that says 8 GiB + 1 byte
    // (of a 1-byte file, so the test stays fast) writes them, then the
    // content is refused as changed.
    let dir = tempfile::tempdir().unwrap();
    let (_, mut planned) = host_node(dir.path(), "huge", b"x", Some(ContentHash::of(b"x")));
    let size = USTAR_MAX_SIZE + 2;
    if let NodeKind::File(FileSource::Host { fingerprint, .. }) = &mut planned.kind {
        fingerprint.size = size;
    }
    let mut tree = Tree::default();
    tree.insert(p("/huge"), planned).unwrap();
    let mut out = Vec::new();
    let result = write_tree(&tree, EPOCH, &mut out, &|_| {});
    assert!(matches!(result, Err(TarError::Changed { expected, .. }) if expected == size), "{result:?}");

    // PAX header, its one block of records, then the ustar header.
    let pax = tar::Header::from_byte_slice(&out[..512]);
    assert_eq!(pax.entry_type(), EntryType::XHeader);
    let body_len = pax.size().unwrap() as usize;
    assert_eq!(pax_records(&out[512..512 + body_len]), [("size".to_owned(), size.to_string())]);
    let header = tar::Header::from_byte_slice(&out[1024..1536]);
    assert_eq!(header.path_bytes().as_ref(), b"huge");
    assert_eq!(header.size().unwrap(), USTAR_MAX_SIZE, "the ustar field holds what it can");
}
