//! The layer tar format (docs/recipes.md#reproducibility), read back with the `tar` crate: order,
//! headers, PAX extensions, links, whiteouts, and the compression variants.

use crate::common;

use std::os::unix::fs::symlink;

use common::{Sandbox, json_blob, layout_digest};

const LONG: &str = "a-directory-name-that-is-long/another-directory-name-that-is-longer-still/and-a-file-name-past-one-hundred-bytes.txt";

struct Entry {
    name: String,
    kind: tar::EntryType,
    mode: u32,
    uid: u64,
    gid: u64,
    link: Option<String>,
    content: Vec<u8>,
}

/// Builds `recipe` in `sandbox` with `args` and returns the uncompressed
/// tars of its layers (checked against their diff_ids) and the config.
fn layers(sandbox: &Sandbox, args: &[&str]) -> (Vec<Vec<u8>>, serde_json::Value) {
    let mut all = vec!["r.toml", "--output", "oci:img:t", "--source-date-epoch", "1000"];
    all.extend_from_slice(args);
    sandbox.build(&all);
    let layout = sandbox.path().join("img");
    let manifest = json_blob(&layout, &layout_digest(&layout, "t"));
    let config = json_blob(&layout, manifest["config"]["digest"].as_str().unwrap());
    let tars: Vec<Vec<u8>> =
        manifest["layers"].as_array().unwrap().iter().map(|layer| crate::layers::layer_tar(&layout, layer)).collect();
    for (tar, diff_id) in tars.iter().zip(config["rootfs"]["diff_ids"].as_array().unwrap()) {
        let digest = compose_img::digest::Digest::of(tar).to_string();
        assert_eq!(&digest, diff_id.as_str().unwrap());
    }
    (tars, config)
}

fn entries(tar: &[u8]) -> Vec<Entry> {
    let mut archive = tar::Archive::new(tar);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let header = e.header().clone();
            assert_eq!(header.mtime().unwrap(), 1000);
            assert_eq!(header.username_bytes(), Some(&b""[..]));
            assert_eq!(header.groupname_bytes(), Some(&b""[..]));
            assert!(header.as_ustar().is_some(), "not a ustar/PAX header");
            let mut content = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut content).unwrap();
            Entry {
                name: String::from_utf8(e.path_bytes().to_vec()).unwrap(),
                kind: header.entry_type(),
                mode: header.mode().unwrap(),
                uid: header.uid().unwrap(),
                gid: header.gid().unwrap(),
                link: e.link_name_bytes().map(|l| String::from_utf8(l.to_vec()).unwrap()),
                content,
            }
        })
        .collect()
}

fn tree_recipe(sandbox: &Sandbox) {
    sandbox.write("src/bin/tool", "#!/bin/sh\n");
    std::fs::set_permissions(sandbox.path().join("src/bin/tool"), std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .unwrap();
    sandbox.write("src/etc/a.conf", "a\n");
    sandbox.write("src/skip.pyc", "x");
    sandbox.write(&format!("src/{LONG}"), "long\n");
    std::fs::hard_link(sandbox.path().join("src/etc/a.conf"), sandbox.path().join("src/etc/b.conf")).unwrap();
    symlink("/etc/passwd", sandbox.path().join("src/etc/outside")).unwrap();
    symlink("../../..", sandbox.path().join("src/etc/up")).unwrap();
    sandbox.write(
        "r.toml",
        r#"[image]
name = "localhost/format"
[from]
scratch = true

[[layer]]
name = "files"
[[layer.copy]]
src = "src/"
dest = "/opt/app"
exclude = ["**/*.pyc"]
uid = 10
gid = 20
[[layer.file]]
path = "/opt/app/bin/z-last"
content = "z"
mode = "4755"
[[layer.dir]]
path = "/tmp"
mode = "1777"
[[layer.hardlink]]
path = "/opt/app/bin/a-first"
target = "/opt/app/bin/z-last"

[[layer]]
name = "removals"
remove = ["/opt/app/etc/b.conf", "/var/cache/*"]
[[layer.file]]
path = "/var/cache/kept"
content = "k"
"#,
    );
}

#[test]
fn entries_are_sorted_normalised_and_complete() {
    let sandbox = Sandbox::new();
    tree_recipe(&sandbox);
    let (tars, config) = layers(&sandbox, &["--compression", "none"]);
    let files = entries(&tars[0]);
    let names: Vec<&str> = files.iter().map(|e| e.name.trim_end_matches('/')).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "entries are not sorted bytewise");
    for (i, name) in names.iter().enumerate() {
        if let Some((parent, _)) = name.rsplit_once('/') {
            assert!(names[..i].contains(&parent), "{parent} does not come before {name}");
        }
    }
    let get = |name: &str| files.iter().find(|e| e.name.trim_end_matches('/') == name).unwrap();

    assert_eq!(get("opt").mode, 0o755);
    assert_eq!((get("opt").uid, get("opt").gid), (0, 0), "implied parents are root's");
    assert_eq!((get("opt/app").uid, get("opt/app/etc").gid), (10, 20), "copied dirs take the copy's owner");
    assert_eq!(get("opt/app/bin/tool").mode, 0o755, "an x bit on the host gives 0755");
    assert_eq!(get("opt/app/etc/a.conf").mode, 0o644);
    assert_eq!(get("tmp").mode, 0o1777);
    assert_eq!(get("tmp").kind, tar::EntryType::Directory);
    assert!(!names.iter().any(|n| n.ends_with(".pyc")), "exclude ignored");

    let long = get(&format!("opt/app/{LONG}"));
    assert_eq!(long.content, b"long\n", "PAX path of a long name");

    let outside = get("opt/app/etc/outside");
    assert_eq!((outside.kind, outside.link.as_deref()), (tar::EntryType::Symlink, Some("/etc/passwd")));
    assert_eq!(get("opt/app/etc/up").link.as_deref(), Some("../../.."));

    // Host hard links stay hard links, to the first path in tar order.
    let b = get("opt/app/etc/b.conf");
    assert_eq!((b.kind, b.link.as_deref()), (tar::EntryType::Link, Some("opt/app/etc/a.conf")));
    // An explicit link whose target sorts later: the content moves to the
    // first path so the link names an earlier entry.
    let first = get("opt/app/bin/a-first");
    assert_eq!((first.kind, first.mode, &first.content[..]), (tar::EntryType::Regular, 0o4755, &b"z"[..]));
    let last = get("opt/app/bin/z-last");
    assert_eq!((last.kind, last.link.as_deref()), (tar::EntryType::Link, Some("opt/app/bin/a-first")));

    let removals = entries(&tars[1]);
    let names: Vec<&str> = removals.iter().map(|e| e.name.as_str()).collect();
    // A layer with layers below names no directory it only writes into
    // (docs/recipes.md#implied-directories), not even the one it empties.
    assert_eq!(names, ["opt/app/etc/.wh.b.conf", "var/cache/.wh..wh..opq", "var/cache/kept"]);

    let history: Vec<&str> =
        config["history"].as_array().unwrap().iter().map(|h| h["created_by"].as_str().unwrap()).collect();
    assert_eq!(history, ["compose-img layer files", "compose-img layer removals"]);
    // The archive ends with exactly two zero blocks after the last entry.
    assert!(tars[0].ends_with(&[0u8; 1024]) && tars[0].len() % 512 == 0);
}

#[test]
fn compression_changes_the_blob_not_the_tar() {
    let sandbox = Sandbox::new();
    tree_recipe(&sandbox);
    let (none, _) = layers(&sandbox, &["--compression", "none"]);
    let (gzip, _) = layers(&sandbox, &["--compression", "gzip", "--level", "9"]);
    let (zstd, _) = layers(&sandbox, &["--compression", "zstd", "--level", "19"]);
    assert_eq!(none, gzip);
    assert_eq!(none, zstd);
}

#[test]
fn a_file_that_changes_during_the_build_is_an_error() {
    // A file whose size differs from the planned size: /proc files report 0
    // bytes but have content.
    let sandbox = Sandbox::new();
    sandbox.write(
        "r.toml",
        "[image]\nname = \"localhost/x\"\n[from]\nscratch = true\n[[layer]]\n[[layer.copy]]\nsrc = \"/proc/self/status\"\ndest = \"/status\"\n",
    );
    let out = sandbox.cmd().args(["build", "r.toml"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("changed while it was being read"), "{stderr}");
    assert!(!sandbox.path().join("out").exists());
}
