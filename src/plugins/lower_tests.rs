//! The merged view below a layer: symlinks resolved as inside the image,
//! stat without following the last one, reads and hashes at offsets in
//! plain and compressed layers, walks with globs and their limit.

use std::io::Write as _;

use tar::{EntryType, Header};

use super::*;

const MAX_READ: u64 = 1 << 20;
use crate::oci::media;

/// A layer of `(name, type, mode, link, content)` entries, uid 1, gid 2.
fn tar(entries: &[(&str, EntryType, u32, &str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, kind, mode, link, content) in entries {
        let mut header = Header::new_gnu();
        header.set_entry_type(*kind);
        header.set_mode(*mode);
        header.set_uid(1);
        header.set_gid(2);
        header.set_size(content.len() as u64);
        if !link.is_empty() {
            header.set_link_name(link).unwrap();
        }
        builder.append_data(&mut header, name, *content).unwrap();
    }
    builder.into_inner().unwrap()
}

/// The layers as blobs of `media_type` in `dir`.
fn lower(dir: &std::path::Path, layers: &[Vec<u8>], media_type: &'static str) -> LowerFs {
    let blobs = layers.iter().enumerate().map(|(i, bytes)| {
        let compressed = match media_type {
            media::LAYER_ZSTD => zstd::encode_all(&bytes[..], 3).unwrap(),
            media::LAYER_GZIP => {
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                gz.write_all(bytes).unwrap();
                gz.finish().unwrap()
            }
            _ => bytes.clone(),
        };
        let path = dir.join(format!("layer{i}"));
        std::fs::write(&path, compressed).unwrap();
        LowerLayer { path, media_type, diff_id: Digest::of(bytes) }
    });
    LowerFs::open(blobs.collect()).unwrap()
}

fn image(dir: &std::path::Path, media_type: &'static str) -> LowerFs {
    let (d, f, s, h) = (EntryType::Directory, EntryType::Regular, EntryType::Symlink, EntryType::Link);
    let below = tar(&[
        ("usr", d, 0o755, "", b""),
        ("usr/lib", d, 0o755, "", b""),
        ("usr/lib/os-release", f, 0o644, "", b"ID=test\n"),
        ("usr/bin", d, 0o755, "", b""),
        ("usr/bin/tool", f, 0o755, "", &[0, 159, 146, 150, 1]),
        ("lib", s, 0o777, "usr/lib", b""),
        ("etc", d, 0o755, "", b""),
        ("etc/os-release", s, 0o777, "../usr/lib/os-release", b""),
        ("etc/loop", s, 0o777, "/etc/loop", b""),
        ("etc/abs", s, 0o777, "/usr/bin/tool", b""),
    ]);
    let above =
        tar(&[("usr/bin/other", f, 0o700, "", b"second layer"), ("usr/bin/same", h, 0o644, "usr/bin/tool", b"")]);
    lower(dir, &[below, above], media_type)
}

#[test]
fn paths_resolve_through_symlinks_as_inside_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let fs = image(dir.path(), media::LAYER_TAR);
    assert_eq!(fs.read("/etc/os-release", MAX_READ, "read_lower").unwrap(), b"ID=test\n");
    assert_eq!(fs.read("/lib/os-release", MAX_READ, "read_lower").unwrap(), b"ID=test\n");
    assert_eq!(fs.read("/etc/abs", MAX_READ, "read_lower").unwrap(), [0, 159, 146, 150, 1]);
    assert_eq!(fs.read("/usr/../../usr/bin/same", MAX_READ, "read_lower").unwrap(), [0, 159, 146, 150, 1]);
    assert!(fs.exists("/lib/os-release").unwrap() && fs.exists("/etc/os-release").unwrap());
    assert!(!fs.exists("/lib/nothing").unwrap());
    assert_eq!(fs.list("/lib").unwrap(), ["os-release"]);
    assert_eq!(fs.readlink("/etc/os-release").unwrap(), "../usr/lib/os-release");
    let error = fs.read("/etc/loop", MAX_READ, "read_lower").unwrap_err().to_string();
    assert_eq!(error, "/etc/loop: more than 40 symlinks in the layers below (a loop?)");
    assert_eq!(fs.readlink("/usr").unwrap_err().to_string(), "/usr is not a symlink in the layers below");
    let error = fs.read("/usr/bin/tool", 4, "read_lower_blob").unwrap_err().to_string();
    assert_eq!(error, "/usr/bin/tool is 5 bytes, over the 4-byte limit of read_lower_blob");
}

#[test]
fn stat_tells_the_entry_itself() {
    let dir = tempfile::tempdir().unwrap();
    let fs = image(dir.path(), media::LAYER_ZSTD);
    let link = fs.stat("/etc/os-release").unwrap();
    assert_eq!((link.kind, link.mode, link.target.as_str()), ("symlink", 0o777, "../usr/lib/os-release"));
    let tool = fs.stat("/usr/bin/same").unwrap();
    assert_eq!((tool.kind, tool.mode, tool.uid, tool.gid, tool.size), ("file", 0o755, 1, 2, 5));
    let root = fs.stat("/").unwrap();
    assert_eq!((root.kind, root.mode), ("dir", 0o755));
    assert_eq!(fs.stat("/nope").unwrap_err().to_string(), "/nope does not exist in the layers below");
}

#[test]
fn reads_and_hashes_find_content_at_its_offset_in_every_compression() {
    for media_type in [media::LAYER_TAR, media::LAYER_GZIP, media::LAYER_ZSTD] {
        let dir = tempfile::tempdir().unwrap();
        let fs = image(dir.path(), media_type);
        assert_eq!(fs.read("/usr/bin/other", MAX_READ, "read_lower").unwrap(), b"second layer", "{media_type}");
        assert_eq!(fs.sha256("/usr/bin/other").unwrap(), Digest::of(b"second layer"));
        assert_eq!(fs.sha256("/lib/os-release").unwrap(), Digest::of(b"ID=test\n"));
        #[allow(clippy::disallowed_methods, reason = "only counted")]
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "a decompressed copy leaves no file behind");
    }
}

#[test]
fn walks_match_globs_below_a_directory_and_stop_at_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let fs = image(dir.path(), media::LAYER_TAR);
    assert_eq!(fs.walk("/usr", "bin/*", 10).unwrap(), ["/usr/bin/other", "/usr/bin/same", "/usr/bin/tool"]);
    assert_eq!(fs.walk("/", "**/os-release", 10).unwrap(), ["/etc/os-release", "/usr/lib/os-release"]);
    assert_eq!(fs.walk("/lib", "", 10).unwrap(), ["/lib/os-release"]);
    assert_eq!(fs.walk("/", "*", 10).unwrap(), ["/etc", "/lib", "/usr"]);
    let error = fs.walk("/usr", "**", 2).unwrap_err().to_string();
    assert_eq!(
        error,
        "more than 2 paths below /usr match `**` (the array limit): walk a narrower directory or pattern"
    );
    assert!(fs.walk("/", "[", 2).unwrap_err().to_string().starts_with("`[` is not a glob pattern"));
    assert_eq!(fs.walk("/etc/abs", "", 2).unwrap_err().to_string(), "/etc/abs is not a directory in the layers below");
}

fn pending_file(path: &str, content: Pending, size: u64) -> PendingEntry {
    let entry =
        Entry { path: path.into(), kind: Kind::File, mode: 0o600, uid: 7, gid: 8, size, offset: 0, content: None };
    PendingEntry::Add { entry, content: Some(content) }
}

#[test]
fn pending_entries_of_the_layer_lie_over_the_layers_below() {
    let dir = tempfile::tempdir().unwrap();
    let fs = image(dir.path(), media::LAYER_GZIP);
    let host = dir.path().join("host-file");
    std::fs::write(&host, b"from the host").unwrap();
    let view = fs.with_pending(vec![
        pending_file("usr/lib/os-release", Pending::Inline(Arc::from(&b"ID=mine\n"[..])), 8),
        pending_file("usr/bin/copied", Pending::Host(host.clone()), 13),
        PendingEntry::Whiteout("usr/bin/other".into()),
    ]);
    assert_eq!(view.read("/etc/os-release", MAX_READ, "read_lower").unwrap(), b"ID=mine\n", "through the symlink");
    assert_eq!(view.sha256("/usr/bin/copied").unwrap(), Digest::of(b"from the host"));
    assert_eq!(view.read("/usr/bin/tool", MAX_READ, "read_lower").unwrap(), [0, 159, 146, 150, 1]);
    assert!(!view.exists("/usr/bin/other").unwrap());
    let stat = view.stat("/usr/lib/os-release").unwrap();
    assert_eq!((stat.mode, stat.uid, stat.gid, stat.size), (0o600, 7, 8, 8));
    assert_eq!(fs.read("/etc/os-release", MAX_READ, "read_lower").unwrap(), b"ID=test\n", "the layers below unchanged");
    std::fs::remove_file(&host).unwrap();
    let error = view.read("/usr/bin/copied", MAX_READ, "read_lower").unwrap_err().to_string();
    assert!(error.starts_with(&format!("cannot read /usr/bin/copied from {}", host.display())), "{error}");
}
