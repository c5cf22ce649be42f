//! Images other tools write (issue 16): each fixture is made here, by the
//! test itself or by skopeo, umoci, GNU tar, gzip, xz, bzip2 and zstd,
//! then read, copied and used as a parent by compose-img and compared
//! with skopeo or umoci on the same input. Broken ones are refused with a pinned message and
//! nothing written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::common::{self, Sandbox, assert_success, run, tool};

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const NONDIST_GZIP: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";

/// An OCI layout written by hand, blob by blob.
struct Layout {
    dir: PathBuf,
}

impl Layout {
    fn new(dir: PathBuf) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Layout { dir }
    }

    /// `bytes` as a blob; its descriptor as `media_type`.
    fn put(&self, media_type: &str, bytes: &[u8]) -> Value {
        let digest = compose_img::digest::Digest::of(bytes);
        std::fs::write(self.dir.join("blobs/sha256").join(digest.hex()), bytes).unwrap();
        json!({ "mediaType": media_type, "digest": digest.to_string(), "size": bytes.len() })
    }

    fn put_json(&self, media_type: &str, value: &Value) -> Value {
        self.put(media_type, &serde_json::to_vec(value).unwrap())
    }

    /// An image of one layer (`blob` declared `layer_type`, `diff_id` in
    /// its config); returns the manifest's descriptor.
    fn image(&self, blob: &[u8], layer_type: &str, diff_id: &str) -> Value {
        let layer = self.put(layer_type, blob);
        let config = json!({
            "architecture": "amd64", "os": "linux",
            "config": { "Cmd": ["/f"] },
            "rootfs": { "type": "layers", "diff_ids": [diff_id] },
        });
        let config = self.put_json(CONFIG, &config);
        let manifest = json!({ "schemaVersion": 2, "mediaType": MANIFEST, "config": config, "layers": [layer] });
        self.put_json(MANIFEST, &manifest)
    }

    /// `index.json` naming `entries` (descriptors, tagged by their
    /// `org.opencontainers.image.ref.name` annotation when they have one).
    fn index(&self, entries: &[Value]) {
        let index = json!({ "schemaVersion": 2, "mediaType": INDEX, "manifests": entries });
        std::fs::write(self.dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    }
}

/// `descriptor` annotated with tag `tag`.
fn tagged(mut descriptor: Value, tag: &str) -> Value {
    descriptor["annotations"] = json!({ "org.opencontainers.image.ref.name": tag });
    descriptor
}

/// A tar of `entries` (path, content), and for each `(path, target)` of
/// `links` a symlink whose header mode is 0755 (as some tools write it).
fn tar_of(entries: &[(&str, &[u8])], links: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_path(path).unwrap();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_cksum();
        builder.append(&header, *content).unwrap();
    }
    for (path, target) in links {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_path(path).unwrap();
        header.set_link_name(target).unwrap();
        header.set_size(0);
        header.set_mode(0o755);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_cksum();
        builder.append(&header, std::io::empty()).unwrap();
    }
    builder.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn digest_of(bytes: &[u8]) -> String {
    compose_img::digest::Digest::of(bytes).to_string()
}

fn ours(sandbox: &Sandbox, args: &[&str]) -> Output {
    sandbox.cmd().args(args).output().unwrap()
}

/// compose-img `args`, which must succeed; its stdout.
fn ok(sandbox: &Sandbox, args: &[&str]) -> Vec<u8> {
    let out = ours(sandbox, args);
    assert_success(&out);
    out.stdout
}

/// compose-img `args`, which must fail with exit 1 and no panic; stderr,
/// with the sandbox's path written `$SANDBOX`.
fn refused(sandbox: &Sandbox, args: &[&str]) -> String {
    let out = ours(sandbox, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.stdout.is_empty(), "{args:?} printed a result");
    stderr.replace(&sandbox.path().display().to_string(), "$SANDBOX")
}

fn skopeo(sandbox: &Sandbox, args: &[&str]) -> Vec<u8> {
    let out = Command::new(tool("skopeo")).args(args).current_dir(sandbox.path()).output().unwrap();
    assert_success(&out);
    out.stdout
}

fn skopeo_fails(sandbox: &Sandbox, args: &[&str]) -> bool {
    !Command::new(tool("skopeo")).args(args).current_dir(sandbox.path()).output().unwrap().status.success()
}

/// A recipe `name.toml` of one file on `parent`.
fn child_recipe(sandbox: &Sandbox, name: &str, parent: &str) -> String {
    let recipe = format!(
        "[image]\nname = \"localhost/{name}\"\n[from]\nimage = \"{parent}\"\n[[layer]]\n[[layer.file]]\npath = \"/child\"\ncontent = \"x\"\n"
    );
    sandbox.write(&format!("{name}.toml"), &recipe);
    format!("{name}.toml")
}

/// The example busybox image, gzip layers (umoci reads no zstd), at `oci:bb:1`.
fn busybox(sandbox: &Sandbox) -> PathBuf {
    common::copy_recipes(sandbox.path());
    sandbox.build(&["recipes/busybox.toml", "--compression", "gzip", "--output", "oci:bb:1"]);
    sandbox.path().join("bb")
}

/// The one-file image every hand-made case starts from.
fn one_file() -> Vec<u8> {
    tar_of(&[("f", b"hi\n")], &[("link", "f")])
}

#[test]
fn an_index_entry_without_platform_is_the_image_for_every_command() {
    let sandbox = Sandbox::new();
    let layout = Layout::new(sandbox.path().join("np"));
    let tar = one_file();
    let manifest = layout.image(&tar, LAYER_TAR, &digest_of(&tar));
    let index = layout.put_json(INDEX, &json!({ "schemaVersion": 2, "mediaType": INDEX, "manifests": [manifest] }));
    layout.index(&[tagged(index, "1")]);

    let config = ok(&sandbox, &["inspect", "--config", "oci:np:1"]);
    assert_eq!(config, skopeo(&sandbox, &["inspect", "--config", "--raw", "oci:np:1"]));
    assert!(String::from_utf8(ok(&sandbox, &["ls", "oci:np:1"])).unwrap().contains("/f"));
    ok(&sandbox, &["unpack", "oci:np:1", "root"]);
    assert_eq!(std::fs::read(sandbox.path().join("root/f")).unwrap(), b"hi\n");
    ok(&sandbox, &["copy", "--all", "oci:np:1", "oci:copied"]);
    assert_eq!(
        skopeo(&sandbox, &["inspect", "--raw", "oci:copied:1"]),
        skopeo(&sandbox, &["inspect", "--raw", "oci:np:1"])
    );
    let recipe = child_recipe(&sandbox, "child", "oci:np:1");
    sandbox.build(&[&recipe, "--output", "oci:child"]);
    // The child is the same image podman would build on: the parent's layer first.
    let child = skopeo(&sandbox, &["inspect", "oci:child:latest"]);
    let layers = serde_json::from_slice::<Value>(&child).unwrap()["Layers"].clone();
    assert_eq!(layers[0], manifest_layer(&sandbox.path().join("np"), &manifest));
}

/// The first layer digest of the manifest `descriptor` names in `layout`.
fn manifest_layer(layout: &Path, descriptor: &Value) -> Value {
    common::json_blob(layout, descriptor["digest"].as_str().unwrap())["layers"][0]["digest"].clone()
}

#[test]
fn a_descriptor_that_disagrees_with_its_manifest_is_refused_as_skopeo_refuses_it() {
    let sandbox = Sandbox::new();
    let layout = Layout::new(sandbox.path().join("lies"));
    let tar = one_file();
    let mut manifest = layout.image(&tar, LAYER_TAR, &digest_of(&tar));
    manifest["mediaType"] = json!(DOCKER_MANIFEST);
    layout.index(&[tagged(manifest.clone(), "root")]);
    // The same lie one level down: an index entry.
    let index = layout.put_json(
        INDEX,
        &json!({ "schemaVersion": 2, "mediaType": INDEX, "manifests": [
        { "mediaType": DOCKER_MANIFEST, "digest": manifest["digest"], "size": manifest["size"],
          "platform": { "os": "linux", "architecture": "amd64" } }
    ] }),
    );
    layout.index(&[tagged(manifest, "root"), tagged(index, "entry")]);

    assert!(skopeo_fails(&sandbox, &["copy", "oci:lies:root", "oci:skopeo-copy"]));
    assert!(skopeo_fails(&sandbox, &["copy", "oci:lies:entry", "oci:skopeo-copy"]));
    let root = refused(&sandbox, &["copy", "oci:lies:root", "oci:copy"]);
    let entry = refused(&sandbox, &["inspect", "oci:lies:entry"]);
    let recipe = child_recipe(&sandbox, "child", "oci:lies:entry");
    let build = refused(&sandbox, &["build", &recipe, "--output", "oci:child"]);
    assert!(!sandbox.path().join("copy").exists() && !sandbox.path().join("child").exists());
    insta::assert_snapshot!(format!("{root}{entry}{build}"));
}

#[test]
fn layers_that_are_not_what_they_say_stop_copy_inspect_and_umoci() {
    let sandbox = Sandbox::new();
    let tar = one_file();
    let wrong = Layout::new(sandbox.path().join("wrong-id"));
    wrong.index(&[tagged(wrong.image(&tar, LAYER_TAR, &digest_of(b"something else")), "1")]);
    let not_gzip = Layout::new(sandbox.path().join("not-gzip"));
    not_gzip.index(&[tagged(not_gzip.image(&tar, LAYER_GZIP, &digest_of(&tar)), "1")]);
    let mut messages = String::new();
    for name in ["wrong-id", "not-gzip"] {
        let reference = format!("oci:{name}:1");
        let copy = format!("oci:{name}-copy");
        messages += &refused(&sandbox, &["copy", &reference, &copy]);
        assert!(!sandbox.path().join(format!("{name}-copy")).exists(), "{name}: copy wrote the image");
        messages += &refused(&sandbox, &["inspect", &reference]);
        // umoci refuses both too.
        let out = Command::new(tool("umoci"))
            .args(["unpack", "--rootless", "--image", &format!("{name}:1"), &format!("{name}-umoci")])
            .current_dir(sandbox.path())
            .output()
            .unwrap();
        assert!(!out.status.success(), "umoci unpacked {name}");
    }
    insta::assert_snapshot!(messages);
}

#[test]
fn non_distributable_layers_are_read_when_their_blob_is_there() {
    let sandbox = Sandbox::new();
    let layout = Layout::new(sandbox.path().join("nd"));
    let tar = one_file();
    layout.index(&[tagged(layout.image(&gzip(&tar), NONDIST_GZIP, &digest_of(&tar)), "1")]);
    ok(&sandbox, &["unpack", "oci:nd:1", "ours"]);
    run(Command::new(tool("umoci"))
        .args(["unpack", "--rootless", "--image", "nd:1", "theirs"])
        .current_dir(sandbox.path()));
    let ours = std::fs::read(sandbox.path().join("ours/f")).unwrap();
    assert_eq!(ours, std::fs::read(sandbox.path().join("theirs/rootfs/f")).unwrap());
    ok(&sandbox, &["copy", "oci:nd:1", "oci:nd-copy"]);
    assert_eq!(
        skopeo(&sandbox, &["inspect", "--raw", "oci:nd-copy:1"]),
        skopeo(&sandbox, &["inspect", "--raw", "oci:nd:1"])
    );
    let recipe = child_recipe(&sandbox, "child", "oci:nd:1");
    sandbox.build(&[&recipe, "--output", "oci:child"]);
    // The child keeps the parent layer's type: it is still not to be pushed elsewhere.
    let child = common::json_blob(
        &sandbox.path().join("child"),
        &common::layout_digest(&sandbox.path().join("child"), "latest"),
    );
    assert_eq!(child["layers"][0]["mediaType"], NONDIST_GZIP);
    // A plugin reads the parent's file from that layer, decompressed.
    sandbox.write(
        "copy-up.rhai",
        "fn layer(ctx, args) { ctx.file(\"/copied\", ctx.read_lower(\"/f\"), #{ mode: 0o644 }); }\n",
    );
    let recipe = "[image]\nname = \"localhost/reads\"\n[from]\nimage = \"oci:nd:1\"\n\
                  [[layer]]\n[[layer.plugin]]\nscript = \"copy-up.rhai\"\n";
    sandbox.write("reads.toml", recipe);
    sandbox.build(&["reads.toml", "--output", "oci:reads"]);
    ok(&sandbox, &["unpack", "oci:reads", "reads-fs"]);
    assert_eq!(std::fs::read(sandbox.path().join("reads-fs/copied")).unwrap(), ours);
}

/// `bytes` gzipped by gzip(1) in members of at most `member` bytes each,
/// concatenated: as eStargz writes a member per file, and `cat a.gz b.gz`.
fn gzip_members(sandbox: &Sandbox, bytes: &[u8], member: usize) -> Vec<u8> {
    let part = sandbox.path().join("member");
    bytes
        .chunks(member)
        .flat_map(|chunk| {
            std::fs::write(&part, chunk).unwrap();
            let out = Command::new(tool("gzip")).args(["-n", "-c"]).arg(&part).output().unwrap();
            assert_success(&out);
            out.stdout
        })
        .collect()
}

#[test]
fn gzip_layers_of_many_members_are_read_whole() {
    let sandbox = Sandbox::new();
    let layout = Layout::new(sandbox.path().join("members"));
    let big = common::noise(4, 300_000);
    let tar = tar_of(&[("f", b"hi\n"), ("big", &big), ("last", b"the end\n")], &[]);
    let blob = gzip_members(&sandbox, &tar, 100_000);
    assert!(blob.windows(3).filter(|w| *w == [0x1f, 0x8b, 8]).count() >= 4, "several members");
    layout.index(&[tagged(layout.image(&blob, LAYER_GZIP, &digest_of(&tar)), "1")]);
    ok(&sandbox, &["unpack", "oci:members:1", "ours"]);
    run(Command::new(tool("umoci"))
        .args(["unpack", "--rootless", "--image", "members:1", "theirs"])
        .current_dir(sandbox.path()));
    for file in ["f", "big", "last"] {
        let ours = std::fs::read(sandbox.path().join("ours").join(file)).unwrap();
        assert_eq!(ours, std::fs::read(sandbox.path().join("theirs/rootfs").join(file)).unwrap(), "{file}");
    }
    ok(&sandbox, &["copy", "oci:members:1", "oci:members-copy"]);
    let recipe = child_recipe(&sandbox, "child", "oci:members:1");
    sandbox.build(&[&recipe, "--output", "oci:child"]);
    ok(&sandbox, &["unpack", "oci:child", "child-fs"]);
    assert_eq!(std::fs::read(sandbox.path().join("child-fs/last")).unwrap(), b"the end\n");
}

/// `dir` archived by GNU tar with `--sparse` in `format`.
fn sparse_tar(dir: &Path, format: &str) -> Vec<u8> {
    let out = Command::new(tool("tar"))
        .args([&format!("--format={format}"), "--sparse", "--sort=name", "-cf", "-", "-C"])
        .arg(dir)
        .arg(".")
        .output()
        .unwrap();
    assert_success(&out);
    out.stdout
}

/// GNU tar's `--sparse`, in both its formats, is refused naming the
/// file, by every command that reads the files of a layer, and fast: the
/// old GNU `S` entries (podman and umoci refuse them) were dropped from
/// `ls` and `unpack`, their holes read to the end first (10 KiB of tar
/// declares a terabyte); the pax ones (`GNU.sparse.*` records, which umoci
/// and podman expand) were shown as `GNUSparseFile.N/holes` holding the
/// sparse map.
#[test]
fn sparse_files_of_gnu_tar_are_refused_naming_the_file() {
    let sandbox = Sandbox::new();
    let files = sandbox.path().join("files");
    std::fs::create_dir(&files).unwrap();
    std::fs::write(files.join("f"), b"hi\n").unwrap();
    let holes = std::fs::File::create(files.join("holes")).unwrap();
    std::os::unix::fs::FileExt::write_at(&holes, b"end\n", 1 << 40).unwrap();
    let layout = Layout::new(sandbox.path().join("sparse"));
    let mut blobs = Vec::new();
    let entries: Vec<Value> = ["gnu", "posix"]
        .iter()
        .map(|format| {
            let tar = sparse_tar(&files, format);
            assert!(tar.len() < 1 << 20, "{format}: the holes are not in the tar");
            let blob = gzip(&tar);
            blobs.push(digest_of(&blob));
            tagged(layout.image(&blob, LAYER_GZIP, &digest_of(&tar)), format)
        })
        .collect();
    layout.index(&entries);
    let mut messages = String::new();
    for (format, blob) in ["gnu", "posix"].iter().zip(&blobs) {
        let image = format!("oci:sparse:{format}");
        let start = std::time::Instant::now();
        for args in [vec!["ls", &image], vec!["unpack", &image, "out"]] {
            let message = refused(&sandbox, &args).replace(blob.as_str(), "LAYER");
            messages += &format!("{args:?}\n{message}\n");
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(5), "{format}: {:?}", start.elapsed());
    }
    let umoci = Command::new(tool("umoci"))
        .args(["unpack", "--rootless", "--image", "sparse:gnu", "theirs"])
        .current_dir(sandbox.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&umoci.stderr).contains("unknown typeflag"), "{umoci:?}");
    insta::assert_snapshot!(messages);
}

/// umoci repack writes the root as `.` (as Python's tarfile does): it is
/// the root, not an entry `/.` that `diff` showed added and `commit` took
/// as removed, writing a whiteout `.wh.` that every reader refuses.
#[test]
fn a_root_entry_named_dot_is_the_root() {
    let sandbox = Sandbox::new();
    let layout = Layout::new(sandbox.path().join("um"));
    let tar = tar_of(&[("f", b"hi\n"), ("gone", b"x")], &[]);
    layout.index(&[tagged(layout.image(&gzip(&tar), LAYER_GZIP, &digest_of(&tar)), "1")]);
    let umoci = |args: &[&str]| run(Command::new(tool("umoci")).args(args).current_dir(sandbox.path()));
    umoci(&["unpack", "--rootless", "--image", "um:1", "bundle"]);
    std::fs::remove_file(sandbox.path().join("bundle/rootfs/gone")).unwrap();
    std::fs::write(sandbox.path().join("bundle/rootfs/new"), b"new\n").unwrap();
    umoci(&["repack", "--image", "um:2", "bundle"]);
    let ls = String::from_utf8(ok(&sandbox, &["ls", "oci:um:2"])).unwrap();
    let paths: Vec<&str> = ls.lines().map(|line| line.rsplit("  ").next().unwrap()).collect();
    assert_eq!(paths, ["/f", "/new"], "{ls}");
    let diff = String::from_utf8(ok(&sandbox, &["diff", "oci:um:1", "oci:um:2"])).unwrap();
    assert!(diff.starts_with("A /new\nD /gone\n"), "{diff}");
    ok(&sandbox, &["unpack", "oci:um:2", "fs"]);
    std::fs::write(sandbox.path().join("fs/more"), b"more\n").unwrap();
    ok(&sandbox, &["commit", "fs", "--parent", "oci:um:2", "--output", "oci:committed"]);
    let ls = String::from_utf8(ok(&sandbox, &["ls", "oci:committed"])).unwrap();
    assert!(ls.ends_with("layer 2  /more\n-rw-r--r--  0:0  4 B  layer 1  /new\n"), "{ls}");
}

/// A layer that writes `lib/b` over a lower `lib -> usr/lib` (merged /usr,
/// a layer tar made without looking at the base) writes `usr/lib/b`, as
/// umoci and the runtimes apply it, and as `unpack` did: `ls`, `diff` and
/// plugins took `/lib/b` for a file of its own, and `commit` of the
/// unpacked tree added `/usr/lib/b` again.
#[test]
fn entries_below_a_lower_symlink_land_where_it_points() {
    let sandbox = Sandbox::new();
    let layout = Layout::new(sandbox.path().join("merged-usr"));
    let (base, upper) = (tar_of(&[("usr/lib/a", b"a\n")], &[("lib", "usr/lib")]), tar_of(&[("lib/b", b"b\n")], &[]));
    let config = json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": { "type": "layers", "diff_ids": [digest_of(&base), digest_of(&upper)] },
    });
    let config = layout.put_json(CONFIG, &config);
    let layers = [layout.put(LAYER_GZIP, &gzip(&base)), layout.put(LAYER_GZIP, &gzip(&upper))];
    let manifest = json!({ "schemaVersion": 2, "mediaType": MANIFEST, "config": config, "layers": layers });
    layout.index(&[tagged(layout.put_json(MANIFEST, &manifest), "1")]);
    run(Command::new(tool("umoci"))
        .args(["unpack", "--rootless", "--image", "merged-usr:1", "theirs"])
        .current_dir(sandbox.path()));
    assert_eq!(std::fs::read(sandbox.path().join("theirs/rootfs/usr/lib/b")).unwrap(), b"b\n");
    let ls = String::from_utf8(ok(&sandbox, &["ls", "oci:merged-usr:1"])).unwrap();
    let paths: Vec<&str> = ls.lines().map(|line| line.rsplit("  ").next().unwrap()).collect();
    assert_eq!(paths, ["/lib -> usr/lib", "/usr", "/usr/lib", "/usr/lib/a", "/usr/lib/b"], "{ls}");
    ok(&sandbox, &["unpack", "oci:merged-usr:1", "fs"]);
    std::fs::write(sandbox.path().join("fs/n"), b"n\n").unwrap();
    ok(&sandbox, &["commit", "fs", "--parent", "oci:merged-usr:1", "--output", "oci:committed"]);
    let diff = String::from_utf8(ok(&sandbox, &["diff", "oci:merged-usr:1", "oci:committed"])).unwrap();
    assert!(diff.starts_with("A /n\n+ layer"), "{diff}");
    sandbox
        .write("read-b.rhai", "fn layer(ctx, args) { ctx.file(\"/copied\", ctx.read_lower(\"/usr/lib/b\"), #{}); }\n");
    let recipe = "[image]\nname = \"localhost/reads\"\n[from]\nimage = \"oci:merged-usr:1\"\n\
                  [[layer]]\n[[layer.plugin]]\nscript = \"read-b.rhai\"\n";
    sandbox.write("reads.toml", recipe);
    sandbox.build(&["reads.toml", "--output", "oci:reads"]);
}

/// skopeo's zstd:chunked (frames, a skippable frame holding the table of
/// contents, annotations naming it) is read as the zstd it is: the same
/// files as the gzip image it was converted from, copied and built on.
#[test]
fn zstd_chunked_layers_of_skopeo_are_read() {
    let sandbox = Sandbox::new();
    busybox(&sandbox);
    skopeo(&sandbox, &["copy", "-q", "--dest-compress-format", "zstd:chunked", "oci:bb:1", "oci:chunked:1"]);
    let manifest = common::json_blob(
        &sandbox.path().join("chunked"),
        &common::layout_digest(&sandbox.path().join("chunked"), "1"),
    );
    let layer = &manifest["layers"][0];
    assert_eq!(layer["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd");
    assert!(layer["annotations"]["io.containers.zstd-chunked.manifest-checksum"].is_string(), "{layer}");
    let list = |image: &str| {
        let ls = String::from_utf8(ok(&sandbox, &["ls", image])).unwrap();
        ls.lines().map(|line| line.replace("layer 0", "")).collect::<Vec<_>>()
    };
    assert_eq!(list("oci:chunked:1"), list("oci:bb:1"));
    ok(&sandbox, &["unpack", "oci:chunked:1", "fs"]);
    let busybox = std::fs::read(sandbox.path().join("fs/bin/busybox")).unwrap();
    ok(&sandbox, &["unpack", "oci:bb:1", "bb-fs"]);
    assert!(busybox == std::fs::read(sandbox.path().join("bb-fs/bin/busybox")).unwrap());
    ok(&sandbox, &["copy", "oci:chunked:1", "oci-archive:chunked.tar"]);
    let recipe = child_recipe(&sandbox, "child", "oci-archive:chunked.tar");
    sandbox.build(&[&recipe, "--output", "oci:child"]);
    let layers = |image: &str| skopeo(&sandbox, &["inspect", "--format", "{{.Layers}}", image]);
    let (parent, child) = (layers("oci:chunked:1"), layers("oci:child"));
    assert!(child.starts_with(&parent[..parent.len() - 2]), "the child keeps the zstd:chunked layers");
}

/// A tar written by Python's tarfile with one regular file and, after it,
/// an entry of `kind` (a tarfile type byte) named `name`.
fn tarfile_with(sandbox: &Sandbox, kind: &str, name: &str) -> Vec<u8> {
    let script = format!(
        "import io, tarfile\n\
         with tarfile.open('t.tar', 'w', format=tarfile.GNU_FORMAT) as t:\n\
         \tf = tarfile.TarInfo('f'); f.size = 3; t.addfile(f, io.BytesIO(b'hi\\n'))\n\
         \te = tarfile.TarInfo('{name}'); e.type = {kind}; e.size = 0; t.addfile(e)\n"
    );
    run(Command::new(common::python()).args(["-c", &script]).current_dir(sandbox.path()));
    std::fs::read(sandbox.path().join("t.tar")).unwrap()
}

#[test]
fn entries_no_runtime_applies_are_refused_as_umoci_refuses_them() {
    let sandbox = Sandbox::new();
    let layout = Layout::new(sandbox.path().join("contiguous"));
    let tar = tarfile_with(&sandbox, "tarfile.CONTTYPE", "c");
    layout.index(&[tagged(layout.image(&tar, LAYER_TAR, &digest_of(&tar)), "1")]);
    let mut messages = refused(&sandbox, &["ls", "oci:contiguous:1"]);
    messages += &refused(&sandbox, &["unpack", "oci:contiguous:1", "ours"]);
    let out = Command::new(tool("umoci"))
        .args(["unpack", "--rootless", "--image", "contiguous:1", "theirs"])
        .current_dir(sandbox.path())
        .output()
        .unwrap();
    assert!(!out.status.success(), "umoci unpacked a contiguous file");
    insta::assert_snapshot!(messages);
}

#[test]
fn symlinks_show_the_mode_users_see() {
    let sandbox = Sandbox::new();
    let layout = Layout::new(sandbox.path().join("links"));
    let tar = one_file();
    layout.index(&[tagged(layout.image(&tar, LAYER_TAR, &digest_of(&tar)), "1")]);
    let listing: Value = serde_json::from_slice(&ok(&sandbox, &["ls", "--json", "oci:links:1"])).unwrap();
    let link = listing.as_array().unwrap().iter().find(|r| r["path"] == "/link").unwrap().clone();
    run(Command::new(tool("umoci"))
        .args(["unpack", "--rootless", "--image", "links:1", "theirs"])
        .current_dir(sandbox.path()));
    use std::os::unix::fs::PermissionsExt;
    let theirs = std::fs::symlink_metadata(sandbox.path().join("theirs/rootfs/link")).unwrap().permissions().mode();
    assert_eq!(link["mode"], json!(theirs & 0o7777));
    assert_eq!(link["mode"], json!(0o777));
}

#[test]
fn standalone_artifacts_are_shown_and_copied_byte_for_byte() {
    let sandbox = Sandbox::new();
    let layout = Layout::new(sandbox.path().join("chart"));
    let config = layout.put("application/vnd.cncf.helm.config.v1+json", br#"{"name":"demo","version":"0.1.0"}"#);
    let chart = layout.put("application/vnd.cncf.helm.chart.content.v1.tar+gzip", &gzip(&one_file()));
    let manifest = layout
        .put_json(MANIFEST, &json!({ "schemaVersion": 2, "mediaType": MANIFEST, "config": config, "layers": [chart] }));
    layout.index(&[tagged(manifest, "0.1.0")]);

    let raw = ok(&sandbox, &["inspect", "--raw", "oci:chart:0.1.0"]);
    assert_eq!(raw, skopeo(&sandbox, &["inspect", "--raw", "oci:chart:0.1.0"]));
    assert_eq!(ok(&sandbox, &["inspect", "--config", "oci:chart:0.1.0"]), br#"{"name":"demo","version":"0.1.0"}"#);
    ok(&sandbox, &["copy", "oci:chart:0.1.0", "oci:copied"]);
    ok(&sandbox, &["copy", "oci:copied:0.1.0", "dir:as-dir"]);
    assert_eq!(skopeo(&sandbox, &["inspect", "--raw", "oci:copied:0.1.0"]), raw);
    assert_eq!(skopeo(&sandbox, &["inspect", "--raw", "dir:as-dir"]), raw);
    // Through a registry and back, the same bytes.
    let registry = common::Registry::start();
    let remote = format!("docker://{}/charts/demo:0.1.0", registry.host);
    ok(&sandbox, &["copy", "oci:chart:0.1.0", &remote, "--tls-verify=false"]);
    assert_eq!(skopeo(&sandbox, &["inspect", "--raw", "--tls-verify=false", &remote]), raw);
    ok(&sandbox, &["copy", &remote, "oci:pulled", "--tls-verify=false"]);
    assert_eq!(ok(&sandbox, &["inspect", "--raw", "oci:pulled:0.1.0"]), raw);
    // What needs a file system refuses it, naming what it is.
    let ls = refused(&sandbox, &["ls", "oci:chart:0.1.0"]);
    let recipe = child_recipe(&sandbox, "child", "oci:chart:0.1.0");
    let parent = refused(&sandbox, &["build", &recipe, "--output", "oci:child"]);
    assert!(
        parent.contains(
            "not an image for linux/amd64: its config has media type application/vnd.cncf.helm.config.v1+json"
        ),
        "{parent}"
    );
    assert!(!sandbox.path().join("child").exists());
    let archive = refused(&sandbox, &["copy", "oci:chart:0.1.0", "docker-archive:chart.tar"]);
    assert!(!sandbox.path().join("chart.tar").exists());
    insta::assert_snapshot!(format!("{ls}{archive}"));
}

/// The members of the tar at `path` (regular files only), by name.
fn members(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(std::fs::File::open(path).unwrap());
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        out.push((name, bytes));
    }
    out
}

fn write_tar(path: &Path, files: &[(String, Vec<u8>)]) {
    let mut builder = tar::Builder::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in files {
        let mut header = tar::Header::new_ustar();
        header.set_path(name).unwrap();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, &bytes[..]).unwrap();
    }
    builder.finish().unwrap();
}

#[test]
fn jib_and_compressed_docker_archives_are_read() {
    let sandbox = Sandbox::new();
    busybox(&sandbox);
    let printed = String::from_utf8(ok(&sandbox, &["copy", "oci:bb:1", "docker-archive:bb.tar"])).unwrap();
    assert!(printed.starts_with("docker-archive:bb.tar "), "{printed}");
    let config = skopeo(&sandbox, &["inspect", "--config", "--raw", "docker-archive:bb.tar"]);
    // Jib writes manifest.json's keys in lower case.
    let mut files = members(&sandbox.path().join("bb.tar"));
    for (name, bytes) in &mut files {
        if name == "manifest.json" {
            let text = String::from_utf8(bytes.clone()).unwrap();
            *bytes = text
                .replace("\"Config\"", "\"config\"")
                .replace("\"RepoTags\"", "\"repoTags\"")
                .replace("\"Layers\"", "\"layers\"")
                .into_bytes();
        }
    }
    write_tar(&sandbox.path().join("jib.tar"), &files);
    assert_eq!(skopeo(&sandbox, &["inspect", "--config", "--raw", "docker-archive:jib.tar"]), config);
    // `docker save | gzip` and the other compressors, named or not.
    for (tool_name, file) in
        [("gzip", "bb.tar.gz"), ("xz", "bb.tar.xz"), ("bzip2", "bb.tar.bz2"), ("zstd", "bb.tzst"), ("gzip", "bb-gz")]
    {
        let out = Command::new(tool(tool_name)).arg("-c").arg(sandbox.path().join("bb.tar")).output().unwrap();
        assert_success(&out);
        std::fs::write(sandbox.path().join(file), out.stdout).unwrap();
    }
    for file in ["jib.tar", "bb.tar.gz", "bb.tar.xz", "bb.tar.bz2", "bb.tzst", "bb-gz"] {
        let reference = format!("docker-archive:{file}");
        assert_eq!(ok(&sandbox, &["inspect", "--config", &reference]), config, "{file}");
        if file.ends_with("xz") || file.ends_with("bz2") {
            // skopeo 1.9 reads these two (not gzip): the same config.
            assert_eq!(skopeo(&sandbox, &["inspect", "--config", "--raw", &reference]), config, "{file}");
        }
    }
    // Used as a parent and copied: podman runs the result.
    let recipe = child_recipe(&sandbox, "child", "docker-archive:bb.tar.gz");
    sandbox.build(&[&recipe, "--output", "oci:child"]);
    ok(&sandbox, &["copy", "docker-archive:jib.tar", "oci:fromjib:1"]);
    assert_eq!(skopeo(&sandbox, &["inspect", "--config", "--raw", "oci:fromjib:1"]), config);
    // A compressed file that is not a tar is named as such; an xz file
    // whose dictionary would take 1 GiB to decode is refused, not decoded.
    sandbox.write_bytes("junk.tar.gz", &gzip(b"not a tar at all"));
    let mut messages = refused(&sandbox, &["inspect", "docker-archive:junk.tar.gz"]);
    let out = Command::new(tool("xz"))
        .args(["--format=xz", "--lzma2=preset=0,dict=1GiB", "-c"])
        .arg(sandbox.path().join("bb.tar"))
        .output()
        .unwrap();
    assert_success(&out);
    sandbox.write_bytes("huge-dict.tar.xz", &out.stdout);
    messages += &refused(&sandbox, &["inspect", "docker-archive:huge-dict.tar.xz"]);
    insta::assert_snapshot!(messages);
}

/// An OCI archive compressed whole (`podman save --format oci-archive |
/// gzip`), by any of the four compressors: skopeo and `podman load` read
/// it, and it was "not a valid tar archive" here.
#[test]
fn compressed_oci_archives_are_read() {
    let sandbox = Sandbox::new();
    busybox(&sandbox);
    skopeo(&sandbox, &["copy", "-q", "oci:bb:1", "oci-archive:bb.tar:1"]);
    let config = skopeo(&sandbox, &["inspect", "--config", "--raw", "oci-archive:bb.tar:1"]);
    for tool_name in ["gzip", "xz", "bzip2", "zstd"] {
        let out = Command::new(tool(tool_name)).arg("-c").arg(sandbox.path().join("bb.tar")).output().unwrap();
        assert_success(&out);
        let file = format!("bb.tar.{tool_name}");
        sandbox.write_bytes(&file, &out.stdout);
        let reference = format!("oci-archive:{file}:1");
        assert_eq!(skopeo(&sandbox, &["inspect", "--config", "--raw", &reference]), config, "{file}");
        assert_eq!(ok(&sandbox, &["inspect", "--config", &reference]), config, "{file}");
    }
    let recipe = child_recipe(&sandbox, "child", "oci-archive:bb.tar.zstd:1");
    sandbox.build(&[&recipe, "--output", "oci:child"]);
    ok(&sandbox, &["copy", "oci-archive:bb.tar.gzip:1", "oci:copied"]);
    assert_eq!(skopeo(&sandbox, &["inspect", "--config", "--raw", "oci:copied:1"]), config);
}

#[test]
fn one_image_of_a_two_image_archive_by_name_or_position() {
    let sandbox = Sandbox::new();
    let tar = one_file();
    let a = Layout::new(sandbox.path().join("a"));
    a.index(&[tagged(a.image(&tar, LAYER_TAR, &digest_of(&tar)), "1")]);
    let b = Layout::new(sandbox.path().join("b"));
    let other = tar_of(&[("g", b"other\n")], &[]);
    b.index(&[tagged(b.image(&other, LAYER_TAR, &digest_of(&other)), "1")]);
    // The name after the file is what RepoTags get, as skopeo writes it.
    let printed = ok(&sandbox, &["copy", "oci:a:1", "docker-archive:a.tar:example.com/a:1"]);
    assert!(String::from_utf8(printed).unwrap().starts_with("docker-archive:a.tar:example.com/a:1 "));
    ok(&sandbox, &["copy", "oci:b:1", "docker-archive:b.tar:example.com/b:2"]);
    let manifest = |file: &str| -> Value {
        let files = members(&sandbox.path().join(file));
        serde_json::from_slice(&files.iter().find(|(n, _)| n == "manifest.json").unwrap().1).unwrap()
    };
    assert_eq!(manifest("a.tar")[0]["RepoTags"], json!(["example.com/a:1"]));
    // skopeo finds it by that name.
    let theirs = skopeo(&sandbox, &["inspect", "--config", "--raw", "docker-archive:a.tar:example.com/a:1"]);
    assert_eq!(theirs, ok(&sandbox, &["inspect", "--config", "oci:a:1"]));
    // Both in one archive, as `podman save -m` writes it.
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for file in ["a.tar", "b.tar"] {
        files.extend(members(&sandbox.path().join(file)).into_iter().filter(|(n, _)| n != "manifest.json"));
    }
    let both = json!([manifest("a.tar")[0], manifest("b.tar")[0]]);
    files.push(("manifest.json".into(), serde_json::to_vec(&both).unwrap()));
    write_tar(&sandbox.path().join("two.tar"), &files);
    for chosen in ["example.com/b:2", "@1", "example.com/a:1", "@0"] {
        let reference = format!("docker-archive:two.tar:{chosen}");
        let theirs = skopeo(&sandbox, &["inspect", "--config", "--raw", &reference]);
        assert_eq!(ok(&sandbox, &["inspect", "--config", &reference]), theirs, "{chosen}");
    }
    ok(&sandbox, &["copy", "docker-archive:two.tar:@1", "oci:second"]);
    assert!(String::from_utf8(ok(&sandbox, &["ls", "oci:second:latest"])).unwrap().contains("/g"));
    let recipe = child_recipe(&sandbox, "child", "docker-archive:two.tar:example.com/b:2");
    sandbox.build(&[&recipe, "--output", "oci:child"]);
    assert!(String::from_utf8(ok(&sandbox, &["ls", "oci:child:latest"])).unwrap().contains("/g"));
    let mut messages = String::new();
    for wrong in ["docker-archive:two.tar", "docker-archive:two.tar:example.com/c:1", "docker-archive:two.tar:@2"] {
        messages += &refused(&sandbox, &["inspect", wrong]);
    }
    messages += &refused(&sandbox, &["copy", "oci:a:1", "docker-archive:x.tar:@0"]);
    assert!(!sandbox.path().join("x.tar").exists());
    insta::assert_snapshot!(messages);
}

#[test]
fn dir_round_trips_with_skopeo_both_ways() {
    let sandbox = Sandbox::new();
    busybox(&sandbox);
    let digest = common::layout_digest(&sandbox.path().join("bb"), "1");
    // compose-img writes, skopeo reads.
    let printed = String::from_utf8(ok(&sandbox, &["copy", "oci:bb:1", "dir:ours"])).unwrap();
    assert_eq!(printed, format!("dir:ours {digest}\n"));
    skopeo(&sandbox, &["copy", "--preserve-digests", "dir:ours", "oci:back:1"]);
    assert_eq!(common::layout_digest(&sandbox.path().join("back"), "1"), digest);
    // skopeo writes, compose-img reads (and builds on it).
    skopeo(&sandbox, &["copy", "--preserve-digests", "oci:bb:1", "dir:theirs"]);
    let printed = String::from_utf8(ok(&sandbox, &["copy", "dir:theirs", "oci:mine"])).unwrap();
    assert_eq!(printed, format!("oci:mine:latest {digest}\n"));
    let recipe = child_recipe(&sandbox, "child", "dir:theirs");
    sandbox.build(&[&recipe, "--output", "oci:child"]);
    // An index: every platform, the same digests both ways.
    let multi = common::repo().join("recipes/multiarch.toml").display().to_string();
    let index = sandbox.build(&[&multi, "--compression", "gzip", "--output", "oci:ma"]);
    ok(&sandbox, &["copy", "--all", "oci:ma:latest", "dir:ma-ours"]);
    assert_eq!(digest_of(&skopeo(&sandbox, &["inspect", "--raw", "dir:ma-ours"])), index);
    skopeo(&sandbox, &["copy", "--all", "--preserve-digests", "dir:ma-ours", "oci:ma-back:1"]);
    assert_eq!(common::layout_digest(&sandbox.path().join("ma-back"), "1"), index);
    skopeo(&sandbox, &["copy", "--all", "--preserve-digests", "oci:ma:latest", "dir:ma-theirs"]);
    let printed = String::from_utf8(ok(&sandbox, &["copy", "--all", "dir:ma-theirs", "oci:ma-mine"])).unwrap();
    assert_eq!(printed, format!("oci:ma-mine:latest {index}\n"));
    // Writing again replaces a dir: image; any other directory is refused.
    ok(&sandbox, &["copy", "oci:bb:1", "dir:ma-ours"]);
    assert_eq!(digest_of(&skopeo(&sandbox, &["inspect", "--raw", "dir:ma-ours"])), digest);
    // No cosign signatures in a dir:, refused before anything is built.
    let keygen = sandbox.cmd().env("COSIGN_PASSWORD", "pw").args(["keygen", "--output-prefix", "k"]).output();
    assert_success(&keygen.unwrap());
    let signed = sandbox
        .cmd()
        .env("COSIGN_PASSWORD", "pw")
        .args(["build", "recipes/busybox.toml", "--key", "k.key", "--output", "dir:signed"])
        .output()
        .unwrap();
    assert_eq!(signed.status.code(), Some(2), "{}", String::from_utf8_lossy(&signed.stderr));
    assert!(!sandbox.path().join("signed").exists());
    sandbox.write("notes/readme.txt", "mine");
    insta::assert_snapshot!(refused(&sandbox, &["copy", "oci:bb:1", "dir:notes"]));
    assert_eq!(std::fs::read_to_string(sandbox.path().join("notes/readme.txt")).unwrap(), "mine");
}

#[test]
fn copy_chooses_platforms_as_skopeo_does() {
    let sandbox = Sandbox::new();
    let multi = common::repo().join("recipes/multiarch.toml").display().to_string();
    sandbox.build(&[&multi, "--compression", "gzip", "--output", "oci:ma"]);
    // One platform: its manifest, byte for byte, as skopeo --override-arch copies it.
    let printed =
        String::from_utf8(ok(&sandbox, &["copy", "--platform", "linux/arm64", "oci:ma:latest", "oci:arm"])).unwrap();
    skopeo(
        &sandbox,
        &["--override-arch", "arm64", "copy", "--preserve-digests", "oci:ma:latest", "oci:skopeo-arm:latest"],
    );
    let theirs = common::layout_digest(&sandbox.path().join("skopeo-arm"), "latest");
    assert_eq!(printed, format!("oci:arm:latest {theirs}\n"));
    // Into a docker archive, which holds one image: this machine's by default, as skopeo.
    ok(&sandbox, &["copy", "oci:ma:latest", "docker-archive:ma.tar"]);
    let ours: Value = serde_json::from_slice(&skopeo(&sandbox, &["inspect", "docker-archive:ma.tar"])).unwrap();
    let theirs: Value = serde_json::from_slice(&skopeo(&sandbox, &["inspect", "oci:ma:latest"])).unwrap();
    assert_eq!(ours["Architecture"], theirs["Architecture"]);
    // Several: a new index of them, in the order asked.
    ok(&sandbox, &["copy", "--platform", "linux/arm64", "--platform", "linux/amd64", "oci:ma:latest", "oci:both"]);
    let index =
        common::json_blob(&sandbox.path().join("both"), &common::layout_digest(&sandbox.path().join("both"), "latest"));
    let archs: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(archs, ["amd64", "arm64"], "the index's own order is kept");
    skopeo(&sandbox, &["inspect", "--raw", "oci:both:latest"]);
    let mut messages = refused(&sandbox, &["copy", "--all", "oci:ma:latest", "docker-archive:all.tar"]);
    messages += &refused(&sandbox, &["copy", "--platform", "linux/s390x", "oci:ma:latest", "oci:none"]);
    assert!(!sandbox.path().join("all.tar").exists() && !sandbox.path().join("none").exists());
    insta::assert_snapshot!(messages);
}

#[test]
fn docker_images_get_oci_media_types_in_layouts_unless_digests_are_preserved() {
    let sandbox = Sandbox::new();
    busybox(&sandbox);
    skopeo(&sandbox, &["copy", "--format", "v2s2", "oci:bb:1", "dir:v2"]);
    let docker_digest = digest_of(&std::fs::read(sandbox.path().join("v2/manifest.json")).unwrap());
    for destination in ["oci:conv", "oci-archive:conv.tar"] {
        let printed = String::from_utf8(ok(&sandbox, &["copy", "dir:v2", destination])).unwrap();
        let digest = printed.trim().rsplit(' ').next().unwrap().to_owned();
        assert_ne!(digest, docker_digest, "{destination}: the manifest changed, so did its digest");
        let raw: Value =
            serde_json::from_slice(&skopeo(&sandbox, &["inspect", "--raw", &format!("{destination}:latest")])).unwrap();
        assert_eq!(raw["mediaType"], MANIFEST);
        assert_eq!(raw["config"]["mediaType"], CONFIG);
        assert!(raw["layers"].as_array().unwrap().iter().all(|l| l["mediaType"] == LAYER_GZIP), "{raw}");
    }
    let index: Value = serde_json::from_slice(&std::fs::read(sandbox.path().join("conv/index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["mediaType"], MANIFEST);
    // What umoci (which knows only OCI types) unpacks.
    run(Command::new(tool("umoci"))
        .args(["unpack", "--rootless", "--image", "conv:latest", "unpacked"])
        .current_dir(sandbox.path()));
    assert!(sandbox.path().join("unpacked/rootfs/bin/busybox").exists());
    // A Docker image as a parent: its layers under the child's OCI manifest.
    let recipe = child_recipe(&sandbox, "child", "dir:v2");
    sandbox.build(&[&recipe, "--compression", "gzip", "--output", "oci:child"]);
    run(Command::new(tool("umoci"))
        .args(["unpack", "--rootless", "--image", "child:latest", "child-root"])
        .current_dir(sandbox.path()));
    assert!(sandbox.path().join("child-root/rootfs/child").exists());
    // --preserve-digests keeps the Docker bytes, as skopeo's flag does.
    let printed = String::from_utf8(ok(&sandbox, &["copy", "--preserve-digests", "dir:v2", "oci:kept"])).unwrap();
    assert_eq!(printed, format!("oci:kept:latest {docker_digest}\n"));
    // A Docker list becomes an OCI index, each manifest converted.
    let multi = common::repo().join("recipes/multiarch.toml").display().to_string();
    sandbox.build(&[&multi, "--compression", "gzip", "--output", "oci:ma"]);
    skopeo(&sandbox, &["copy", "--all", "--format", "v2s2", "oci:ma:latest", "dir:ma-v2"]);
    ok(&sandbox, &["copy", "--all", "dir:ma-v2", "oci:ma-conv"]);
    let raw: Value = serde_json::from_slice(&skopeo(&sandbox, &["inspect", "--raw", "oci:ma-conv:latest"])).unwrap();
    assert_eq!(raw["mediaType"], INDEX);
    for entry in raw["manifests"].as_array().unwrap() {
        assert_eq!(entry["mediaType"], MANIFEST);
        let manifest = common::json_blob(&sandbox.path().join("ma-conv"), entry["digest"].as_str().unwrap());
        assert_eq!(manifest["mediaType"], MANIFEST);
    }
    let arch = skopeo(&sandbox, &["--override-arch", "arm64", "inspect", "--config", "--raw", "oci:ma-conv:latest"]);
    assert_eq!(serde_json::from_slice::<Value>(&arch).unwrap()["architecture"], "arm64");
}

#[test]
fn an_untagged_layout_names_its_one_image_and_printed_references_paste_into_skopeo() {
    let sandbox = Sandbox::new();
    common::copy_recipes(sandbox.path());
    let out = ours(&sandbox, &["build", "recipes/busybox.toml", "--output", "oci:bb"]);
    assert_success(&out);
    let line = String::from_utf8(out.stdout).unwrap();
    let (printed, digest) = line.trim().split_once(' ').unwrap();
    assert_eq!(printed, "oci:bb:latest");
    let theirs: Value = serde_json::from_slice(&skopeo(&sandbox, &["inspect", printed])).unwrap();
    assert_eq!(theirs["Digest"], digest);
    // A second tag of the same image, and a signature: still one image.
    ok(&sandbox, &["copy", "oci:bb:latest", "oci:bb:1.0"]);
    assert_success(
        &sandbox.cmd().env("COSIGN_PASSWORD", "pw").args(["keygen", "--output-prefix", "k"]).output().unwrap(),
    );
    let sign = sandbox
        .cmd()
        .env("COSIGN_PASSWORD", "pw")
        .args(["sign", "oci:bb:latest", "--key", "k.key", "--identity", "localhost/bb"])
        .output()
        .unwrap();
    assert_success(&sign);
    let index: Value = serde_json::from_slice(&std::fs::read(sandbox.path().join("bb/index.json")).unwrap()).unwrap();
    // Two tags, the `.sig` tag and the signature bundle (an untagged
    // referrer with its artifactType).
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 4, "{index}");
    assert_eq!(
        entries.iter().filter(|e| e["artifactType"] == "application/vnd.dev.sigstore.bundle.v0.3+json").count(),
        1
    );
    let ours: Value = serde_json::from_slice(&ok(&sandbox, &["inspect", "--json", "oci:bb"])).unwrap();
    assert_eq!(ours["digest"], digest);
    let line = String::from_utf8(ok(&sandbox, &["copy", "oci:bb", "oci-archive:bb.tar"])).unwrap();
    let (printed, _) = line.trim().split_once(' ').unwrap();
    assert_eq!(printed, "oci-archive:bb.tar:latest");
    skopeo(&sandbox, &["inspect", printed]);
    // Two images under two tags: the tag must be named.
    let tar = one_file();
    let two = Layout::new(sandbox.path().join("two"));
    let first = two.image(&tar, LAYER_TAR, &digest_of(&tar));
    let other = tar_of(&[("g", b"g")], &[]);
    let second = two.image(&other, LAYER_TAR, &digest_of(&other));
    two.index(&[tagged(first, "a"), tagged(second, "b")]);
    insta::assert_snapshot!(refused(&sandbox, &["inspect", "oci:two"]));
}

/// As skopeo: without --platform or --all, an index gives only this
/// machine's platform, and a note says so.
#[test]
fn copy_of_an_index_takes_this_machines_platform_by_default() {
    let sandbox = Sandbox::new();
    common::copy_recipes(sandbox.path());
    sandbox.build(&["recipes/multiarch.toml", "--output", "oci:ma:latest"]);
    let out = sandbox.cmd().args(["copy", "oci:ma:latest", "oci:one"]).output().unwrap();
    common::assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is an index of 2 images: copied linux/amd64 (this machine's), as skopeo does"),
        "{stderr}"
    );
    let raw = common::run(sandbox.cmd().args(["inspect", "--raw", "oci:one:latest"]));
    assert!(raw.contains("\"application/vnd.oci.image.manifest.v1+json\""), "{raw}");
    let all = common::run(sandbox.cmd().args(["copy", "--all", "oci:ma:latest", "oci:every"]));
    let index = common::layout_digest(&sandbox.path().join("ma"), "latest");
    assert!(all.ends_with(&format!("{index}\n")), "{all}");
}
