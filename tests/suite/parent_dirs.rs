//! A layer never changes the directories it only writes into: /tmp keeps
//! its sticky bit and a home directory its owner in a child image, whether
//! the child writes there with a recipe entry, a `copy` or a plugin, and
//! whoever wrote the parent. Checked with podman (containers/storage) and
//! umoci, the two appliers on these machines.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{Podman, Sandbox, run, tool};

/// busybox plus the directories a distribution image has.
const PARENT: &str = r#"
[image]
name = "localhost/parent"
[from]
recipe = "recipes/busybox.toml"
[[layer]]
name = "dirs"
[[layer.dir]]
path = "/tmp"
mode = "1777"
[[layer.dir]]
path = "/home/app"
mode = "0750"
uid = 1000
gid = 1000
[[layer.dir]]
path = "/srv/private"
mode = "0700"
uid = 1000
"#;

/// Writes below each directory of PARENT in the three ways a layer can,
/// and below a directory no layer has.
fn child(from: &str) -> String {
    format!(
        r#"
[image]
name = "localhost/child"
[from]
{from}
[[layer]]
name = "files"
[[layer.file]]
path = "/tmp/hello"
content = "hi\n"
[[layer.file]]
path = "/opt/new/x"
content = "x\n"
[[layer.copy]]
src = "dotfiles/"
dest = "/home/app/"
uid = 1000
gid = 1000
[[layer]]
name = "plugged"
[[layer.plugin]]
script = "note.rhai"
"#
    )
}

const NOTE: &str = "fn layer(ctx, args) { ctx.file(\"/srv/private/note\", \"from a plugin\\n\"); }\n";

const EXPECTED: &str = "1777 0:0 /tmp\n750 1000:1000 /home/app\n700 1000:0 /srv/private\n755 0:0 /opt/new\n\
                        644 1000:1000 /home/app/.profile\n";

fn sandbox_with_recipes() -> Sandbox {
    let sandbox = Sandbox::new();
    common::copy_recipes(sandbox.path());
    sandbox.write("parent.toml", PARENT);
    sandbox.write("dotfiles/.profile", "export PS1='$ '\n");
    sandbox.write("note.rhai", NOTE);
    sandbox
}

/// `stat` of the checked paths inside `image`, run by podman.
fn podman_stat(sandbox: &Sandbox, image: &str) -> String {
    let podman = Podman::new(sandbox.path());
    let id = run(podman.cmd().args(["pull", "-q", image]));
    let stat = run(podman.cmd().args(Podman::RUN_FLAGS).args(["--entrypoint", "/bin/busybox", id.trim()]).args([
        "stat",
        "-c",
        "%a %u:%g %n",
        "/tmp",
        "/home/app",
        "/srv/private",
        "/opt/new",
        "/home/app/.profile",
    ]));
    run(podman.cmd().args(["rmi", "-f", id.trim()]));
    stat
}

#[test]
fn a_child_keeps_the_directories_of_its_parent_recipe() {
    let sandbox = sandbox_with_recipes();
    sandbox.write("child.toml", &child("recipe = \"parent.toml\""));
    let layout = common::lowercase_tempdir("parent-dirs");
    let output = format!("oci:{}:latest", layout.path().display());
    let recipe = sandbox.path().join("child.toml");
    sandbox.build(&[recipe.to_str().unwrap(), "--output", &output]);
    assert_eq!(podman_stat(&sandbox, &output), EXPECTED);

    // The child's layers name no directory they only write into.
    let names = layer_names(&output);
    let child_layers = &names[names.len() - 2..];
    assert_eq!(child_layers[0], ["home/app/.profile", "opt/new/x", "tmp/hello"]);
    assert_eq!(child_layers[1], ["srv/private/note"]);

    // umoci applies a gzip build the same way.
    let gzip = sandbox.path().join("gz");
    sandbox.build(&[
        recipe.to_str().unwrap(),
        "--compression",
        "gzip",
        "--output",
        &format!("oci:{}:1", gzip.display()),
    ]);
    let bundle = sandbox.path().join("bundle");
    run(Command::new(tool("umoci")).args(["unpack", "--image"]).arg(format!("{}:1", gzip.display())).arg(&bundle));
    let rootfs = bundle.join("rootfs");
    let stat = ["tmp", "home/app", "srv/private", "opt/new", "home/app/.profile"]
        .map(|p| {
            let meta = std::fs::symlink_metadata(rootfs.join(p)).unwrap();
            use std::os::unix::fs::MetadataExt as _;
            format!("{:o} {}:{} /{p}\n", meta.mode() & 0o7777, meta.uid(), meta.gid())
        })
        .concat();
    assert_eq!(stat, EXPECTED);
}

#[test]
fn a_child_of_an_image_skopeo_wrote_keeps_its_restricted_directories() {
    let sandbox = sandbox_with_recipes();
    let parent = sandbox.path().join("parent.toml");
    sandbox.build(&[parent.to_str().unwrap(), "--compression", "gzip", "--output", "oci:ours:1"]);
    // skopeo rewrites it as a docker archive of its own making.
    let archive = sandbox.path().join("theirs.tar");
    run(Command::new(tool("skopeo"))
        .args(["copy", "oci:ours:1"])
        .arg(format!("docker-archive:{}", archive.display()))
        .current_dir(sandbox.path()));
    sandbox.write("child.toml", &child("image = \"docker-archive:theirs.tar\""));
    let layout = common::lowercase_tempdir("skopeo-parent-dirs");
    let output = format!("oci:{}:latest", layout.path().display());
    let recipe = sandbox.path().join("child.toml");
    sandbox.build(&[recipe.to_str().unwrap(), "--output", &output]);
    assert_eq!(podman_stat(&sandbox, &output), EXPECTED);
}

#[test]
fn from_scratch_the_first_layer_names_its_parents_and_later_ones_do_not() {
    let sandbox = Sandbox::new();
    let recipe = sandbox.write(
        "scratch.toml",
        r#"
[image]
name = "localhost/scratch"
[from]
scratch = true
[[layer]]
name = "first"
[[layer.file]]
path = "/a/b/c"
content = "c"
[[layer]]
name = "second"
[[layer.file]]
path = "/d/e/f"
content = "f"
[[layer.dir]]
path = "/a/kept"
mode = "0700"
"#,
    );
    let output = format!("oci:{}:1", sandbox.path().join("out").display());
    sandbox.build(&[recipe.to_str().unwrap(), "--compression", "none", "--output", &output]);
    let names = layer_names(&output);
    assert_eq!(names, [vec!["a/", "a/b/", "a/b/c"], vec!["a/kept/", "d/e/f"]]);
}

/// The entry names of each layer of the image at `reference` (an `oci:`
/// layout of any compression), bottom first.
fn layer_names(reference: &str) -> Vec<Vec<String>> {
    let path = reference.strip_prefix("oci:").unwrap();
    let (dir, tag) = path.rsplit_once(':').unwrap();
    let dir = Path::new(dir);
    let manifest = common::json_blob(dir, &common::layout_digest(dir, tag));
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| {
            let tar = crate::layers::layer_tar(dir, layer);
            let mut archive = tar::Archive::new(&tar[..]);
            let names: BTreeMap<String, ()> = archive
                .entries()
                .unwrap()
                .map(|e| (e.unwrap().path().unwrap().to_string_lossy().into_owned(), ()))
                .collect();
            names.into_keys().collect()
        })
        .collect()
}
