//! What plugin authors build on, each against a parent image that skopeo
//! wrote: chmod/chown of a lower binary that podman then runs, an index of
//! digests that busybox's `sha256sum -c` accepts, an image hook reading a
//! file of the image and one beside the recipe, declared arguments and
//! their errors (pinned), and a walk of a 200,000-entry parent.

use crate::common;

use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::{Podman, Sandbox, assert_success, run, tool};
use compose_img::digest::Digest;

/// busybox.toml built by compose-img, then copied by skopeo into the
/// layout `parent` of the sandbox: the parent every test here builds on.
fn skopeo_parent(sandbox: &Sandbox) {
    common::copy_recipes(sandbox.path());
    sandbox.build(&["recipes/busybox.toml", "--output", "oci:built"]);
    let skopeo = Command::new(tool("skopeo"))
        .args(["copy", "-q", "oci:built:latest", "oci:parent:latest"])
        .current_dir(sandbox.path())
        .output()
        .unwrap();
    assert_success(&skopeo);
}

const META: &str = r#"
fn args() {
    #{ tool: #{ type: "string" }, mode: #{ type: "mode" }, gid: #{ type: "int", or: 0 } }
}

fn layer(ctx, args) {
    let before = ctx.stat_lower(args.tool);
    if before.type != "file" { throw `${args.tool} is a ${before.type}`; }
    ctx.chmod(args.tool, args.mode);
    ctx.chown(args.tool, before.uid, args.gid);
}
"#;

const INDEX: &str = r#"
fn layer(ctx, args) {
    let lines = "";
    for path in ctx.walk_lower("/") {
        if ctx.stat_lower(path).type == "file" {
            lines += `${ctx.sha256_lower(path)}  ${path}` + "\n";
        }
    }
    ctx.file("/etc/index.sha256", lines);
}
"#;

const VERSION_ENV: &str = r#"
fn config(ctx, cfg, args) {
    let version = ctx.read_lower("/etc/VERSION");
    version.trim();
    let env = cfg.Env;
    env.push(`APP_VERSION=${version}`);
    for line in ctx.read_host(".env").split("\n") {
        if regex_match(line, "^[A-Z_]+=") { env.push(line); }
    }
    cfg.Env = env;
    cfg
}
"#;

#[test]
fn chmod_chown_index_and_config_from_the_image_on_a_skopeo_parent_under_podman() {
    let sandbox = Sandbox::new();
    skopeo_parent(&sandbox);
    sandbox.write("meta.rhai", META);
    sandbox.write("index.rhai", INDEX);
    sandbox.write("version-env.rhai", VERSION_ENV);
    sandbox.write(".env", "GREETING=hello\n# not a variable\n");
    let recipe = "[image]\nname = \"localhost/authoring\"\n[from]\nimage = \"oci:parent:latest\"\n\
                  [[layer]]\nname = \"meta\"\n\
                  [[layer.plugin]]\nscript = \"meta.rhai\"\nwith = { tool = \"/bin/busybox\", mode = \"0750\", gid = 65532 }\n\
                  [[layer.plugin]]\nscript = \"index.rhai\"\n\
                  [[layer]]\nname = \"version\"\n[[layer.file]]\npath = \"/etc/VERSION\"\ncontent = \"2.5.1\\n\"\n\
                  [[plugin]]\nscript = \"version-env.rhai\"\n";
    sandbox.write("a.toml", recipe);
    let layout = common::lowercase_tempdir("authoring");
    sandbox.build(&["a.toml", "--output", &format!("oci:{}", layout.path().display())]);
    let image = format!("oci:{}:latest", layout.path().display());

    let info: serde_json::Value =
        serde_json::from_str(&run(Command::new(tool("skopeo")).args(["inspect", "--config", &image]))).unwrap();
    let env: Vec<&str> = info["config"]["Env"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(env, ["PATH=/bin", "APP_VERSION=2.5.1", "GREETING=hello"]);

    let podman = Podman::new(sandbox.path());
    let id = run(podman.cmd().args(["pull", "-q", &image]));
    let id = id.trim();
    let busybox = |args: &[&str]| {
        let mut all = vec!["--entrypoint", "/bin/busybox", id];
        all.extend(args);
        run(podman.cmd().args(Podman::RUN_FLAGS).args(&all))
    };
    assert_eq!(busybox(&["stat", "-c", "%a %u %g", "/bin/busybox"]), "750 0 65532\n", "chmod and chown kept");
    // Every regular file of the parent, the busybox binary included, with
    // the digest busybox's sha256sum computes of it in the running image.
    let checked = busybox(&["sha256sum", "-c", "/etc/index.sha256"]);
    assert_eq!(checked, "/bin/busybox: OK\n/etc/group: OK\n/etc/passwd: OK\n");
    run(podman.cmd().args(["rmi", "-f", id]));
}

/// A layout of one gzip layer holding `dirs` × `files` empty files (every
/// fourth a `.pyc`), written by hand: a parent no other tool made.
fn wide_layout(dir: &Path, dirs: usize, files: usize) {
    let header = |kind: tar::EntryType, mode: u32| {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header
    };
    let mut builder = tar::Builder::new(Vec::new());
    for d in 0..dirs {
        builder.append_data(&mut header(tar::EntryType::Directory, 0o755), format!("srv/d{d}/"), &[][..]).unwrap();
        for f in 0..files {
            let name = if f % 4 == 0 { format!("srv/d{d}/f{f}.pyc") } else { format!("srv/d{d}/f{f}.py") };
            builder.append_data(&mut header(tar::EntryType::Regular, 0o644), name, &[][..]).unwrap();
        }
    }
    let tar = builder.into_inner().unwrap();
    let diff_id = Digest::of(&tar).to_string();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let layer = gz.finish().unwrap();
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let digest = Digest::of(bytes);
        std::fs::write(blobs.join(digest.hex()), bytes).unwrap();
        (digest.to_string(), bytes.len())
    };
    let (layer_digest, layer_size) = put(&layer);
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
    });
    let (config_digest, config_size) = put(config.to_string().as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer_size }],
    });
    let (manifest_digest, manifest_size) = put(manifest.to_string().as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{ "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
                        "size": manifest_size, "annotations": { "org.opencontainers.image.ref.name": "latest" } }],
    });
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

#[test]
fn a_plugin_walks_a_200000_entry_parent_within_the_deadline() {
    let sandbox = Sandbox::new();
    wide_layout(&sandbox.path().join("wide"), 200, 1000);
    let skopeo = Command::new(tool("skopeo"))
        .args(["copy", "-q", "oci:wide:latest", "oci:parent:latest"])
        .current_dir(sandbox.path())
        .output()
        .unwrap();
    assert_success(&skopeo);
    let script = r#"
fn layer(ctx, args) {
    let pyc = ctx.walk_lower("/srv", "**/*.pyc");
    for path in pyc { ctx.remove(path); }
    let found = 0;
    for d in range(0, 200) {
        for f in range(0, 5) {
            if ctx.exists_lower(`/srv/d${d}/f${f}.py`) { found += 1; }
        }
    }
    print(`${pyc.len()} pruned, ${found} checked`);
}
"#;
    sandbox.write("prune.rhai", script);
    sandbox.write(
        "p.toml",
        "[image]\nname = \"localhost/p\"\n[from]\nimage = \"oci:parent:latest\"\n[[layer]]\nname = \"pruned\"\n\
         [[layer.plugin]]\nscript = \"prune.rhai\"\n",
    );
    let started = Instant::now();
    let out = sandbox.cmd().args(["build", "p.toml", "--output", "oci:out"]).output().unwrap();
    let took = started.elapsed();
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("50000 pruned, 600 checked"), "{stderr}");
    eprintln!("a build pruning 50,000 of 200,200 entries took {took:?}");
    let layout = sandbox.path().join("out");
    let manifest = common::json_blob(&layout, &common::layout_digest(&layout, "latest"));
    let blob = common::blob(&layout, manifest["layers"][1]["digest"].as_str().unwrap());
    let mut archive = tar::Archive::new(zstd::Decoder::new(&blob[..]).unwrap());
    let whiteouts = archive
        .entries()
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().unwrap().file_name().unwrap().to_string_lossy().starts_with(".wh."))
        .count();
    assert_eq!(whiteouts, 50_000);
}

/// `build p.toml` of a plugin declaring arguments, given `with`: stderr.
fn args_error(with: &str) -> String {
    let sandbox = Sandbox::new();
    sandbox.write(
        "p.rhai",
        "fn args() {\n  #{ name: #{ type: \"string\" }, mode: #{ type: \"mode\", or: \"0644\" }, \
         count: #{ type: \"int\", or: 1 } }\n}\nfn layer(ctx, args) {\n  ctx.file(`/etc/${args.name}`, \"x\", #{ mode: args.mode });\n  \
         ctx.file(\"/etc/other\", args.nmae);\n}\n",
    );
    let recipe = format!(
        "[image]\nname = \"localhost/p\"\n[from]\nscratch = true\n[[layer]]\nname = \"l\"\n[[layer.plugin]]\nscript = \"p.rhai\"\nwith = {with}\n"
    );
    sandbox.write("p.toml", &recipe);
    let out = sandbox.cmd().args(["build", "p.toml"]).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked") && !sandbox.store().join("blobs").exists(), "{stderr}");
    stderr
}

#[test]
fn declared_arguments_unknown() {
    insta::assert_snapshot!(args_error("{ name = \"a\", nmae = \"b\" }"));
}

#[test]
fn declared_arguments_missing() {
    insta::assert_snapshot!(args_error("{ mode = \"0600\" }"));
}

#[test]
fn declared_arguments_wrong_type() {
    insta::assert_snapshot!(args_error("{ name = \"a\", count = \"2\" }"));
}

#[test]
fn declared_arguments_decimal_mode() {
    insta::assert_snapshot!(args_error("{ name = \"a\", mode = 644 }"));
}

#[test]
fn declared_arguments_reading_an_undeclared_one() {
    insta::assert_snapshot!(args_error("{ name = \"a\" }"));
}

/// `plugin test` of a shipped plugin on a skopeo-written parent: the
/// entries it would add (with their content), then a mistake in its
/// arguments, located on the command line.
#[test]
fn plugin_test_prints_what_a_hook_would_add() {
    let sandbox = Sandbox::new();
    skopeo_parent(&sandbox);
    let users = common::repo().join("plugins/users.rhai");
    std::fs::copy(&users, sandbox.path().join("users.rhai")).unwrap();
    let with = r#"users=[{ name = "app", uid = 1000, shell = "/bin/sh" }]"#;
    let out = sandbox
        .cmd()
        .args(["plugin", "test", "users.rhai", "--with", with, "--lower", "oci:parent:latest", "--content"])
        .output()
        .unwrap();
    assert_success(&out);
    insta::assert_snapshot!("plugin_test_users", String::from_utf8(out.stdout).unwrap());
    let out = sandbox.cmd().args(["plugin", "test", "users.rhai", "--with", "user=app"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    insta::assert_snapshot!("plugin_test_bad_argument", String::from_utf8(out.stderr).unwrap());
}

/// The users plugin names the key that is wrong: `uid` given as a string.
#[test]
fn users_plugin_names_a_uid_given_as_a_string() {
    let sandbox = Sandbox::new();
    std::fs::copy(common::repo().join("plugins/users.rhai"), sandbox.path().join("users.rhai")).unwrap();
    let with = r#"users=[{ name = "app", uid = "10001" }]"#;
    let out = sandbox.cmd().args(["plugin", "test", "users.rhai", "--with", with]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!stderr.contains("gid"), "{stderr}");
    insta::assert_snapshot!("users_uid_as_a_string", stderr);
}

/// The ```rhai blocks of the plugin guide and reference, each run: `//
/// with:` lines are its arguments, each `// expect:` line must appear in
/// what `plugin test --content` prints (a layer hook) or in the config and
/// manifest of an image built with it (an image hook).
#[test]
fn every_example_of_the_plugin_docs_runs() {
    let sandbox = Sandbox::new();
    skopeo_parent(&sandbox);
    sandbox.write(".env", "GREETING=hello\n# a comment\n");
    let mut ran = 0;
    for doc in ["docs/plugins.md", "plugins/README.md"] {
        let text = std::fs::read_to_string(common::repo().join(doc)).unwrap();
        for (n, block) in text.split("```rhai\n").skip(1).enumerate() {
            let script = block.split("\n```").next().unwrap();
            run_example(&sandbox, &format!("{doc} example {}", n + 1), script);
            ran += 1;
        }
    }
    assert!(ran >= 9, "only {ran} examples found");
}

fn run_example(sandbox: &Sandbox, name: &str, script: &str) {
    let tagged = |tag: &str| -> Vec<String> {
        script
            .lines()
            .filter_map(|l| l.strip_prefix(tag))
            .map(|l| l.strip_prefix(' ').unwrap_or(l).to_owned())
            .collect()
    };
    let (with, expect) = (tagged("// with:"), tagged("// expect:"));
    assert!(!expect.is_empty(), "{name} checks nothing: give it `// expect:` lines");
    sandbox.write("example.rhai", script);
    let shown = if script.contains("fn layer(") {
        let mut cmd = sandbox.cmd();
        cmd.args(["plugin", "test", "example.rhai", "--lower", "oci:parent:latest", "--content"]);
        for pair in &with {
            cmd.args(["--with", pair]);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{name} failed:\n{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    } else {
        let table: String = with.iter().map(|pair| pair.replacen('=', " = ", 1) + "\n").collect();
        let recipe = format!(
            "[image]\nname = \"localhost/example\"\n[from]\nimage = \"oci:parent:latest\"\n[[plugin]]\nscript = \"example.rhai\"\n[plugin.with]\n{table}"
        );
        sandbox.write("example.toml", &recipe);
        let out = sandbox.cmd().args(["build", "example.toml", "--output", "oci:example"]).output().unwrap();
        assert!(out.status.success(), "{name} failed:\n{}", String::from_utf8_lossy(&out.stderr));
        let skopeo = |args: &[&str]| run(Command::new(tool("skopeo")).args(args).current_dir(sandbox.path()));
        skopeo(&["inspect", "--config", "oci:example:latest"])
            + skopeo(&["inspect", "--raw", "oci:example:latest"]).as_str()
    };
    for line in expect {
        assert!(shown.contains(&line), "{name}: `{line}` not in:\n{shown}");
    }
}

/// A build of `script` (a layer plugin, or an image plugin when it has no
/// `fn layer`) on busybox.toml: the rendered error.
fn hook_error(script: &str) -> String {
    let sandbox = Sandbox::new();
    common::copy_recipes(sandbox.path());
    sandbox.write("p.rhai", script);
    let entry = if script.contains("fn layer(") { "[[layer]]\nname = \"l\"\n[[layer.plugin]]" } else { "[[plugin]]" };
    sandbox.write("big.bin", &"x".repeat(200_000));
    let recipe = format!(
        "[image]\nname = \"localhost/p\"\n[from]\nrecipe = \"recipes/busybox.toml\"\n[[layer]]\nname = \"big\"\n\
         [[layer.copy]]\nsrc = \"big.bin\"\ndest = \"/big.bin\"\n{entry}\nscript = \"p.rhai\"\n"
    );
    sandbox.write("p.toml", &recipe);
    let out = sandbox.cmd().args(["build", "p.toml"]).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The parent's progress lines hold the host busybox's digest: from
    // the error on.
    stderr[stderr.find("  ×").expect("an error")..].to_owned()
}

#[test]
fn a_blob_over_its_limit_names_the_limit() {
    insta::assert_snapshot!(hook_error("fn layer(ctx, args) {\n  let b = ctx.read_lower_blob(\"/big.bin\");\n}\n"));
}

#[test]
fn an_image_hooks_ctx_only_reads() {
    insta::assert_snapshot!(hook_error("fn config(ctx, cfg, args) {\n  ctx.file(\"/etc/x\", \"y\");\n  cfg\n}\n"));
}

#[test]
fn a_template_mistake_names_its_line() {
    insta::assert_snapshot!(hook_error(
        "fn layer(ctx, args) {\n  ctx.file(\"/etc/x\", render(\"a\\n{{ port }}\", #{}));\n}\n"
    ));
}

/// Appends a line to a file as the layers below and the entries above it
/// in its own layer left it.
const APPEND: &str = r#"
fn args() {
    #{ path: #{ type: "string" }, line: #{ type: "string" } }
}

fn layer(ctx, args) {
    let text = if ctx.exists_lower(args.path) { ctx.read_lower(args.path) } else { "" };
    ctx.file(args.path, text + args.line + "\n", #{ mode: "0640" });
}
"#;

/// Two runs of the shipped users plugin in one layer, then a plugin that
/// extends a file an entry above it wrote: each sees what the entries
/// above it in the layer wrote and replaces it; podman runs the result.
/// An entry below a plugin writing the same path is still a collision.
#[test]
fn plugins_of_one_layer_build_on_the_entries_above_them() {
    let sandbox = Sandbox::new();
    skopeo_parent(&sandbox);
    std::fs::copy(common::repo().join("plugins/users.rhai"), sandbox.path().join("users.rhai")).unwrap();
    sandbox.write("append.rhai", APPEND);
    let layer = "[image]\nname = \"localhost/accounts\"\n[from]\nimage = \"oci:parent:latest\"\n\
                 [[layer]]\nname = \"accounts\"\n\
                 [[layer.plugin]]\nscript = \"users.rhai\"\nwith = { users = [{ name = \"app\", uid = 1000, shell = \"/bin/sh\" }] }\n\
                 [[layer.file]]\npath = \"/etc/motd\"\ncontent = \"one\\n\"\n\
                 [[layer.plugin]]\nscript = \"users.rhai\"\nwith = { users = [{ name = \"web\", uid = 1001 }] }\n\
                 [[layer.plugin]]\nscript = \"append.rhai\"\nwith = { path = \"/etc/motd\", line = \"two\" }\n";
    sandbox.write("a.toml", layer);
    let layout = common::lowercase_tempdir("accounts");
    sandbox.build(&["a.toml", "--output", &format!("oci:{}", layout.path().display())]);
    let image = format!("oci:{}:latest", layout.path().display());
    let podman = Podman::new(sandbox.path());
    let script = "id app; id web; cat /etc/motd; stat -c %a /etc/motd";
    let out =
        run(podman.cmd().args(Podman::RUN_FLAGS).args(["--entrypoint", "/bin/busybox", &image, "sh", "-c", script]));
    assert_eq!(
        out,
        "uid=1000(app) gid=1000(app) groups=1000(app)\nuid=1001(web) gid=1001(web) groups=1001(web)\n\
         one\ntwo\n640\n"
    );

    sandbox.write("b.toml", &format!("{layer}[[layer.file]]\npath = \"/etc/motd\"\ncontent = \"three\\n\"\n"));
    let out = sandbox.cmd().args(["build", "b.toml", "--output", "oci:b"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("two entries of this layer write /etc/motd"), "{err}");
}
