//! Reading layers back: the changes one layer makes, with their names
//! normalised and whiteouts recognised, content found again at its offset
//! in every compression, and the merged view of a stack of layers.

use std::io::Write as _;

use tar::{EntryType, Header};

use super::*;
use crate::oci::media;

/// One tar entry to write: the raw name field, type, mode, link, content.
struct Raw<'a> {
    name: &'a str,
    kind: EntryType,
    mode: u32,
    link: &'a str,
    content: &'a [u8],
}

fn raw<'a>(name: &'a str, kind: EntryType, mode: u32, link: &'a str, content: &'a [u8]) -> Raw<'a> {
    Raw { name, kind, mode, link, content }
}

fn file<'a>(name: &'a str, content: &'a [u8]) -> Raw<'a> {
    raw(name, EntryType::Regular, 0o644, "", content)
}

fn dir(name: &str) -> Raw<'_> {
    raw(name, EntryType::Directory, 0o755, "", b"")
}

/// An uncompressed layer with exactly these names (no normalisation by
/// the `tar` crate on the way in), uid 1 and gid 2.
fn tar(entries: &[Raw]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = Header::new_ustar();
        assert!(entry.name.len() <= 100 && entry.link.len() <= 100);
        header.as_old_mut().name[..entry.name.len()].copy_from_slice(entry.name.as_bytes());
        header.as_old_mut().linkname[..entry.link.len()].copy_from_slice(entry.link.as_bytes());
        header.set_entry_type(entry.kind);
        header.set_mode(entry.mode);
        header.set_uid(1);
        header.set_gid(2);
        header.set_size(entry.content.len() as u64);
        header.set_cksum();
        builder.append(&header, entry.content).unwrap();
    }
    builder.into_inner().unwrap()
}

/// `bytes` as a blob of `media_type` in a temporary directory.
fn blob(bytes: &[u8], media_type: &str) -> tempfile::NamedTempFile {
    let compressed = match media_type {
        media::LAYER_GZIP | media::NONDIST_GZIP => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(bytes).unwrap();
            gz.finish().unwrap()
        }
        media::LAYER_ZSTD | media::NONDIST_ZSTD => zstd::encode_all(bytes, 3).unwrap(),
        _ => bytes.to_vec(),
    };
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(&compressed).unwrap();
    file
}

fn changes(entries: &[Raw]) -> Vec<Change> {
    read_layer(blob(&tar(entries), media::LAYER_TAR).path(), media::LAYER_TAR, false, None).unwrap()
}

/// A change as a short string, for comparing lists.
fn show(change: &Change) -> String {
    match change {
        Change::Add(e) => format!("+{} {:?} {:o} {}:{} {}", e.path, e.kind, e.mode, e.uid, e.gid, e.size),
        Change::Whiteout(path) => format!("-{path}"),
        Change::Opaque(dir) => format!("opaque {dir}"),
    }
}

#[test]
fn names_are_normalised_and_inside_is_strict() {
    let names = [("./a/b/", "a/b"), ("/a/b", "a/b"), ("a/b", "a/b"), ("./", ""), ("/", ""), ("a", "a")];
    let odd = [(".", ""), ("./.", ""), ("a//./b/.", "a/b"), ("./../a", "../a"), ("..", "..")];
    for (name, normal) in names.into_iter().chain(odd) {
        assert_eq!(normalise(name), normal, "{name}");
    }
    assert!(inside("a/b", "a") && inside("a/b/c", "a") && inside("a", ""));
    assert!(!inside("a", "a"), "a directory is not inside itself");
    assert!(!inside("ab", "a") && !inside("a-b/c", "a") && !inside("b/a/c", "a"), "a shared prefix is not enough");
}

#[test]
fn a_layer_reads_back_as_entries_whiteouts_and_opaque_directories_in_order() {
    let found = changes(&[
        dir("./"),
        dir("./etc/"),
        file("./etc/.wh.motd", b""),
        file("etc/.wh..wh..opq", b""),
        file(".wh.top", b""),
        file("./.wh..wh..opq", b""),
        file("/etc/hosts", b"127.0.0.1\n"),
        raw("bin/sh", EntryType::Symlink, 0o777, "../usr/./bin//busybox", b""),
        raw("bin/abs", EntryType::Symlink, 0o777, "/usr/bin/", b""),
        raw("./bin/ln", EntryType::Link, 0o644, "./etc/hosts", b""),
        raw("dev/null", EntryType::Char, 0o666, "", b""),
        raw("dev/sda", EntryType::Block, 0o660, "", b""),
        raw("run/fifo", EntryType::Fifo, 0o600, "", b""),
        // A mode field carrying file type bits keeps only the permissions.
        raw("typed", EntryType::Regular, 0o104_755, "", b"x"),
        raw("sticky", EntryType::Directory, 0o1777, "", b""),
    ]);
    let shown: Vec<_> = found.iter().map(show).collect();
    assert_eq!(
        shown,
        [
            "+etc Dir 755 1:2 0",
            "-etc/motd",
            "opaque etc",
            "-top",
            "opaque ",
            "+etc/hosts File 644 1:2 10",
            "+bin/sh Symlink(\"../usr/./bin//busybox\") 777 1:2 0",
            "+bin/abs Symlink(\"/usr/bin/\") 777 1:2 0",
            "+bin/ln Hardlink(\"etc/hosts\") 644 1:2 0",
            "+dev/null Device 666 1:2 0",
            "+dev/sda Device 660 1:2 0",
            "+run/fifo Fifo 600 1:2 0",
            "+typed File 4755 1:2 1",
            "+sticky Dir 1777 1:2 0",
        ]
    );
    // Content is not hashed unless asked for.
    assert!(found.iter().all(|c| !matches!(c, Change::Add(Entry { content: Some(_), .. }))));
}

#[test]
fn aufs_metadata_is_skipped_and_a_whiteout_naming_nothing_is_refused() {
    let found = changes(&[
        dir(".wh..wh.plnk/"),
        file(".wh..wh.plnk/123.456", b"x"),
        file("a/.wh..wh.aufs", b""),
        file("f", b""),
    ]);
    assert_eq!(found.iter().map(show).collect::<Vec<_>>(), ["+f File 644 1:2 0"]);

    for name in ["a/.wh.", ".wh..", "./a/.wh.."] {
        let layer = tar(&[dir("a/"), file(name, b"")]);
        let err = read_layer(blob(&layer, media::LAYER_TAR).path(), media::LAYER_TAR, false, None).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{name}");
        assert!(err.to_string().contains(name.trim_start_matches("./")), "{name}: {err}");
    }
}

#[test]
fn content_is_found_again_at_its_offset_in_every_compression() {
    let long_name = format!("deep/{}", "n".repeat(150));
    let big: Vec<u8> = (0..70_000u32).map(|i| (i % 253) as u8).collect();
    let mut builder = tar::Builder::new(Vec::new());
    for (name, content) in [("a", &b"first"[..]), (long_name.as_str(), &big[..]), ("b", b""), ("c", b"last")] {
        let mut header = Header::new_ustar();
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(content.len() as u64);
        // A name over 100 bytes gets an extension header before it.
        builder.append_data(&mut header, name, content).unwrap();
    }
    let layer = builder.into_inner().unwrap();
    let types = [media::LAYER_TAR, media::LAYER_GZIP, media::LAYER_ZSTD, media::NONDIST_GZIP, media::NONDIST_ZSTD];
    for media_type in types {
        let file = blob(&layer, media_type);
        let mut plain = vec![0; layer.len()];
        std::os::unix::fs::FileExt::read_exact_at(&seekable(file.path(), media_type).unwrap(), &mut plain, 0).unwrap();
        assert!(plain == layer, "{media_type}: seekable is not the tar");
        for hash in [false, true] {
            let added: Vec<Entry> = read_layer(file.path(), media_type, hash, None)
                .unwrap()
                .into_iter()
                .map(|c| match c {
                    Change::Add(entry) => entry,
                    other => panic!("{other:?}"),
                })
                .collect();
            let names: Vec<_> = added.iter().map(|e| e.path.as_str()).collect();
            assert_eq!(names, ["a", long_name.as_str(), "b", "c"], "{media_type}");
            for (entry, content) in added.iter().zip([&b"first"[..], &big[..], b"", b"last"]) {
                let read = read_content(file.path(), media_type, entry.offset, entry.size).unwrap();
                assert_eq!(read, content, "{} in {media_type}", entry.path);
                assert_eq!(entry.content, hash.then(|| ContentHash::of(content)), "{} hashed: {hash}", entry.path);
            }
        }
        assert_eq!(uncompressed_size(file.path(), media_type, None).unwrap(), layer.len() as u64, "{media_type}");
    }
}

#[test]
fn only_regular_files_are_hashed() {
    let layer = tar(&[dir("d/"), file("d/f", b"abc"), raw("d/l", EntryType::Symlink, 0o777, "f", b"")]);
    let found = read_layer(blob(&layer, media::LAYER_TAR).path(), media::LAYER_TAR, true, None).unwrap();
    let hashes: Vec<_> = found
        .iter()
        .map(|c| match c {
            Change::Add(e) => e.content,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(hashes, [None, Some(ContentHash::of(b"abc")), None]);
}

fn entry_of(path: &str, kind: Kind) -> Entry {
    Entry { path: path.into(), kind, mode: 0o644, uid: 0, gid: 0, size: 0, offset: 0, content: None }
}

fn entry(path: &str, kind: Kind) -> Change {
    Change::Add(entry_of(path, kind))
}

fn f(path: &str) -> Change {
    entry(path, Kind::File)
}

fn d(path: &str) -> Change {
    entry(path, Kind::Dir)
}

/// `(path, layer)` of every merged entry.
fn view(merged: &Merged) -> Vec<(&str, usize)> {
    merged.entries.iter().map(|(path, (_, layer))| (path.as_str(), *layer)).collect()
}

/// The merged view of these layers.
fn merge(layers: Vec<Vec<Change>>) -> Merged {
    let mut merged = Merged::default();
    for (index, changes) in layers.into_iter().enumerate() {
        merged.apply(index, changes);
    }
    merged
}

#[test]
fn a_whiteout_hides_a_path_and_everything_below_it_but_no_sibling() {
    let merged = merge(vec![
        vec![d("a"), f("a/x"), d("a/sub"), f("a/sub/y"), f("ab"), d("a-b"), f("a-b/z"), f("b")],
        vec![Change::Whiteout("a".into()), Change::Whiteout("never-there".into())],
    ]);
    assert_eq!(view(&merged), [("a-b", 0), ("a-b/z", 0), ("ab", 0), ("b", 0)]);
}

#[test]
fn a_whiteout_applies_to_the_layers_below_only_whatever_its_place_in_the_archive() {
    // The layer re-adds what it removes, the whiteout written after the
    // entry: the new entry stays.
    let merged = merge(vec![
        vec![d("a"), f("a/old"), f("gone")],
        vec![d("a"), f("a/new"), Change::Whiteout("a".into()), Change::Whiteout("gone".into())],
    ]);
    assert_eq!(view(&merged), [("a", 1), ("a/new", 1)]);
}

#[test]
fn an_opaque_directory_keeps_itself_and_this_layers_content_only() {
    let merged = merge(vec![
        vec![d("etc"), f("etc/old"), d("etc/sub"), f("etc/sub/deep"), f("etcetera"), f("keep")],
        vec![f("etc/new"), Change::Opaque("etc".into())],
    ]);
    assert_eq!(view(&merged), [("etc", 0), ("etc/new", 1), ("etcetera", 0), ("keep", 0)]);

    // An opaque root empties everything below.
    let merged = merge(vec![vec![d("a"), f("a/x"), f("b")], vec![Change::Opaque(String::new()), f("c")]]);
    assert_eq!(view(&merged), [("c", 1)]);
}

#[test]
fn a_non_directory_replaces_a_directory_and_everything_below_it() {
    let merged = merge(vec![
        vec![d("a"), f("a/x"), d("a/y"), f("a/y/z"), f("a.txt")],
        vec![entry("a", Kind::Symlink("elsewhere".into()))],
    ]);
    assert_eq!(view(&merged), [("a", 1), ("a.txt", 0)]);
    assert_eq!(merged.entries["a"].0.kind, Kind::Symlink("elsewhere".into()));

    // A directory over a directory merges: the content below stays.
    let merged = merge(vec![vec![d("a"), f("a/x")], vec![d("a"), f("a/y")]]);
    assert_eq!(view(&merged), [("a", 1), ("a/x", 0), ("a/y", 1)]);
    // And a directory replaces a file.
    let merged = merge(vec![vec![f("a")], vec![d("a"), f("a/y")]]);
    assert_eq!(view(&merged), [("a", 1), ("a/y", 1)]);
    assert_eq!(merged.entries["a"].0.kind, Kind::Dir);
}

#[test]
fn hard_links_resolve_to_their_file_across_layers() {
    let busybox = Entry { size: 42, ..entry_of("bin/busybox", Kind::File) };
    let mut merged = merge(vec![
        vec![d("bin"), Change::Add(busybox)],
        vec![entry("bin/ls", Kind::Hardlink("bin/busybox".into())), entry("bin/ll", Kind::Hardlink("bin/ls".into()))],
    ]);
    let (file, layer) = merged.resolve("/bin/ll").unwrap();
    assert_eq!((file.path.as_str(), file.size, *layer), ("bin/busybox", 42, 0));
    assert_eq!(merged.resolve("bin/busybox").unwrap().0.path, "bin/busybox");
    assert!(merged.resolve("bin/missing").is_none());

    // A cycle, or a target hidden by a later layer, resolves to nothing.
    merged.apply(2, vec![entry("x", Kind::Hardlink("y".into())), entry("y", Kind::Hardlink("x".into()))]);
    assert!(merged.resolve("x").is_none());
    merged.apply(3, vec![Change::Whiteout("bin/busybox".into())]);
    assert!(merged.resolve("bin/ls").is_none());
    assert!(merged.entries.contains_key("bin/ls"), "the link itself stays");
}

#[test]
fn children_are_the_names_directly_inside_sorted() {
    let merged = merge(vec![vec![
        d("a"),
        f("a-b"),
        f("a/z"),
        d("a/y"),
        f("a/y/deep"),
        f("a/.hidden"),
        f("a0"),
        d("ab"),
        f("ab/c"),
        f("b"),
    ]]);
    assert_eq!(merged.children("/a/"), [".hidden", "y", "z"]);
    assert_eq!(merged.children("a/y"), ["deep"]);
    assert_eq!(merged.children("a/y/deep"), Vec::<String>::new());
    assert_eq!(merged.children("/"), ["a", "a-b", "a0", "ab", "b"]);
}

/// Found by fuzzing (`fuzz/` target `layer`): a zstd layer of 40 KB whose
/// first entry is a GNU long name that says it is 1.2 GB took that much
/// memory to read. A long name (or pax header) over the bound is refused
/// in every compression; one of 4 KB is read as before.
#[test]
fn a_long_name_that_claims_more_than_the_bound_is_refused() {
    let too_long = crate::oci::tar_entries::MAX_HEADERS as usize + 1;
    for (size, refused) in [(4096, false), (too_long, true)] {
        let name = format!("{}f", "d/".repeat((size - 1) / 2));
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = Header::new_gnu();
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_size(0);
        builder.append_data(&mut header, &name, &b""[..]).unwrap();
        let layer = builder.into_inner().unwrap();
        for media_type in [media::LAYER_TAR, media::LAYER_GZIP, media::LAYER_ZSTD] {
            let blob = blob(&layer, media_type);
            match read_layer(blob.path(), media_type, false, None) {
                Err(e) if refused => assert!(e.to_string().contains("take more than"), "{media_type}: {e}"),
                Ok(changes) if !refused => assert!(matches!(&changes[..], [Change::Add(e)] if e.path == name)),
                other => panic!("{media_type}, {size} bytes: {other:?}"),
            }
        }
    }
}
