//! Lock files (`compose-img lock`, `build --locked`): a recipe whose parent
//! tag moves still builds what was locked; CI refuses what is not locked;
//! `--check` and `--update` say what moved; multi-platform parents are
//! pinned per platform; lock files are the same bytes everywhere, and a
//! hand-edited one is a located error.

use crate::common;

use std::process::Output;

use common::{Registry, Sandbox, assert_success, json_blob};

/// A scratch recipe for `image` whose one file holds `content`.
fn base(content: &str) -> String {
    format!(
        "[image]\nname = \"localhost/base\"\n[from]\nscratch = true\n[[layer]]\nname = \"v\"\n\
         [[layer.file]]\npath = \"/etc/version\"\ncontent = \"{content}\"\n"
    )
}

/// A recipe on `parent` with one file of its own.
fn child(name: &str, parent: &str, platforms: &str) -> String {
    format!(
        "[image]\nname = \"localhost/{name}\"\nplatforms = [{platforms}]\n[from]\nimage = \"{parent}\"\n\
         [[layer]]\nname = \"mine\"\n[[layer.file]]\npath = \"/etc/mine\"\ncontent = \"{name}\"\n"
    )
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The `org.opencontainers.image.base.digest` of the image `digest` in a layout.
fn base_digest(sandbox: &Sandbox, layout: &str, digest: &str) -> String {
    let manifest = json_blob(&sandbox.path().join(layout), digest);
    manifest["annotations"]["org.opencontainers.image.base.digest"].as_str().unwrap().to_owned()
}

#[test]
fn a_locked_build_survives_a_moved_tag() {
    let registry = Registry::start();
    let sandbox = Sandbox::new();
    let parent = format!("docker://{}/base:1", registry.host);
    sandbox.write("base1.toml", &base("1"));
    sandbox.write("base2.toml", &base("2"));
    let v1 = sandbox.build(&["base1.toml", "--output", &parent, "--tls-verify=false"]);
    sandbox.write("app.toml", &child("app", &parent, "\"linux/amd64\""));

    let out = sandbox.cmd().args(["lock", "app.toml", "--tls-verify=false"]).output().unwrap();
    assert_success(&out);
    assert_eq!(stdout(&out), format!("app.toml.lock: added {parent} {v1}\n"));
    let locked = std::fs::read_to_string(sandbox.path().join("app.toml.lock")).unwrap();
    assert!(locked.contains(&format!("\"linux/amd64\" = \"{v1}\"")), "{locked}");
    let first = sandbox.build(&["app.toml", "--locked", "--output", "oci:first", "--tls-verify=false"]);
    assert_eq!(base_digest(&sandbox, "first", &first), v1);

    // The tag moves: the build still uses what was locked, --locked or not.
    let v2 = sandbox.build(&["base2.toml", "--output", &parent, "--tls-verify=false"]);
    assert_ne!(v1, v2);
    let asked = |registry: &Registry, what: &str| {
        let uri = format!("http.request.uri=\"/v2/base/manifests/{what}\"");
        registry.log().lines().filter(|l| l.contains("response completed") && l.contains(&uri)).count()
    };
    let by_tag = asked(&registry, "1");
    assert_eq!(sandbox.build(&["app.toml", "--output", "oci:again", "--tls-verify=false"]), first);
    assert_eq!(asked(&registry, "1"), by_tag, "a locked build asked for the tag");
    assert!(asked(&registry, &v1) > 0, "the parent was not fetched by digest");
    assert_eq!(
        sandbox.build(&["app.toml", "--locked", "--output", "oci:again2", "--no-cache", "--tls-verify=false"]),
        first
    );

    // --check: exit 1 naming the moved tag, and nothing written.
    let out = sandbox.cmd().args(["lock", "app.toml", "--check", "--tls-verify=false"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("app.toml.lock: moved {parent} {v1} -> {v2}\n"));
    assert!(stderr(&out).contains(&format!("1 reference moved or not locked: {parent}")), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(sandbox.path().join("app.toml.lock")).unwrap(), locked);

    // A reference pinned in the recipe is locked as written, whatever the tag names.
    let pinned = format!("{parent}@{v1}");
    sandbox.write("pinned.toml", &child("pinned", &pinned, "\"linux/amd64\""));
    let out = sandbox.cmd().args(["lock", "pinned.toml", "--update", "--tls-verify=false"]).output().unwrap();
    assert_success(&out);
    assert_eq!(stdout(&out), format!("pinned.toml.lock: added {pinned} {v1}\n"));

    // --update: old → new, and the next build moves with it.
    let out = sandbox.cmd().args(["lock", "app.toml", "--update", &parent, "--tls-verify=false"]).output().unwrap();
    assert_success(&out);
    assert_eq!(stdout(&out), format!("app.toml.lock: moved {parent} {v1} -> {v2}\n"));
    let moved = sandbox.build(&["app.toml", "--locked", "--output", "oci:moved", "--tls-verify=false"]);
    assert_ne!(moved, first);
    assert_eq!(base_digest(&sandbox, "moved", &moved), v2);
    let out = sandbox.cmd().args(["lock", "app.toml", "--check", "--tls-verify=false"]).output().unwrap();
    assert_success(&out);
    assert_eq!(stdout(&out), "");
}

#[test]
fn locked_refuses_what_the_lock_lacks() {
    let registry = Registry::start();
    let sandbox = Sandbox::new();
    let parent = format!("docker://{}/base:1", registry.host);
    sandbox.write("base.toml", &base("1"));
    let v1 = sandbox.build(&["base.toml", "--output", &parent, "--tls-verify=false"]);
    sandbox.write("app.toml", &child("app", &parent, "\"linux/amd64\""));

    for command in ["build", "plan"] {
        let out = sandbox.cmd().args([command, "app.toml", "--locked", "--tls-verify=false"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{command}: {}", stderr(&out));
        let text = stderr(&out);
        assert!(text.contains(&format!("`{parent}` is not in app.toml.lock")), "{text}");
        assert!(text.contains("app.toml:5:9"), "{text}");
        assert!(text.contains("run `compose-img lock app.toml`"), "{text}");
        assert!(!sandbox.path().join("app.toml.lock").exists());
        assert!(!sandbox.path().join("out").exists());
    }

    // Without --locked the reference is locked, with a note.
    let out = sandbox.cmd().args(["plan", "app.toml", "--tls-verify=false"]).output().unwrap();
    assert_success(&out);
    assert!(stderr(&out).contains(&format!("note: app.toml.lock: locked {parent} at {v1}")), "{}", stderr(&out));
    let name = parent.trim_start_matches("docker://");
    assert!(stdout(&out).contains(&format!("(from image {name}@{v1})")), "{}", stdout(&out));
    let out = sandbox.cmd().args(["build", "app.toml", "--locked", "--tls-verify=false"]).output().unwrap();
    assert_success(&out);
    assert!(!stderr(&out).contains("note:"), "{}", stderr(&out));

    // A platform the lock file lacks is as unlocked as a reference.
    sandbox.write("app.toml", &child("app", &parent, "\"linux/amd64\", \"linux/arm64\""));
    let out = sandbox.cmd().args(["build", "app.toml", "--locked", "--tls-verify=false"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("`{parent}` is not locked for linux/arm64 in app.toml.lock")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn multi_platform_parents_are_locked_per_platform() {
    let registry = Registry::start();
    let sandbox = Sandbox::new();
    let parent = format!("docker://{}/multiarch:1", registry.host);
    let multiarch = common::repo().join("recipes/multiarch.toml");
    let index = sandbox.build(&[multiarch.to_str().unwrap(), "--output", &parent, "--tls-verify=false"]);
    let layout = sandbox.path().join("ma");
    sandbox.build(&[multiarch.to_str().unwrap(), "--output", "oci:ma"]);
    let manifests: Vec<(String, String)> = json_blob(&layout, &index)["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["platform"]["architecture"].as_str().unwrap().to_owned(), m["digest"].as_str().unwrap().to_owned()))
        .collect();
    sandbox.write("app.toml", &child("app", &parent, "\"linux/arm64\", \"linux/amd64\""));
    assert_success(&sandbox.cmd().args(["lock", "app.toml", "--tls-verify=false"]).output().unwrap());
    let locked = std::fs::read_to_string(sandbox.path().join("app.toml.lock")).unwrap();
    let expected = format!(
        "{HEADER}version = 1\n\n[[image]]\nreference = \"{parent}\"\ndigest = \"{index}\"\n\n[image.platforms]\n\
         \"linux/amd64\" = \"{}\"\n\"linux/arm64\" = \"{}\"\n",
        manifests[0].1, manifests[1].1
    );
    assert_eq!(locked, expected);

    // The tag moves to a one-platform image: both platforms still build on
    // what was locked.
    sandbox.write("base.toml", &base("other"));
    sandbox.build(&["base.toml", "--output", &parent, "--tls-verify=false"]);
    let digest = sandbox.build(&["app.toml", "--locked", "--output", "oci:app", "--tls-verify=false"]);
    let built = json_blob(&sandbox.path().join("app"), &digest);
    let mut seen = Vec::new();
    for entry in built["manifests"].as_array().unwrap() {
        let arch = entry["platform"]["architecture"].as_str().unwrap();
        let (_, parent_manifest) = manifests.iter().find(|(a, _)| a == arch).unwrap();
        assert_eq!(&base_digest(&sandbox, "app", entry["digest"].as_str().unwrap()), parent_manifest, "{arch}");
        seen.push(arch.to_owned());
    }
    assert_eq!(seen, ["amd64", "arm64"]);
}

const HEADER: &str = "\
# compose-img lock file: the digest of every image its recipe names.
# Written by `compose-img lock`; commit it. `build --locked` fetches by
# these digests and refuses a reference this file lacks.
";

#[test]
fn lock_files_are_stable_and_catch_changed_local_parents() {
    let sandbox = Sandbox::new();
    sandbox.write("base.toml", &base("1"));
    let v1 = sandbox.build(&["base.toml", "--output", "oci:layouts/base:1"]);
    sandbox.write("app.toml", &child("app", "oci:layouts/base:1", "\"linux/amd64\""));
    let out = sandbox.cmd().args(["lock", "app.toml"]).output().unwrap();
    assert_success(&out);
    let text = std::fs::read(sandbox.path().join("app.toml.lock")).unwrap();
    let expected = format!(
        "{HEADER}version = 1\n\n[[image]]\nreference = \"oci:layouts/base:1\"\ndigest = \"{v1}\"\n\n\
         [image.platforms]\n\"linux/amd64\" = \"{v1}\"\n"
    );
    assert_eq!(String::from_utf8_lossy(&text), expected);

    // Again, and from elsewhere with another store: the same bytes.
    let out = sandbox.cmd().args(["lock", "app.toml"]).output().unwrap();
    assert_success(&out);
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("lock files up to date"));
    let elsewhere = Sandbox::new();
    common::run(std::process::Command::new("cp").arg("-a").arg(sandbox.path().join("layouts")).arg(elsewhere.path()));
    elsewhere.write("sub/app.toml", &child("app", "oci:../layouts/base:1", "\"linux/amd64\""));
    elsewhere.write("sub/app2.toml", &child("app", "oci:../layouts/base:1", "\"linux/amd64\""));
    let out = elsewhere.cmd().args(["lock", "sub/app.toml", "sub/app2.toml"]).output().unwrap();
    assert_success(&out);
    let there = std::fs::read(elsewhere.path().join("sub/app.toml.lock")).unwrap();
    assert_eq!(String::from_utf8_lossy(&there), expected.replace("oci:layouts", "oci:../layouts"));
    assert_eq!(std::fs::read(elsewhere.path().join("sub/app2.toml.lock")).unwrap(), there);

    // The local parent changes: a build refuses it, naming it.
    sandbox.write("base.toml", &base("2"));
    let v2 = sandbox.build(&["base.toml", "--output", "oci:layouts/base:1"]);
    let out = sandbox.cmd().args(["build", "app.toml", "--locked", "--tls-verify=false"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert!(text.contains("oci:layouts/base:1 changed since app.toml.lock recorded it"), "{text}");
    assert!(text.contains(&format!("is {v2}, the lock file has {v1}")), "{text}");
    assert!(!sandbox.path().join("out").exists());
    let out = sandbox.cmd().args(["lock", "app.toml", "--check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), format!("app.toml.lock: moved oci:layouts/base:1 {v1} -> {v2}\n"));
    let out = sandbox.cmd().args(["lock", "app.toml", "--update"]).output().unwrap();
    assert_success(&out);
    let built = sandbox.build(&["app.toml", "--locked"]);
    assert_eq!(base_digest(&sandbox, "out/app", &built), v2);

    // --update names references as the recipes write them.
    let out = sandbox.cmd().args(["lock", "app.toml", "--update", "oci:layouts/base"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--update oci:layouts/base: no recipe names this reference"), "{}", stderr(&out));

    // A recipe that stops naming the image drops it from its lock file.
    sandbox.write("app.toml", &base("3"));
    let out = sandbox.cmd().args(["lock", "app.toml"]).output().unwrap();
    assert_success(&out);
    assert_eq!(stdout(&out), "app.toml.lock: removed oci:layouts/base:1\n");
    assert_eq!(
        std::fs::read_to_string(sandbox.path().join("app.toml.lock")).unwrap(),
        format!("{HEADER}version = 1\n")
    );
}

#[test]
fn a_failed_build_writes_no_lock_file() {
    let sandbox = Sandbox::new();
    sandbox.write("base.toml", &base("1"));
    sandbox.build(&["base.toml", "--output", "oci:base"]);
    // Locked for linux/arm64, then refused: the parent is for linux/amd64.
    sandbox.write("app.toml", &child("app", "oci:base", "\"linux/arm64\""));
    let out = sandbox.cmd().args(["build", "app.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("the image is for linux/amd64, not linux/arm64"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("note:"), "{}", stderr(&out));
    assert!(!sandbox.path().join("app.toml.lock").exists());
}

#[test]
fn archives_are_locked_by_digest() {
    let sandbox = Sandbox::new();
    sandbox.write("base.toml", &base("1"));
    sandbox.build(&["base.toml", "--output", "docker-archive:base.tar"]);
    let v1_oci = sandbox.build(&["base.toml", "--output", "oci-archive:base.oci.tar:1"]);
    sandbox.write("docker.toml", &child("docker", "docker-archive:base.tar", "\"linux/amd64\""));
    sandbox.write("oci.toml", &child("oci", "oci-archive:base.oci.tar:1", "\"linux/amd64\""));
    let out = sandbox.cmd().args(["lock", "docker.toml", "oci.toml"]).output().unwrap();
    assert_success(&out);
    // A docker archive's manifest is the Docker schema 2 one read from it.
    let text = stdout(&out);
    let v1 = text.lines().next().unwrap().strip_prefix("docker.toml.lock: added docker-archive:base.tar ").unwrap();
    assert!(v1.starts_with("sha256:"), "{text}");
    assert!(text.ends_with(&format!("\noci.toml.lock: added oci-archive:base.oci.tar:1 {v1_oci}\n")), "{text}");
    let built = sandbox.build(&["docker.toml", "--locked", "--output", "oci:d"]);
    assert_eq!(base_digest(&sandbox, "d", &built), v1);

    // Another archive at the same path: refused, named.
    sandbox.write("base.toml", &base("2"));
    sandbox.build(&["base.toml", "--output", "docker-archive:base.tar"]);
    let out = sandbox.cmd().args(["build", "docker.toml", "--locked", "--output", "oci:d2"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert!(text.contains("docker-archive:base.tar changed since docker.toml.lock recorded it"), "{text}");
    assert!(text.contains("its manifest for linux/amd64 is sha256:"), "{text}");
    assert!(text.contains(&format!(", the lock file has {v1}")), "{text}");
    assert!(!sandbox.path().join("d2").exists());
}

/// `build` of a recipe on `oci:base` whose lock file is `lock`: exit 1,
/// nothing written, the message returned.
fn bad_lock(lock: &str) -> String {
    let sandbox = Sandbox::new();
    sandbox.write("app.toml", &child("app", "oci:base", "\"linux/amd64\""));
    sandbox.write("app.toml.lock", lock);
    let out = sandbox.cmd().args(["build", "app.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!sandbox.store().exists(), "the store was touched");
    assert!(!sandbox.path().join("out").exists());
    assert_eq!(std::fs::read_to_string(sandbox.path().join("app.toml.lock")).unwrap(), lock);
    stderr(&out)
}

const GOOD: &str = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

#[test]
fn a_hand_edited_bad_digest_is_located() {
    let lock = format!(
        "version = 1\n\n[[image]]\nreference = \"oci:base\"\ndigest = \"{GOOD}\"\n\n[image.platforms]\n\
         \"linux/amd64\" = \"sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7a\"\n"
    );
    insta::assert_snapshot!(bad_lock(&lock));
}

#[test]
fn malformed_lock_entries_are_located() {
    let lock = format!(
        "version = 2\n\n[[image]]\nreference = \"oci:\"\ndigest = \"md5:00\"\n\n[image.platforms]\n\
         \"linux\" = \"{GOOD}\"\n\n[[image]]\nreference = \"oci:base\"\ndigest = \"{GOOD}\"\n"
    );
    insta::assert_snapshot!(bad_lock(&lock));
    insta::assert_snapshot!(
        "unknown_key",
        bad_lock("version = 1\n[[image]]\nreference = \"oci:base\"\ndigst = \"x\"\n")
    );
}

#[test]
fn an_unlocked_reference_is_located() {
    let sandbox = Sandbox::new();
    sandbox.write("app.toml", &child("app", "docker://registry.example.com/base:2", "\"linux/amd64\""));
    let out = sandbox.cmd().args(["build", "app.toml", "--locked"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!sandbox.store().exists(), "the store was touched");
    assert!(!sandbox.path().join("app.toml.lock").exists());
    insta::assert_snapshot!(stderr(&out));
}
