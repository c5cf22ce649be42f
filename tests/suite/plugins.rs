//! Rhai plugins: the shelf in plugins/ on an image podman runs, the
//! sandbox (every refusal and limit, with script position and recipe
//! entry), the cache (plugin source, args and the layers below in the
//! key) and the graph (a plugin reading lower layers waits for them).

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

use common::{Podman, Sandbox, assert_success, run, tool};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A recipe in `sandbox` whose one layer uses `script` (written beside it)
/// with `with`, on top of the busybox example.
fn plugin_recipe(sandbox: &Sandbox, script: &str, with: &str) -> String {
    common::copy_recipes(sandbox.path());
    sandbox.write("p.rhai", script);
    let text = format!(
        "[image]\nname = \"localhost/p\"\n[from]\nrecipe = \"recipes/busybox.toml\"\n[[layer]]\nname = \"plugged\"\n\
         [[layer.plugin]]\nscript = \"p.rhai\"\nwith = {with}\n"
    );
    sandbox.write("p.toml", &text).display().to_string()
}

/// A recipe `i.toml` in `sandbox` from scratch whose one entry (at
/// `i.toml:5:1`) is the image plugin `script` (written beside it as
/// `i.rhai`), with `with` when given.
fn image_plugin_recipe(sandbox: &Sandbox, script: &str, with: Option<&str>) -> String {
    sandbox.write("i.rhai", script);
    let mut text =
        "[image]\nname = \"localhost/i\"\n[from]\nscratch = true\n[[plugin]]\nscript = \"i.rhai\"\n".to_owned();
    if let Some(with) = with {
        text.push_str(&format!("with = {with}\n"));
    }
    sandbox.write("i.toml", &text).display().to_string()
}

fn build_fails(sandbox: &Sandbox, recipe: &str) -> String {
    let out = sandbox.cmd().args(["build", recipe]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // Messages wrapped by the renderer are joined back into one line.
    let message = stderr(&out).replace("\n  │ ", " ");
    assert!(!message.contains("panicked"), "{message}");
    message
}

#[test]
fn the_shelf_of_plugins_on_an_image_podman_runs() {
    let sandbox = Sandbox::new();
    let layout = common::lowercase_tempdir("plugins");
    let recipe = common::repo().join("recipes/app.toml");
    sandbox.build(&[recipe.to_str().unwrap(), "--output", &format!("oci:{}", layout.path().display())]);
    let image = format!("oci:{}:latest", layout.path().display());
    let info: serde_json::Value =
        serde_json::from_str(&run(Command::new(tool("skopeo")).args(["inspect", &image]))).unwrap();
    assert_eq!(info["Labels"]["org.opencontainers.image.title"], "app");
    assert_eq!(info["Labels"]["org.opencontainers.image.licenses"], "MIT");
    let raw: serde_json::Value =
        serde_json::from_str(&run(Command::new(tool("skopeo")).args(["inspect", "--raw", &image]))).unwrap();
    assert_eq!(raw["annotations"]["org.opencontainers.image.version"], "1.0");

    let podman = Podman::new(sandbox.path());
    let id = run(podman.cmd().args(["pull", "-q", &image]));
    let id = id.trim();
    assert_eq!(podman.run(id, &[]), "uid=65532(app) gid=65532(app) groups=65532(app)\n");
    let sh = |script: &str| podman.run(id, &["sh", "-c", script]);
    assert_eq!(sh("id root"), "uid=0(root) gid=0(root) groups=0(root)\n", "the parent's accounts are kept");
    assert_eq!(sh("stat -c %u:%g:%a /home/app"), "65532:65532:755\n");
    let os_release = sh("cat /etc/os-release");
    assert!(
        os_release.contains("ID=\"hello\"\n") && os_release.contains("PRETTY_NAME=\"Hello Linux 1.0\"\n"),
        "{os_release}"
    );
    assert_eq!(sh("readlink /etc/os-release"), "../usr/lib/os-release\n");
    assert_eq!(sh("ls /usr/share/doc /usr/share/man 2>&1; echo $?").lines().last(), Some("1"), "docs not stripped");
    let bundle = std::fs::read_to_string(common::repo().join("recipes/app/example-ca.pem")).unwrap();
    assert_eq!(sh("cat /etc/ssl/cert.pem"), bundle);
    assert_eq!(sh("cat /etc/pki/tls/certs/ca-bundle.crt"), bundle);
    run(podman.cmd().args(["rmi", "-f", id]));
}

#[test]
fn plugin_errors_name_script_position_hook_and_entry() {
    let cases: [(&str, &str, &str); 11] = [
        (
            "fn layer(ctx, args) {\n  ctx.file(\"/etc/x\", \"a\", #{ mode: 0o77777 });\n}\n",
            "p.rhai:2:7: in fn layer",
            "mode 77777 is not a mode",
        ),
        ("fn layer(ctx, args) {\n  ctx.file(\"/etc/../../x\", \"a\");\n}\n", "p.rhai:2:7", "which could escape `/`"),
        ("fn layer(ctx, args) {\n  ctx.read_host(\"../secret\");\n}\n", "p.rhai:2:7", "`..` is refused"),
        (
            "fn layer(ctx, args) {\n  ctx.read_host(\"/etc/passwd\");\n}\n",
            "p.rhai:2:7",
            "only paths relative to the recipe's directory",
        ),
        (
            "fn layer(ctx, args) {\n  ctx.read_host(\"out/passwd\");\n}\n",
            "p.rhai:2:7",
            "leads out of the recipe's directory",
        ),
        // An endless loop ends at the operation limit, or at the deadline
        // first on a loaded machine: either way located in the script.
        ("fn layer(ctx, args) {\n  let x = 1;\n  loop { x += 1; }\n}\n", "p.rhai:3", "in fn layer (called by"),
        ("fn layer(ctx, args) { layer(ctx, args) }\n", "p.rhai:1", "Stack overflow"),
        ("fn layer(ctx, args) {\n  eval(\"1\");\n}\n", "p.rhai:2:3: syntax error", "eval"),
        ("import \"x\" as x;\nfn layer(ctx, args) {}\n", "p.rhai:1:1: syntax error", "import"),
        ("fn layer(ctx, args) {\n  timestamp();\n}\n", "p.rhai:2:3", "Function not found: timestamp"),
        ("fn config(cfg, args) { cfg }\n", "p.toml:7:1", "p.rhai defines no `fn layer(ctx, args)`"),
    ];
    for (script, place, reason) in cases {
        let sandbox = Sandbox::new();
        std::os::unix::fs::symlink("/etc", sandbox.path().join("out")).unwrap();
        let recipe = plugin_recipe(&sandbox, script, "{}");
        let message = build_fails(&sandbox, &recipe);
        assert!(message.contains(place), "`{place}` missing for {script}:\n{message}");
        assert!(message.contains(reason), "`{reason}` missing for {script}:\n{message}");
        assert!(message.contains("p.toml:7:1") || message.contains("p.toml:7"), "no recipe entry:\n{message}");
        assert!(!sandbox.path().join("out/p").exists());
    }
}

#[test]
fn plugin_args_print_and_the_cache_key() {
    let sandbox = Sandbox::new();
    let script = "fn layer(ctx, args) {\n  print(`writing ${args.greeting}`);\n  ctx.file(\"/etc/greeting\", args.greeting, #{ mode: \"0600\", uid: 7 });\n}\n";
    let recipe = plugin_recipe(&sandbox, script, "{ greeting = \"hi\" }");
    let out = sandbox.cmd().args(["build", &recipe]).output().unwrap();
    assert_success(&out);
    assert!(stderr(&out).contains("plugin p.rhai: writing hi"), "{}", stderr(&out));
    assert!(stderr(&out).contains("layers: 3 built, 0 reused"), "{}", stderr(&out));
    let again = sandbox.cmd().args(["build", &recipe]).output().unwrap();
    assert!(stderr(&again).contains("layers: 0 built, 3 reused"), "{}", stderr(&again));
    // Changed args, or a changed script with the same output: rebuilt.
    plugin_recipe(&sandbox, script, "{ greeting = \"hello\" }");
    let args = sandbox.cmd().args(["build", &recipe]).output().unwrap();
    assert!(stderr(&args).contains("layers: 1 built, 2 reused"), "{}", stderr(&args));
    plugin_recipe(&sandbox, &format!("// a comment\n{script}"), "{ greeting = \"hello\" }");
    let source = sandbox.cmd().args(["build", &recipe]).output().unwrap();
    assert!(stderr(&source).contains("layers: 1 built, 2 reused"), "{}", stderr(&source));
}

#[test]
fn a_plugin_reading_lower_layers_waits_for_them_and_keys_on_them() {
    let sandbox = Sandbox::new();
    let script = "fn layer(ctx, args) {\n  let names = ctx.list_lower(\"/bin\");\n  \
                  ctx.file(\"/etc/listing\", `${names}`);\n  ctx.file(\"/etc/passwd.copy\", ctx.read_lower(\"/etc/passwd\"));\n}\n";
    let recipe = plugin_recipe(&sandbox, script, "{}");
    let plan = sandbox.cmd().args(["plan", &recipe]).output().unwrap();
    assert_success(&plan);
    assert!(String::from_utf8_lossy(&plan.stdout).contains("plugged                   0 entries  reads layers below"));
    let dot = run(sandbox.cmd().args(["plan", &recipe, "--dot"]));
    assert!(dot.contains("image0 -> layer1_0 [style=dotted];"), "{dot}");
    sandbox.build(&[&recipe, "--output", "oci:img"]);
    let layout = sandbox.path().join("img");
    let manifest = common::json_blob(&layout, &common::layout_digest(&layout, "latest"));
    let layer = manifest["layers"][2]["digest"].as_str().unwrap();
    let files = layer_files(&layout, layer);
    assert_eq!(files["etc/listing"], "[\"busybox\", \"cat\", \"id\", \"ls\", \"sh\"]");
    assert!(files["etc/passwd.copy"].starts_with("root:x:0:0:"));

    // Once the layers below are built, plan completes the layer as build
    // does: the key build reuses, and cached.
    let rebuilt = sandbox.cmd().args(["build", &recipe, "--output", "oci:img", "-v"]).output().unwrap();
    assert_success(&rebuilt);
    let line = stderr(&rebuilt).lines().find(|l| l.starts_with("reused layer plugged")).map(str::to_owned);
    let line = line.unwrap_or_else(|| panic!("plugged not reused:\n{}", stderr(&rebuilt)));
    let build_key = line.split(" key ").nth(1).unwrap().trim().to_owned();
    let plan: serde_json::Value = serde_json::from_str(&run(sandbox.cmd().args(["plan", &recipe, "--json"]))).unwrap();
    let plugged = &plan[1]["layers"][0];
    assert_eq!(plugged["name"], "plugged");
    assert_eq!(plugged["cached"], true, "{plan}");
    assert!(plugged["key"].as_str().unwrap().starts_with(&build_key), "plan {plugged}, build {build_key}");
    let text = run(sandbox.cmd().args(["plan", &recipe]));
    assert!(text.contains("plugged                   0 entries  cached"), "{text}");

    // A change below (the parent's /etc/passwd) rebuilds the reading layer.
    let busybox = sandbox.path().join("recipes/busybox.toml");
    let text = std::fs::read_to_string(&busybox).unwrap().replace("nobody:x:65534", "nobody:x:65533");
    std::fs::write(&busybox, text).unwrap();
    let out = sandbox.cmd().args(["build", &recipe, "--output", "oci:img"]).output().unwrap();
    assert!(stderr(&out).contains("layers: 2 built, 1 reused"), "{}", stderr(&out));
}

/// Regular files of a zstd layer: name → content.
fn layer_files(layout: &Path, digest: &str) -> std::collections::BTreeMap<String, String> {
    use std::io::Read;
    let blob = common::blob(layout, digest);
    let mut archive = tar::Archive::new(zstd::Decoder::new(&blob[..]).unwrap());
    let mut files = std::collections::BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.header().entry_type().is_file() {
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            files.insert(entry.path().unwrap().display().to_string(), text);
        }
    }
    files
}

#[test]
fn image_hooks_hand_back_validated_values() {
    let cases = [
        (
            "fn config(cfg, args) { cfg.Colour = \"blue\"; cfg }\n",
            "fn config handed back `Colour`, which is not a config field",
        ),
        ("fn config(cfg, args) { 42 }\n", "fn config must hand back a map"),
        (
            "fn manifest(a, args) { a[\"org.opencontainers.image.created\"] = \"now\"; a }\n",
            "fn manifest may not set `org.opencontainers.image.created`",
        ),
        ("fn manifest(a, args) { a.x = 1; a }\n", "fn manifest must hand back a map of strings"),
        ("fn other(a, b) {}\n", "defines neither `fn config(cfg, args)` nor `fn manifest(annotations, args)`"),
    ];
    for (script, reason) in cases {
        let sandbox = Sandbox::new();
        let message = build_fails(&sandbox, &image_plugin_recipe(&sandbox, script, None));
        assert!(message.contains(reason), "`{reason}` missing:\n{message}");
        assert!(message.contains("i.toml:5:1"), "no recipe entry:\n{message}");
    }
    let sandbox = Sandbox::new();
    let script = "fn config(cfg, args) { cfg.Env = [\"A=1\"]; cfg.Cmd = [args.cmd]; cfg }\n\
                  fn manifest(a, args) { a[\"com.example.k\"] = \"v\"; a }\n";
    let recipe = image_plugin_recipe(&sandbox, script, Some("{ cmd = \"/x\" }"));
    let digest = sandbox.build(&[&recipe, "--output", "oci:i"]);
    let layout = sandbox.path().join("i");
    let manifest = common::json_blob(&layout, &digest);
    assert_eq!(manifest["annotations"]["com.example.k"], "v");
    let config = common::json_blob(&layout, manifest["config"]["digest"].as_str().unwrap());
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["/x"]));
    assert_eq!(config["config"]["Env"], serde_json::json!(["A=1"]));
}

#[test]
fn a_slow_plugin_meets_the_wall_clock_deadline() {
    let sandbox = Sandbox::new();
    // Few operations, each slow: the operation limit never trips, the clock does.
    let script = "fn layer(ctx, args) {\n  let s = \"x\";\n  for i in 0..23 { s += s; }\n  \
                  loop { if s.contains(\"y\") { break; } }\n}\n";
    let recipe = plugin_recipe(&sandbox, script, "{}");
    let started = std::time::Instant::now();
    let message = build_fails(&sandbox, &recipe);
    assert!(message.contains("p.rhai:4:"), "{message}");
    assert!(message.contains("the plugin ran longer than 10s"), "{message}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[test]
fn read_host_and_copy_work_with_a_recipe_named_without_a_directory() {
    let sandbox = Sandbox::new();
    sandbox.write("hello.txt", "hi\n");
    sandbox.write(
        "p.rhai",
        "fn layer(ctx, args) {\n  ctx.file(\"/etc/read\", ctx.read_host(\"hello.txt\"));\n  \
         ctx.copy(\"hello.txt\", \"/etc/copied\");\n}\n",
    );
    sandbox.write(
        "p.toml",
        "[image]\nname = \"localhost/p\"\n[from]\nscratch = true\n[[layer]]\n[[layer.plugin]]\nscript = \"p.rhai\"\n",
    );
    // `build p.toml` from the recipe's directory: its directory part is empty.
    let digest = sandbox.build(&["p.toml", "--output", "oci:img"]);
    let layout = sandbox.path().join("img");
    let manifest = common::json_blob(&layout, &digest);
    let files = layer_files(&layout, manifest["layers"][0]["digest"].as_str().unwrap());
    assert_eq!(files["etc/read"], "hi\n");
    assert_eq!(files["etc/copied"], "hi\n");
}

#[test]
fn image_hooks_may_not_hand_back_control_characters() {
    let cases = [
        (
            "fn config(cfg, args) { cfg.User = \"root\\n\"; cfg }\n",
            "fn config handed back `User` with the control character U+000A",
        ),
        (
            "fn config(cfg, args) { cfg.Env = [\"A=\\u0000\"]; cfg }\n",
            "fn config handed back `Env` with the control character U+0000",
        ),
        (
            "fn config(cfg, args) { cfg.Labels = #{ \"k\\t\": \"v\" }; cfg }\n",
            "`Labels` with the control character U+0009",
        ),
        (
            "fn config(cfg, args) { cfg.Entrypoint = [\"\\u007f\"]; cfg }\n",
            "`Entrypoint` with the control character U+007F",
        ),
        (
            "fn config(cfg, args) { cfg.StopSignal = \"\\u001b[2J\"; cfg }\n",
            "`StopSignal` with the control character U+001B",
        ),
        (
            "fn manifest(a, args) { a[\"com.example.k\"] = \"\\r\"; a }\n",
            "fn manifest handed back an annotation with the control character U+000D",
        ),
    ];
    for (script, reason) in cases {
        let sandbox = Sandbox::new();
        let message = build_fails(&sandbox, &image_plugin_recipe(&sandbox, script, None));
        assert!(message.contains(reason), "`{reason}` missing:\n{message}");
        // Located in the script (where it returned) and at the recipe entry, with a caret.
        assert!(message.contains("i.rhai:1:") && message.contains("in fn "), "not located:\n{message}");
        assert!(message.contains("i.toml:5:1") && message.contains("╰── image plugin"), "no caret:\n{message}");
        assert!(!sandbox.path().join("out").exists());
    }
}
