//! The inspection commands on images built by compose-img and on images
//! whose bytes skopeo wrote, cross-checked against `skopeo inspect` and
//! `umoci stat`; `du` on images sharing a parent; `ls` and `diff`.

use crate::common;

use std::collections::BTreeSet;
use std::process::Command;

use common::{Sandbox, run, tool};

fn recipe(name: &str) -> String {
    common::repo().join("recipes").join(name).display().to_string()
}

fn json(sandbox: &Sandbox, args: &[&str]) -> serde_json::Value {
    let out = run(sandbox.cmd().args(args).arg("--json"));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn inspect_and_history_agree_with_skopeo_and_umoci() {
    let sandbox = Sandbox::new();
    sandbox.build(&[&recipe("app.toml"), "--compression", "gzip", "--output", "oci:app:1"]);
    let ours = format!("oci:{}:1", sandbox.path().join("app").display());
    // The same image as skopeo writes it: a docker archive (uncompressed
    // layers, Docker schema 2 config) it made itself.
    let archive = sandbox.path().join("theirs.tar");
    run(Command::new(tool("skopeo")).args(["copy", &ours]).arg(format!("docker-archive:{}", archive.display())));
    let theirs = format!("docker-archive:{}", archive.display());
    for reference in [&ours, &theirs] {
        let skopeo: serde_json::Value =
            serde_json::from_str(&run(Command::new(tool("skopeo")).args(["inspect", reference]))).unwrap();
        let report = json(&sandbox, &["inspect", reference]);
        let layers: Vec<&serde_json::Value> =
            report["layers"].as_array().unwrap().iter().map(|l| &l["digest"]).collect();
        let expected: Vec<&serde_json::Value> = skopeo["Layers"].as_array().unwrap().iter().collect();
        assert_eq!(layers, expected, "{reference}");
        if reference == &ours {
            assert_eq!(report["digest"], skopeo["Digest"]);
        }
        assert_eq!(report["env"], skopeo["Env"]);
        assert_eq!(report["labels"], skopeo["Labels"]);
        assert_eq!(
            report["platform"],
            format!("{}/{}", skopeo["Os"].as_str().unwrap(), skopeo["Architecture"].as_str().unwrap())
        );
        assert_eq!(report["user"], "65532:65532");
        assert_eq!(report["layers"][3]["created_by"], "compose-img layer system");
        let history = json(&sandbox, &["history", reference]);
        assert_eq!(history[0]["created_by"], "compose-img layer slim", "newest first");
        assert_eq!(history.as_array().unwrap().len(), 5);
    }
    // umoci's view of the same layout: the same history, oldest first.
    let stat: serde_json::Value = serde_json::from_str(&run(Command::new(tool("umoci"))
        .args(["stat", "--json", "--image"])
        .arg(format!("{}:1", sandbox.path().join("app").display()))))
    .unwrap();
    let umoci: Vec<&str> =
        stat["history"].as_array().unwrap().iter().map(|h| h["created_by"].as_str().unwrap()).collect();
    let history = json(&sandbox, &["history", &ours]);
    let mut ours_history: Vec<&str> =
        history.as_array().unwrap().iter().map(|h| h["created_by"].as_str().unwrap()).collect();
    ours_history.reverse();
    assert_eq!(umoci, ours_history);
    // --raw is the manifest byte for byte; --config the config.
    let raw = sandbox.cmd().args(["inspect", &ours, "--raw"]).output().unwrap().stdout;
    let skopeo_raw = Command::new(tool("skopeo")).args(["inspect", "--raw", &ours]).output().unwrap().stdout;
    assert_eq!(raw, skopeo_raw);
    let config = sandbox.cmd().args(["inspect", &ours, "--config"]).output().unwrap().stdout;
    let skopeo_config =
        Command::new(tool("skopeo")).args(["inspect", "--config", "--raw", &ours]).output().unwrap().stdout;
    assert_eq!(config, skopeo_config);
}

#[test]
fn du_counts_shared_layers_once() {
    let sandbox = Sandbox::new();
    sandbox.build(&[&recipe("busybox.toml"), "--output", "oci:base"]);
    sandbox.build(&[&recipe("app.toml"), "--output", "oci:app"]);
    let report = json(&sandbox, &["du", "oci:base", "oci:app"]);
    let images = report["images"].as_array().unwrap();
    let size = |i: usize, key: &str| images[i][key].as_u64().unwrap();
    let layers = report["layers"].as_array().unwrap();
    let shared: u64 = layers
        .iter()
        .filter(|l| l["used_by"].as_array().unwrap().len() == 2)
        .map(|l| l["size"].as_u64().unwrap())
        .sum();
    assert!(shared > 1_000_000, "busybox's layer is shared");
    assert_eq!(size(0, "shared_size"), shared);
    assert_eq!(size(1, "shared_size"), shared);
    for i in 0..2 {
        assert_eq!(size(i, "virtual_size"), size(i, "unique_size") + size(i, "shared_size"));
    }
    assert_eq!(report["total_size"].as_u64().unwrap(), size(0, "unique_size") + size(1, "unique_size") + shared);
    let table = run(sandbox.cmd().args(["du", "oci:base", "oci:app"]));
    assert!(table.starts_with("IMAGE     SIZE"), "{table}");
}

#[test]
fn ls_and_diff_see_the_merged_file_system() {
    let sandbox = Sandbox::new();
    sandbox.build(&[&recipe("busybox.toml"), "--output", "oci:base"]);
    sandbox.build(&[&recipe("app.toml"), "--output", "oci:app"]);
    let files = json(&sandbox, &["ls", "oci:app", "/usr"]);
    let paths: Vec<&str> = files.as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert!(paths.contains(&"/usr/lib/os-release"), "{paths:?}");
    assert!(!paths.iter().any(|p| p.starts_with("/usr/share/doc")), "whiteouts applied: {paths:?}");
    let slim = json(&sandbox, &["ls", "oci:app", "--layer", "4"]);
    let kinds: Vec<(&str, &str)> =
        slim.as_array().unwrap().iter().map(|f| (f["path"].as_str().unwrap(), f["kind"].as_str().unwrap())).collect();
    assert!(kinds.contains(&("/usr/share/doc", "whiteout")), "{kinds:?}");
    let home = &json(&sandbox, &["ls", "oci:app", "/home/app"])[0];
    assert_eq!(
        (home["kind"].as_str(), home["uid"].as_u64(), home["layer"].as_u64()),
        (Some("dir"), Some(65532), Some(3))
    );

    let diff = json(&sandbox, &["diff", "oci:base", "oci:app"]);
    let added: Vec<&str> = diff["added"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert!(added.contains(&"/home/app") && added.contains(&"/etc/ssl/cert.pem"), "{added:?}");
    assert!(diff["removed"].as_array().unwrap().is_empty());
    let changed = diff["changed"].as_array().unwrap();
    assert!(
        changed.iter().any(|c| c["path"] == "/etc/passwd" && c["what"] == serde_json::json!(["content"])),
        "{changed:?}"
    );
    assert_eq!(diff["layers_only_in_first"].as_array().unwrap().len(), 0);
    assert_eq!(diff["layers_only_in_second"].as_array().unwrap().len(), 3);
    // The config too: what app.toml sets that busybox does not.
    let config = diff["config"].as_array().unwrap();
    let field = |name: &str| config.iter().find(|c| c["field"] == name).cloned();
    assert_eq!(field("User").unwrap()["second"], "65532:65532", "{config:?}");
    assert_eq!(field("WorkingDir").unwrap()["second"], "/home/app", "{config:?}");
    assert_eq!(field("Cmd").unwrap()["second"], serde_json::json!(["id", "app"]), "{config:?}");
    let text = run(sandbox.cmd().args(["diff", "oci:base", "oci:app"]));
    assert!(text.contains("~ config User: null -> \"65532:65532\"\n"), "{text}");

    // --exit-code: 1 when they differ, 0 when equal, as git diff.
    let differ = sandbox.cmd().args(["diff", "oci:base", "oci:app", "--exit-code"]).output().unwrap();
    assert_eq!(differ.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&differ.stdout).contains("~ config User"));
    let equal = sandbox.cmd().args(["diff", "oci:app", "oci:app", "--exit-code"]).output().unwrap();
    assert_eq!(equal.status.code(), Some(0), "{}", String::from_utf8_lossy(&equal.stderr));
    assert!(equal.stdout.is_empty());
    let neither = sandbox.cmd().args(["diff", "oci:app"]).output().unwrap();
    assert_eq!(neither.status.code(), Some(2));
    let missing = sandbox.cmd().args(["ls", "oci:app", "/nope"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nope does not exist"));
}

/// Two platforms of one index: their config (architecture) and the files
/// built per platform differ.
#[test]
fn diff_compares_two_platforms_of_one_index() {
    let sandbox = Sandbox::new();
    sandbox.build(&[&recipe("multiarch.toml"), "--output", "oci:multi"]);
    let args = ["diff", "oci:multi", "--platform", "linux/amd64", "--other-platform", "linux/arm64"];
    let diff = json(&sandbox, &args);
    let config = diff["config"].as_array().unwrap();
    let arch = config.iter().find(|c| c["field"] == "architecture").unwrap_or_else(|| panic!("{config:?}"));
    assert_eq!((arch["first"].as_str(), arch["second"].as_str()), (Some("amd64"), Some("arm64")));
    let out = sandbox.cmd().args(args).arg("--exit-code").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("~ config architecture: \"amd64\" -> \"arm64\""));
    let same = sandbox.cmd().args(["diff", "oci:multi", "--other-platform", "linux/amd64", "--exit-code"]).output();
    assert_eq!(same.unwrap().status.code(), Some(0));
}

/// What `snapshot` records of one file: relative path, type, mode, uid,
/// gid, link target, content.
type Seen = (String, char, u32, u32, u32, String, Vec<u8>);

/// Every entry under `root`, sorted.
fn snapshot(root: &std::path::Path) -> Vec<Seen> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root).min_depth(1).sort_by_file_name() {
        let entry = entry.unwrap();
        let meta = entry.path().symlink_metadata().unwrap();
        let rel = entry.path().strip_prefix(root).unwrap().display().to_string();
        let (kind, link, content) = if meta.file_type().is_symlink() {
            ('l', std::fs::read_link(entry.path()).unwrap().display().to_string(), Vec::new())
        } else if meta.is_dir() {
            ('d', String::new(), Vec::new())
        } else {
            ('f', String::new(), std::fs::read(entry.path()).unwrap())
        };
        out.push((rel, kind, meta.mode() & 0o7777, meta.uid(), meta.gid(), link, content));
    }
    out
}

#[test]
fn unpack_matches_umoci() {
    let sandbox = Sandbox::new();
    sandbox.build(&[&recipe("app.toml"), "--compression", "gzip", "--output", "oci:app:1"]);
    let ours = sandbox.path().join("ours");
    run(sandbox.cmd().args(["unpack", "oci:app:1"]).arg(&ours));
    let bundle = sandbox.path().join("bundle");
    run(Command::new(tool("umoci"))
        .args(["unpack", "--image"])
        .arg(format!("{}:1", sandbox.path().join("app").display()))
        .arg(&bundle));
    let (mine, theirs) = (snapshot(&ours), snapshot(&bundle.join("rootfs")));
    assert!(mine.len() > 20);
    assert_eq!(mine, theirs);
    let again = sandbox.cmd().args(["unpack", "oci:app:1"]).arg(&ours).output().unwrap();
    assert_eq!(again.status.code(), Some(1), "an unpack into a non-empty directory");
}

/// A layout holding one image of one uncompressed layer, `tar`.
fn layout_with_layer(dir: &std::path::Path, tar: &[u8]) {
    use sha2::Digest as _;
    let hex = |bytes: &[u8]| sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect::<String>();
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        std::fs::write(blobs.join(hex(bytes)), bytes).unwrap();
        (format!("sha256:{}", hex(bytes)), bytes.len())
    };
    let (layer, layer_size) = put(tar);
    let config =
        format!(r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{layer}"]}}}}"#);
    let (config, config_size) = put(config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":{config_size}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer}","size":{layer_size}}}]}}"#
    );
    let (manifest, manifest_size) = put(manifest.as_bytes());
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{manifest}","size":{manifest_size}}}]}}"#
    );
    std::fs::write(dir.join("index.json"), index).unwrap();
}

/// A tar member: name, type, link target, content.
type Member<'a> = (&'a str, tar::EntryType, &'a str, &'a [u8]);

/// A tar of `entries` with names written as given (`..` and absolute ones
/// included, which tar-rs would refuse).
fn raw_tar(entries: &[Member<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, kind, link, content) in entries {
        let mut header = tar::Header::new_gnu();
        header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
        header.as_gnu_mut().unwrap().linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_entry_type(*kind);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(content.len() as u64);
        header.set_cksum();
        builder.append(&header, *content).unwrap();
    }
    builder.into_inner().unwrap()
}

#[test]
fn unpack_never_writes_outside_the_directory() {
    use tar::EntryType::{Directory, Link, Regular, Symlink};
    let sandbox = Sandbox::new();
    let outside = sandbox.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let outside_text = outside.display().to_string();
    let cases: Vec<(&str, Vec<Member<'_>>, &str)> = vec![
        ("dotdot", vec![("../evil", Regular, "", b"x")], "refused layer entry ../evil: `..` climbs out of the root"),
        (
            "through-symlink",
            vec![("link", Symlink, &outside_text, b""), ("link/pwned", Regular, "", b"x")],
            "refused layer entry link/pwned",
        ),
        ("hardlink-out", vec![("h", Link, "../../etc/passwd", b"")], "`..` climbs out of the root"),
        ("hardlink-missing", vec![("h", Link, "/etc/passwd", b"")], "refused layer entry h: hard link to /etc/passwd"),
        (
            "symlink-dir-then-dir",
            vec![("d", Symlink, &outside_text, b""), ("d/sub/", Directory, "", b"")],
            "refused layer entry d/sub/",
        ),
    ];
    for (name, entries, reason) in cases {
        let layout = sandbox.path().join(name);
        layout_with_layer(&layout, &raw_tar(&entries));
        let target = sandbox.path().join(format!("{name}-root"));
        let out = sandbox.cmd().args(["unpack", &format!("oci:{}", layout.display())]).arg(&target).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(stderr.contains(reason), "{name}: `{reason}` missing in {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(walkdir::WalkDir::new(&outside).min_depth(1).into_iter().count(), 0, "{name} wrote outside");
        assert!(!sandbox.path().join("evil").exists());
    }
    // An absolute name is confined: it lands below the directory.
    let layout = sandbox.path().join("absolute");
    layout_with_layer(&layout, &raw_tar(&[("/abs/file", Regular, "", b"inside")]));
    let target = sandbox.path().join("absolute-root");
    run(sandbox.cmd().args(["unpack", &format!("oci:{}", layout.display())]).arg(&target));
    assert_eq!(std::fs::read_to_string(target.join("abs/file")).unwrap(), "inside");
}

#[test]
fn control_characters_in_names_reach_no_terminal() {
    use tar::EntryType::Regular;
    let sandbox = Sandbox::new();
    let layout = sandbox.path().join("esc");
    let evil = "a\x1b[2J\rfake line\nb";
    layout_with_layer(&layout, &raw_tar(&[(evil, Regular, "", b"x")]));
    let reference = format!("oci:{}", layout.display());
    let human = run(sandbox.cmd().args(["ls", &reference]));
    assert!(!human.contains('\x1b') && !human.contains('\r'), "{human:?}");
    assert!(human.contains(r"/a\x1b[2J\rfake line\nb"), "{human}");
    assert_eq!(human.lines().count(), 1, "a name printed as several lines: {human}");
    // JSON stays exact.
    let json: serde_json::Value = serde_json::from_str(&run(sandbox.cmd().args(["ls", "--json", &reference]))).unwrap();
    assert!(json.to_string().contains(&serde_json::to_string(&format!("/{evil}")).unwrap()), "{json}");
}

#[test]
fn malformed_whiteouts_are_refused_by_every_reader() {
    use tar::EntryType::{Directory, Regular};
    let sandbox = Sandbox::new();
    for (name, entries, shown) in [
        (
            "bare",
            vec![("d/", Directory, "", &b""[..]), ("d/f", Regular, "", b"x"), ("d/.wh.", Regular, "", b"")],
            "d/.wh.",
        ),
        ("dotdot", vec![("d/", Directory, "", &b""[..]), ("d/.wh..", Regular, "", b"")], "d/.wh.."),
        ("root", vec![("f", Regular, "", &b"x"[..]), (".wh.", Regular, "", b"")], "`.wh.`"),
    ] {
        let layout = sandbox.path().join(name);
        layout_with_layer(&layout, &raw_tar(&entries));
        let reference = format!("oci:{}", layout.display());
        let target = sandbox.path().join(format!("{name}-root"));
        for args in [vec!["ls", &reference], vec!["unpack", &reference, target.to_str().unwrap()]] {
            let out = sandbox.cmd().args(&args).output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
            assert!(stderr.contains("malformed whiteout") && stderr.contains(shown), "{args:?}: {stderr}");
        }
        // unpack refuses before writing a file of the layer.
        let written = walkdir::WalkDir::new(&target).min_depth(1).into_iter().count();
        assert_eq!(written, 0, "{name}: unpack wrote the layer before refusing it");
    }
}

#[test]
fn unpack_as_root_keeps_setuid_and_setgid_and_commit_sees_no_change() {
    let sandbox = Sandbox::new();
    let recipe = sandbox.write(
        "suid.toml",
        "[image]\nname = \"localhost/suid\"\n[from]\nscratch = true\n[[layer]]\n\
         [[layer.file]]\npath = \"/bin/su\"\ncontent = \"su\"\nmode = \"4755\"\nuid = 1000\n\
         [[layer.file]]\npath = \"/bin/wall\"\ncontent = \"wall\"\nmode = \"2755\"\ngid = 1000\n",
    );
    sandbox.build(&[recipe.to_str().unwrap(), "--output", "oci:suid:1"]);
    let dir = sandbox.path().join("rootfs");
    run(sandbox.cmd().args(["unpack", "oci:suid:1"]).arg(&dir));
    // SAFETY: geteuid has no preconditions.
    let as_root = unsafe { libc::geteuid() } == 0;
    use std::os::unix::fs::MetadataExt as _;
    let mode = |p: &str| std::fs::symlink_metadata(dir.join(p)).unwrap().mode() & 0o7777;
    assert_eq!((mode("bin/su"), mode("bin/wall")), (0o4755, 0o2755), "unpack dropped setuid/setgid");
    if as_root {
        let meta = std::fs::symlink_metadata(dir.join("bin/su")).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (1000, 0));
    }
    let commit = |extra: &[&str]| {
        let args = ["commit"].iter().copied().chain([dir.to_str().unwrap()]);
        let args = args.chain(["--parent", "oci:suid:1", "--output", "oci:same:1"]).chain(extra.iter().copied());
        sandbox.cmd().args(args).output().unwrap()
    };
    // Nothing changed: an error, as `git commit` without --allow-empty.
    let refused = commit(&[]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("nothing to commit (--allow-empty commits an empty layer)"), "{stderr}");
    assert!(!sandbox.path().join("same").exists(), "nothing written");
    let out = commit(&["--allow-empty"]);
    common::assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("committed 0 added or changed, 0 removed"), "{stderr}");
}

#[test]
fn commit_records_exactly_the_changes_reproducibly() {
    let sandbox = Sandbox::new();
    sandbox.build(&[&recipe("app.toml"), "--compression", "gzip", "--output", "oci:app:1"]);
    let dir = sandbox.path().join("rootfs");
    run(sandbox.cmd().args(["unpack", "oci:app:1"]).arg(&dir));
    // Add, change, chmod, remove a file, remove a directory, and replace
    // a directory's whole content.
    std::fs::write(dir.join("etc/motd"), "patched\n").unwrap();
    std::fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    run(Command::new("chmod").arg("700").arg(dir.join("home/app")));
    std::fs::remove_file(dir.join("bin/ls")).unwrap();
    std::fs::remove_dir_all(dir.join("usr/lib")).unwrap();
    std::fs::remove_dir_all(dir.join("etc/ssl/certs")).unwrap();
    std::fs::create_dir(dir.join("etc/ssl/certs")).unwrap();
    std::fs::write(dir.join("etc/ssl/certs/other.pem"), "new\n").unwrap();

    let commit = |from: &std::path::Path, output: &str| {
        let out = sandbox
            .cmd()
            .args(["commit"])
            .arg(from)
            .args(["--parent", "oci:app:1", "--output", output, "--compression", "gzip", "--message", "patch"])
            .output()
            .unwrap();
        common::assert_success(&out);
        common::first_digest(&out)
    };
    let digest = commit(&dir, "oci:patched:1");
    // Another copy of the same content (other inode numbers and times): the same image.
    let copy = sandbox.path().join("copy");
    run(Command::new("cp").arg("-a").arg(&dir).arg(&copy));
    run(Command::new("touch").arg(copy.join("etc/motd")));
    assert_eq!(commit(&copy, "oci:patched:2"), digest, "commit is not reproducible");

    let layer = json(&sandbox, &["ls", "oci:patched:1", "--layer", "5"]);
    let kinds: BTreeSet<(String, String)> = layer
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap().to_owned(), f["kind"].as_str().unwrap().to_owned()))
        .collect();
    for expected in [
        ("/etc/motd", "file"),
        ("/etc/passwd", "file"),
        ("/home/app", "dir"),
        ("/bin/ls", "whiteout"),
        ("/usr/lib", "whiteout"),
        ("/etc/ssl/certs", "opaque"),
        ("/etc/ssl/certs/other.pem", "file"),
    ] {
        assert!(kinds.contains(&(expected.0.to_owned(), expected.1.to_owned())), "{expected:?} missing: {kinds:?}");
    }
    assert!(
        !kinds.iter().any(|(p, _)| p == "/bin/busybox" || p == "/etc/group"),
        "unchanged files in the layer: {kinds:?}"
    );

    // What compose-img and umoci unpack from it is what the directory holds.
    let again = sandbox.path().join("again");
    run(sandbox.cmd().args(["unpack", "oci:patched:1"]).arg(&again));
    assert_eq!(snapshot(&again), snapshot(&dir));
    let bundle = sandbox.path().join("bundle");
    run(Command::new(tool("umoci"))
        .args(["unpack", "--image"])
        .arg(format!("{}:1", sandbox.path().join("patched").display()))
        .arg(&bundle));
    assert_eq!(snapshot(&bundle.join("rootfs")), snapshot(&dir));
    let history = json(&sandbox, &["history", "oci:patched:1"]);
    assert_eq!(
        (history[0]["created_by"].as_str(), history[0]["comment"].as_str()),
        (Some("compose-img commit"), Some("patch"))
    );
}
