//! Parent recipes, the layer cache, concurrent and killed builds on one
//! store, and determinism across `--jobs`.

use crate::common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};
use std::time::Duration;

use common::{Sandbox, json_blob, layout_digest};

fn base_and_children(sandbox: &Sandbox) {
    sandbox.write("base/motd", "base\n");
    sandbox.write(
        "base.toml",
        "[image]\nname = \"localhost/base\"\n[from]\nscratch = true\n[config]\nenv = { PATH = \"/bin\" }\n\
         [[layer]]\nname = \"base\"\n[[layer.copy]]\nsrc = \"base/motd\"\ndest = \"/etc/motd\"\n",
    );
    for child in ["one", "two"] {
        sandbox.write(&format!("{child}/file"), &format!("{child}\n"));
        sandbox.write(
            &format!("{child}.toml"),
            &format!(
                "[image]\nname = \"localhost/{child}\"\n[from]\nrecipe = \"base.toml\"\n[config]\nenv = {{ LANG = \"C\" }}\n\
                 [[layer]]\nname = \"{child}\"\n[[layer.copy]]\nsrc = \"{child}/file\"\ndest = \"/{child}\"\n"
            ),
        );
    }
}

fn build(sandbox: &Sandbox, args: &[&str]) -> Output {
    let out = sandbox.cmd().arg("build").args(args).output().unwrap();
    common::assert_success(&out);
    out
}

/// The `layers: N built, M reused` counts of a build's summary line.
fn counts(out: &Output) -> (usize, usize) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr.lines().find(|l| l.starts_with("layers: ")).unwrap_or_else(|| panic!("no summary: {stderr}"));
    let words: Vec<&str> = line.split([' ', ',']).filter(|w| !w.is_empty()).collect();
    (words[1].parse().unwrap(), words[3].parse().unwrap())
}

fn manifest(sandbox: &Sandbox, name: &str) -> serde_json::Value {
    let layout = sandbox.path().join("out").join(name);
    json_blob(&layout, &layout_digest(&layout, "latest"))
}

#[test]
fn a_child_stacks_on_its_parent_which_is_built_once() {
    let sandbox = Sandbox::new();
    base_and_children(&sandbox);
    let out = build(&sandbox, &["one.toml", "two.toml", "base.toml"]);
    assert_eq!(counts(&out), (3, 0), "the base layer is built once for both children");
    let base = manifest(&sandbox, "base");
    for child in ["one", "two"] {
        let m = manifest(&sandbox, child);
        let layers = m["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 2);
        assert_eq!(layers[0], base["layers"][0], "the parent's layer is reused unchanged");
        assert_eq!(
            m["annotations"]["org.opencontainers.image.base.digest"],
            layout_digest(&sandbox.path().join("out/base"), "latest").as_str()
        );
        assert_eq!(m["annotations"]["org.opencontainers.image.base.name"], "localhost/base:latest");
        let layout = sandbox.path().join("out").join(child);
        let config = json_blob(&layout, m["config"]["digest"].as_str().unwrap());
        assert_eq!(config["config"]["Env"], serde_json::json!(["PATH=/bin", "LANG=C"]));
        assert_eq!(config["history"].as_array().unwrap().len(), 2);
        assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    }
    // A parent that is only named through `from.recipe` is built, not written.
    let only_child = Sandbox::new();
    base_and_children(&only_child);
    build(&only_child, &["one.toml"]);
    assert!(!only_child.path().join("out/base").exists());
}

#[test]
fn cycles_are_refused_with_the_whole_cycle() {
    let sandbox = Sandbox::new();
    let recipe = |from: &str| format!("[image]\nname = \"localhost/x\"\n[from]\nrecipe = \"{from}\"\n");
    sandbox.write("a.toml", &recipe("b.toml"));
    sandbox.write("b.toml", &recipe("c.toml"));
    sandbox.write("c.toml", &recipe("a.toml"));
    sandbox.write("self.toml", &recipe("self.toml"));
    for (name, args) in [("cycle_of_three", vec!["build", "a.toml"]), ("names_itself", vec!["build", "self.toml"])] {
        let out = sandbox.cmd().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(!sandbox.path().join("out").exists());
        insta::assert_snapshot!(name, String::from_utf8(out.stderr).unwrap());
    }
}

/// `r.toml`: layer `a` copies `a/data`, layer `b` copies `b/data`.
fn two_layers() -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.write("a/data", "aaaa\n");
    sandbox.write("b/data", "bbbb\n");
    sandbox.write(
        "r.toml",
        "[image]\nname = \"localhost/c\"\n[from]\nscratch = true\n\
         [[layer]]\nname = \"a\"\n[[layer.copy]]\nsrc = \"a/\"\ndest = \"/a\"\n\
         [[layer]]\nname = \"b\"\n[[layer.copy]]\nsrc = \"b/\"\ndest = \"/b\"\n",
    );
    sandbox
}

#[test]
fn unchanged_layers_are_reused_and_changed_inputs_rebuild_only_their_layer() {
    let sandbox = two_layers();
    let first = build(&sandbox, &["r.toml"]);
    assert_eq!(counts(&first), (2, 0));
    let second = build(&sandbox, &["r.toml"]);
    assert_eq!(counts(&second), (0, 2));
    assert_eq!(common::first_digest(&first), common::first_digest(&second));

    // Same size, restored mtime, other content: the ctime gives it away.
    let path = sandbox.path().join("b/data");
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::fs::write(&path, "BBBB\n").unwrap();
    std::fs::File::options().write(true).open(&path).unwrap().set_modified(mtime).unwrap();
    let third = build(&sandbox, &["r.toml"]);
    assert_eq!(counts(&third), (1, 1), "exactly the layer holding the changed file is rebuilt");
    assert_ne!(common::first_digest(&third), common::first_digest(&second));

    assert_eq!(counts(&build(&sandbox, &["r.toml", "--no-cache"])), (2, 0));
    // Another SOURCE_DATE_EPOCH or compression is another key.
    assert_eq!(counts(&build(&sandbox, &["r.toml", "--source-date-epoch", "7"])), (2, 0));
    assert_eq!(counts(&build(&sandbox, &["r.toml", "--compression", "gzip"])), (2, 0));
}

#[test]
fn an_unchanged_rebuild_finds_its_layers_by_stat_without_the_input_index() {
    let sandbox = two_layers();
    // Inputs changed within 2 s of a build are not trusted by stat.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let first = build(&sandbox, &["r.toml"]);
    assert_eq!(counts(&first), (2, 0));
    // Poison the input indexes: a build that consulted them would key the
    // layers differently and rebuild them.
    let zero = "0".repeat(64);
    let indexes = walk(&sandbox.store().join("inputs-v2"));
    assert!(!indexes.is_empty(), "no input index to poison");
    for index in indexes {
        let text = std::fs::read_to_string(&index).unwrap();
        let poisoned: String = text
            .lines()
            .map(|line| {
                let mut fields: Vec<&str> = line.splitn(9, ' ').collect();
                fields[7] = &zero;
                fields.join(" ") + "\n"
            })
            .collect();
        std::fs::write(&index, poisoned).unwrap();
    }
    let second = build(&sandbox, &["r.toml"]);
    assert_eq!(counts(&second), (0, 2));
    assert_eq!(common::first_digest(&first), common::first_digest(&second));

    // Found by stat, its tree was never built: with its blob gone, the
    // layer is built from the walk, to the same bytes.
    let layer = manifest(&sandbox, "c")["layers"][0]["digest"].as_str().unwrap().to_owned();
    let blob = sandbox.store().join("blobs-v1/sha256").join(layer.trim_start_matches("sha256:"));
    std::fs::remove_file(blob).unwrap();
    let third = build(&sandbox, &["r.toml"]);
    assert_eq!(counts(&third), (1, 1));
    assert_eq!(common::first_digest(&third), common::first_digest(&first));

    // A changed input misses by stat; only its layer is rebuilt.
    std::fs::write(sandbox.path().join("b/data"), "BBBB\n").unwrap();
    assert_eq!(counts(&build(&sandbox, &["r.toml"])), (1, 1));
}

#[test]
fn a_layer_found_by_its_walk_is_the_layer_its_recipe_entries_make() {
    let sandbox = Sandbox::new();
    sandbox.write("t/y.txt", "y\n");
    sandbox.write("t/sub/z.txt", "z\n");
    let script = sandbox.write("t/x.sh", "#!/bin/sh\n");
    std::fs::set_permissions(script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("y.txt", sandbox.path().join("t/link")).unwrap();
    std::thread::sleep(Duration::from_millis(2100));
    let variants = [
        "",
        "mode = \"0600\"\n",
        "dir_mode = \"0700\"\n",
        "uid = 5\n",
        "gid = 6\n",
        "exclude = [\"sub\"]\n",
        "include = [\"*.txt\"]\n",
        "dest = \"/u/\"\n",
        "[[layer.file]]\npath = \"/f\"\ncontent = \"1\"\n",
        "[[layer.file]]\npath = \"/f\"\ncontent = \"2\"\n",
        "[[layer.dir]]\npath = \"/d\"\n",
        "[[layer.symlink]]\npath = \"/s\"\ntarget = \"t\"\n",
        "[[layer.hardlink]]\npath = \"/h\"\ntarget = \"/t/y.txt\"\n",
    ];
    let variants = variants.iter().map(|copy| ("", *copy)).chain([("remove = [\"/gone\"]\n", "")]);
    let mut digests = Vec::new();
    for (i, (layer, extra)) in variants.enumerate() {
        let dest = if extra.starts_with("dest") { "" } else { "dest = \"/t\"\n" };
        sandbox.write(
            "r.toml",
            &format!(
                "[image]\nname = \"localhost/v\"\n[from]\nscratch = true\n[[layer]]\n{layer}\
                 [[layer.copy]]\nsrc = \"t/\"\n{dest}{extra}"
            ),
        );
        let warm = build(&sandbox, &["r.toml"]);
        let again = build(&sandbox, &["r.toml"]);
        assert_eq!(counts(&again), (0, 1), "variant {i} is found again");
        let cold = build(&sandbox, &["r.toml", "--store", &format!("cold-{i}")]);
        assert_eq!(counts(&cold), (1, 0));
        let digest = common::first_digest(&cold);
        assert_eq!(common::first_digest(&warm), digest, "variant {i} was served a stale layer");
        assert_eq!(common::first_digest(&again), digest);
        assert!(!digests.contains(&digest), "variant {i} changes nothing");
        digests.push(digest);
    }
}

/// A one-file recipe built into `first`, and its layer's blob in the store.
fn one_layer_built() -> (Sandbox, std::path::PathBuf) {
    let sandbox = Sandbox::new();
    sandbox.write("f", "content\n");
    sandbox.write(
        "r.toml",
        "[image]\nname = \"localhost/k\"\n[from]\nscratch = true\n[[layer]]\n[[layer.copy]]\nsrc = \"f\"\ndest = \"/f\"\n",
    );
    build(&sandbox, &["r.toml", "--output", "oci:first"]);
    let layout = sandbox.path().join("first");
    let layer =
        json_blob(&layout, &layout_digest(&layout, "latest"))["layers"][0]["digest"].as_str().unwrap().to_owned();
    let blob = sandbox.store().join("blobs-v1/sha256").join(layer.trim_start_matches("sha256:"));
    (sandbox, blob)
}

#[test]
fn a_corrupted_blob_in_the_store_is_not_served() {
    let (sandbox, blob) = one_layer_built();
    let len = std::fs::metadata(&blob).unwrap().len() as usize;
    // Break the store's copy (a new file, so the first layout keeps its own).
    std::fs::remove_file(&blob).unwrap();
    std::fs::write(&blob, vec![0u8; len]).unwrap();

    let out = build(&sandbox, &["r.toml", "--output", "oci:second"]);
    assert_eq!(counts(&out), (1, 0), "the corrupt blob was served");
    assert_blobs_match_names(&sandbox.store().join("blobs-v1/sha256"));
    assert_blobs_match_names(&sandbox.path().join("second/blobs/sha256"));
}

#[test]
fn a_blob_edited_in_place_with_size_and_mtime_kept_is_not_served() {
    let (sandbox, blob) = one_layer_built();
    let before = std::fs::metadata(&blob).unwrap();
    // Overwrite the same inode with as many bytes, then put the mtime back.
    let mut perms = before.permissions();
    perms.set_mode(0o644);
    std::fs::set_permissions(&blob, perms).unwrap();
    let mut file = std::fs::OpenOptions::new().write(true).open(&blob).unwrap();
    file.write_all(&vec![0u8; before.len() as usize]).unwrap();
    file.set_modified(before.modified().unwrap()).unwrap();
    drop(file);
    let after = std::fs::metadata(&blob).unwrap();
    use std::os::unix::fs::MetadataExt as _;
    assert_eq!(
        (after.len(), after.mtime(), after.mtime_nsec(), after.ino()),
        (before.len(), before.mtime(), before.mtime_nsec(), before.ino())
    );

    let out = build(&sandbox, &["r.toml", "--output", "oci:second"]);
    assert_eq!(counts(&out), (1, 0), "the edited blob was served as reused");
    assert_blobs_match_names(&sandbox.store().join("blobs-v1/sha256"));
    assert_blobs_match_names(&sandbox.path().join("second/blobs/sha256"));
}

/// Every blob file's content hashes to its name; returns how many there
/// are (a folder that is not there fails).
fn assert_blobs_match_names(dir: &std::path::Path) -> usize {
    let blobs = walk(dir);
    for entry in &blobs {
        let bytes = std::fs::read(entry).unwrap();
        let name = entry.file_name().unwrap().to_str().unwrap();
        assert_eq!(compose_img::digest::Digest::of(&bytes).hex(), name, "{} does not match its name", entry.display());
    }
    blobs.len()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    #[allow(clippy::disallowed_methods, reason = "order does not matter: every file is checked")]
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    entries.map(|e| e.unwrap().path()).collect()
}

/// A tree big enough that a build takes a while: 24 files of 1 MiB of
/// poorly compressible bytes.
fn big_recipe(sandbox: &Sandbox) {
    for i in 0..24 {
        let bytes = common::noise(0x2545_f491_4f6c_dd1d + i, 1 << 20);
        let path = sandbox.path().join(format!("big/f{i:02}"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    sandbox.write(
        "big.toml",
        "[image]\nname = \"localhost/big\"\n[from]\nscratch = true\n\
         [[layer]]\nname = \"one\"\n[[layer.copy]]\nsrc = \"big/\"\ndest = \"/one\"\n\
         [[layer]]\nname = \"two\"\n[[layer.copy]]\nsrc = \"big/\"\ndest = \"/two\"\n",
    );
}

#[test]
fn two_builds_share_one_store_at_once() {
    let sandbox = Sandbox::new();
    big_recipe(&sandbox);
    let spawn = |out: &str| sandbox.cmd().args(["build", "big.toml", "--output", &format!("oci:{out}")]).output();
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| spawn("a").unwrap());
        let b = s.spawn(|| spawn("b").unwrap());
        (a.join().unwrap(), b.join().unwrap())
    });
    common::assert_success(&a);
    common::assert_success(&b);
    assert_eq!(common::first_digest(&a), common::first_digest(&b));
    assert_blobs_match_names(&sandbox.store().join("blobs-v1/sha256"));
}

#[test]
fn a_killed_build_leaves_no_bad_blob_and_the_next_build_succeeds() {
    let sandbox = Sandbox::new();
    big_recipe(&sandbox);
    let blobs = sandbox.store().join("blobs-v1/sha256");
    for (round, delay_ms) in [5u64, 30, 80, 150, 300].into_iter().enumerate() {
        let mut child = sandbox
            .cmd()
            .args(["build", "big.toml", "--no-cache", "--quiet", "--output", &format!("oci:k{round}")])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        // The store makes its folders, then its lock file: a build killed
        // before that left no store to look at.
        if sandbox.store().join("lock").exists() {
            assert_blobs_match_names(&blobs);
        }
    }
    let fsck = sandbox.cmd().args(["store", "fsck"]).output().unwrap();
    common::assert_success(&fsck);
    build(&sandbox, &["big.toml", "--output", "oci:final"]);
    assert_blobs_match_names(&sandbox.path().join("final/blobs/sha256"));
    // The rounds looked where the store keeps its lock and blobs: were
    // either moved, this fails rather than leave the rounds checking nothing.
    assert!(sandbox.store().join("lock").is_file(), "the store's lock file moved");
    assert!(assert_blobs_match_names(&blobs) > 0, "no blobs in {}", blobs.display());
}

#[test]
fn jobs_do_not_change_any_digest() {
    let digests = |jobs: &str| {
        let sandbox = Sandbox::new();
        base_and_children(&sandbox);
        let out = build(&sandbox, &["one.toml", "two.toml", "--jobs", jobs]);
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(digests("1"), digests("4"));
}

#[test]
fn the_store_can_be_chosen_by_flag_and_environment() {
    let sandbox = Sandbox::new();
    base_and_children(&sandbox);
    let flag_store = sandbox.path().join("flag-store");
    let out = sandbox.cmd().args(["build", "base.toml", "--store"]).arg(&flag_store).output().unwrap();
    common::assert_success(&out);
    assert!(flag_store.join("blobs-v1/sha256").is_dir());
    assert!(!sandbox.store().exists(), "--store must win over $COMPOSE_IMG_STORE");
    let xdg = sandbox.path().join("xdg");
    let out = Command::new(common::bin())
        .current_dir(sandbox.path())
        .env_remove("COMPOSE_IMG_STORE")
        .env("XDG_CACHE_HOME", &xdg)
        .args(["build", "base.toml", "--output", "oci:xdg-out"])
        .output()
        .unwrap();
    common::assert_success(&out);
    assert!(xdg.join("compose-img/blobs-v1/sha256").is_dir());
}

#[test]
fn store_fsck_finds_a_blob_corrupted_by_hand() {
    let sandbox = Sandbox::new();
    base_and_children(&sandbox);
    build(&sandbox, &["base.toml"]);
    let fsck = || sandbox.cmd().args(["store", "fsck"]).output().unwrap();
    let clean = fsck();
    common::assert_success(&clean);
    assert!(String::from_utf8_lossy(&clean.stdout).contains(": 0 corrupt"));

    let blobs = walk(&sandbox.store().join("blobs-v1/sha256"));
    let victim = &blobs[0];
    std::fs::set_permissions(victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::OpenOptions::new().append(true).open(victim).unwrap().write_all(b"rot").unwrap();
    let found = fsck();
    assert_eq!(found.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&found.stdout);
    assert!(stdout.contains(&format!("corrupt (removed): {}", victim.display())), "{stdout}");
    assert!(!victim.exists());
    common::assert_success(&fsck());
    build(&sandbox, &["base.toml", "--output", "oci:again"]);
    assert_blobs_match_names(&sandbox.path().join("again/blobs/sha256"));
}

#[test]
fn plan_shows_the_graph_and_what_is_cached() {
    let sandbox = Sandbox::new();
    base_and_children(&sandbox);
    let plan = |format: &str| {
        let out = sandbox.cmd().args(["plan", "one.toml", format]).output().unwrap();
        common::assert_success(&out);
        String::from_utf8(out.stdout).unwrap()
    };
    let before: serde_json::Value = serde_json::from_str(&plan("--json")).unwrap();
    assert_eq!(before[0]["recipe"], "base.toml");
    assert_eq!(before[1]["recipe"], "one.toml");
    assert_eq!(before[1]["parent"], "base.toml");
    assert_eq!(before[1]["layers"][0]["cached"], false);
    assert!(!sandbox.path().join("out").exists(), "plan wrote an output");

    build(&sandbox, &["one.toml"]);
    let after: serde_json::Value = serde_json::from_str(&plan("--json")).unwrap();
    assert_eq!(after[0]["layers"][0]["cached"], true);
    assert_eq!(after[1]["layers"][0]["key"], before[1]["layers"][0]["key"]);
    // A layer found by its walk is shown from the store's entry, its tree
    // never built: the same key and entry count as planned from its tree.
    let layers = |plan: &serde_json::Value| -> Vec<serde_json::Value> {
        let images = plan.as_array().unwrap().iter();
        images.flat_map(|image| image["layers"].as_array().unwrap().clone()).collect()
    };
    let counted = |layers: Vec<serde_json::Value>| -> Vec<(serde_json::Value, serde_json::Value)> {
        layers.into_iter().map(|l| (l["key"].clone(), l["entries"].clone())).collect()
    };
    assert_eq!(counted(layers(&after)), counted(layers(&before)));
    // Entries written before they counted the layer's entries: planned
    // from the trees, the same, and counted for the next plan.
    let entries = walk(&sandbox.store().join("layers-v4"));
    for entry in &entries {
        let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(entry).unwrap()).unwrap();
        assert!(json.as_object_mut().unwrap().remove("entries").is_some(), "{json}");
        std::fs::write(entry, serde_json::to_vec(&json).unwrap()).unwrap();
    }
    let older: serde_json::Value = serde_json::from_str(&plan("--json")).unwrap();
    assert_eq!(layers(&older), layers(&after));
    for entry in &entries {
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(entry).unwrap()).unwrap();
        assert!(json["entries"].as_u64().is_some(), "{json}");
    }
    assert!(plan("--dot").contains("image0 -> image1;"));
    let out = sandbox.cmd().args(["plan", "one.toml"]).output().unwrap();
    let tree = String::from_utf8(out.stdout).unwrap();
    assert!(tree.contains("one.toml  localhost/one linux/amd64 (from base.toml)"), "{tree}");
    assert!(tree.contains("cached"), "{tree}");
}

#[test]
fn store_gc_keeps_what_recent_use_names() {
    let sandbox = Sandbox::new();
    let hello = common::repo().join("recipes/hello.toml").display().to_string();
    let busybox = common::repo().join("recipes/busybox.toml").display().to_string();
    build(&sandbox, &[&hello, "--output", "oci:hello"]);
    build(&sandbox, &[&busybox, "--output", "oci:busybox"]);
    let gc = |days: &str| {
        let out = sandbox.cmd().args(["store", "gc", "--keep-days", days]).output().unwrap();
        common::assert_success(&out);
        String::from_utf8(out.stdout).unwrap()
    };
    sandbox.write("store/layers-v1/0123", "an entry of an earlier format");
    sandbox.write("store/layers-v3/4567", "an entry of the format before gzip in blocks");
    assert!(gc("30").starts_with("removed 0 blobs"), "nothing is old yet");
    assert!(!sandbox.store().join("layers-v1").exists(), "earlier formats are collected");
    assert!(!sandbox.store().join("layers-v3").exists(), "earlier formats are collected");
    // Outputs by absolute path: `store ls` is run from anywhere.
    let here = std::fs::canonicalize(sandbox.path()).unwrap().display().to_string();
    let ls = common::run(sandbox.cmd().args(["store", "ls"]));
    assert!(
        ls.contains(&format!("output oci:{here}/hello ")) && ls.contains(&format!("output oci:{here}/busybox ")),
        "{ls}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&common::run(sandbox.cmd().args(["store", "ls", "--json"]))).unwrap();
    let outputs = json["outputs"].as_array().unwrap();
    assert!(
        outputs.iter().any(|o| o["reference"] == format!("oci:{here}/hello") && o["blobs"].as_u64() > Some(0)),
        "{json}"
    );
    let blob_count = json["blobs"].as_array().unwrap().len();
    assert!(json["blobs"][0]["digest"].as_str().unwrap().starts_with("sha256:") && json["blobs"][0]["size"].is_u64());

    // Everything ages 40 days; then busybox is built (used) again.
    for part in ["layers-v4", "outputs-v1", "inputs-v2"] {
        for file in walk(&sandbox.store().join(part)) {
            common::run(Command::new("touch").args(["-d", "40 days ago"]).arg(file));
        }
    }
    let again = sandbox.cmd().args(["build", &busybox, "--output", "oci:busybox"]).output().unwrap();
    assert!(String::from_utf8_lossy(&again.stderr).contains("layers: 0 built, 2 reused"));
    // --dry-run says what would go and removes nothing.
    let preview = common::run(sandbox.cmd().args(["store", "gc", "--keep-days", "30", "--dry-run"]));
    assert!(preview.lines().any(|l| l.starts_with("would remove blob sha256:")), "{preview}");
    assert!(preview.lines().last().unwrap().starts_with("would remove "), "{preview}");
    let json: serde_json::Value =
        serde_json::from_str(&common::run(sandbox.cmd().args(["store", "ls", "--json"]))).unwrap();
    assert_eq!(json["blobs"].as_array().unwrap().len(), blob_count, "the dry run removed blobs");
    let report = gc("30");
    assert!(!report.starts_with("removed 0 blobs"), "{report}");
    assert_blobs_match_names(&sandbox.store().join("blobs-v1/sha256"));
    let busybox_again = sandbox.cmd().args(["build", &busybox, "--output", "oci:busybox"]).output().unwrap();
    assert!(String::from_utf8_lossy(&busybox_again.stderr).contains("layers: 0 built, 2 reused"), "recent use kept");
    let hello_again = sandbox.cmd().args(["build", &hello, "--output", "oci:hello"]).output().unwrap();
    assert!(String::from_utf8_lossy(&hello_again.stderr).contains("layers: 2 built, 0 reused"), "old use collected");
}
