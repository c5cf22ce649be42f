//! Recipes and plugins that try to exhaust memory, stack or time, or to
//! flood the terminal. Each case runs compose-img under a 1 GiB
//! address-space limit and a 60 s clock, and must end with exit status 1,
//! no panic, an error located in the script (line and column) and the
//! recipe entry, and less than 64 KiB of stderr.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common::{self, Sandbox};

/// stderr of any failure stays under this.
const MAX_STDERR: usize = 64 << 10;

/// `compose-img ARGS` in `sandbox` under `ulimit -v 1048576` and `timeout 60`.
fn bounded(sandbox: &Sandbox, args: &[&str]) -> (Output, Duration) {
    let start = Instant::now();
    let out = Command::new("sh")
        .args(["-c", "ulimit -v 1048576; exec timeout 60 \"$@\"", "sh"])
        .arg(common::bin())
        .args(args)
        .current_dir(sandbox.path())
        .env_remove("SOURCE_DATE_EPOCH")
        .env("COMPOSE_IMG_STORE", sandbox.store())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (out, start.elapsed())
}

/// Builds `recipe` and checks it fails as every case must; returns stderr
/// with the lines the renderer wrapped joined again.
fn refused(sandbox: &Sandbox, recipe: &str, expected: &[&str]) -> String {
    let (out, took) = bounded(sandbox, &["build", recipe]);
    assert!(out.stderr.len() < MAX_STDERR, "{} bytes of stderr for {recipe}", out.stderr.len());
    let stderr = String::from_utf8_lossy(&out.stderr).replace("\n  │ ", " ");
    assert_eq!(out.status.code(), Some(1), "{recipe} after {took:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for text in expected {
        assert!(stderr.contains(text), "`{text}` missing for {recipe}:\n{stderr}");
    }
    assert!(took < Duration::from_secs(30), "{recipe} took {took:?}");
    stderr
}

/// A recipe `p.toml` whose one layer runs `script` (`p.rhai`); its
/// `[[layer.plugin]]` entry is at p.toml:7:1.
fn layer_plugin(sandbox: &Sandbox, script: &str) -> &'static str {
    sandbox.write("p.rhai", script);
    let text = "[image]\nname = \"localhost/p\"\n[from]\nscratch = true\n[[layer]]\nname = \"plugged\"\n\
                [[layer.plugin]]\nscript = \"p.rhai\"\n";
    sandbox.write("p.toml", text);
    "p.toml"
}

/// A recipe `i.toml` whose `[[plugin]]` (at i.toml:5:1) runs `script`.
fn image_plugin(sandbox: &Sandbox, script: &str) -> &'static str {
    sandbox.write("i.rhai", script);
    sandbox
        .write("i.toml", "[image]\nname = \"localhost/i\"\n[from]\nscratch = true\n[[plugin]]\nscript = \"i.rhai\"\n");
    "i.toml"
}

/// A string of 2^`doublings` `a`s, in Rhai.
fn big(doublings: u32) -> String {
    format!("let s = \"a\"; for i in 0..{doublings} {{ s += s; }}")
}

#[test]
fn string_functions_refuse_a_result_over_the_limit_before_making_it() {
    let cases = [
        // 1 MiB × 1 MiB: 1 TiB.
        (
            format!("fn layer(ctx, args) {{\n  {}\n  let t = s;\n  s.replace(\"a\", t);\n}}\n", big(20)),
            "p.rhai:4:",
            "Length of string over the limit: a string may hold at most 16777216 bytes (the string limit)",
        ),
        (
            format!("fn layer(ctx, args) {{\n  {}\n  let t = s;\n  s.replace('a', t);\n}}\n", big(20)),
            "p.rhai:4:",
            "Length of string over the limit: a string may hold at most 16777216 bytes (the string limit)",
        ),
        (
            format!("fn layer(ctx, args) {{\n  {}\n  s.replace(\"\", s);\n}}\n", big(20)),
            "p.rhai:3:",
            "Length of string over the limit: a string may hold at most 16777216 bytes (the string limit)",
        ),
        // 16 Mi pieces.
        (
            format!("fn layer(ctx, args) {{\n  {}\n  let p = s.split(\"\");\n}}\n", big(24)),
            "p.rhai:3:",
            "Size of array/BLOB over the limit: an array may hold at most 100000 items",
        ),
        (
            format!("fn layer(ctx, args) {{\n  {}\n  let p = s.split('a');\n}}\n", big(24)),
            "p.rhai:3:",
            "Size of array/BLOB over the limit: an array may hold at most 100000 items",
        ),
        (
            format!("fn layer(ctx, args) {{\n  {}\n  let p = s.to_chars();\n}}\n", big(24)),
            "p.rhai:3:",
            "Size of array/BLOB over the limit: an array may hold at most 100000 items",
        ),
    ];
    for (script, place, reason) in cases {
        let sandbox = Sandbox::new();
        let recipe = layer_plugin(&sandbox, &script);
        refused(&sandbox, recipe, &[place, reason, "in fn layer (called by p.toml:7:1)"]);
    }
}

#[test]
fn values_nested_too_deeply_are_refused_where_they_would_recurse() {
    // Converting what a hook hands back recursed once per level (2000
    // levels overflowed the stack); Rhai's printing and comparing do too,
    // with larger frames.
    let nest = |levels: u32| format!("let a = [];\n  for i in 0..{levels} {{ a = [take(a)]; }}");
    let cases = [
        (format!("fn config(cfg, args) {{\n  {}\n  cfg.Labels = #{{ x: a }};\n  cfg\n}}\n", nest(2000)), "i.rhai:5:3"),
        (format!("fn config(cfg, args) {{\n  {}\n  print(a);\n  cfg\n}}\n", nest(100)), "i.rhai:4:"),
        (
            format!(
                "fn config(cfg, args) {{\n  {}\n  let b = a;\n  if a == b {{ cfg }} else {{ cfg }}\n}}\n",
                nest(100)
            ),
            "i.rhai:5:",
        ),
        (format!("fn config(cfg, args) {{\n  {}\n  throw a;\n}}\n", nest(100)), "i.rhai:4:"),
    ];
    for (script, place) in cases {
        let sandbox = Sandbox::new();
        let recipe = image_plugin(&sandbox, &script);
        refused(&sandbox, recipe, &[place, "in fn config (called by i.toml:5:1)", "nested deeper than 64 levels"]);
    }
}

#[test]
fn closures_may_not_capture_and_curry_is_refused() {
    // Each closure captures the one before: a chain nobody counts, whose
    // drop recursed once per link.
    let sandbox = Sandbox::new();
    let chain =
        "fn layer(ctx, args) {\n  let f = || 0;\n  for i in 0..1000000 {\n    let g = f;\n    f = || g;\n  }\n}\n";
    let recipe = layer_plugin(&sandbox, chain);
    refused(&sandbox, recipe, &["p.rhai:5:", "a closure may not capture a variable (here `g`)", "p.toml:7:1"]);
    // Each curry doubles the function pointer: 2^40 copies.
    let sandbox = Sandbox::new();
    let doubling =
        "fn g(x) { x }\nfn layer(ctx, args) {\n  let f = Fn(\"g\");\n  for i in 0..40 { f = curry(f, f); }\n}\n";
    let recipe = layer_plugin(&sandbox, doubling);
    refused(&sandbox, recipe, &["p.rhai:4:", "syntax error in the plugin", "'curry' is disabled", "p.toml:7:1"]);
    // Closures that capture nothing still work.
    let sandbox = Sandbox::new();
    let fine =
        "fn layer(ctx, args) {\n  ctx.file(\"/n\", `${[1, 2].map(|v| v * 2).reduce(|sum, v| sum + v, 0)}`);\n}\n";
    let recipe = layer_plugin(&sandbox, fine);
    let (out, _) = bounded(&sandbox, &["build", recipe]);
    common::assert_success(&out);
}

#[test]
fn a_hook_adds_at_most_64_mib_of_entries() {
    // 16 MiB strings, each copied into a file entry: 100,000 of them were
    // 1.6 TB kept until the layer is written.
    let sandbox = Sandbox::new();
    let script = format!(
        "fn layer(ctx, args) {{\n  {}\n  for i in 0..100000 {{\n    ctx.file(`/f${{i}}`, s);\n  }}\n}}\n",
        big(24)
    );
    let recipe = layer_plugin(&sandbox, &script);
    refused(&sandbox, recipe, &["p.rhai:4:9: in fn layer (called by p.toml:7:1)", "at most 64 MiB"]);
}

fn mkfifo(path: &std::path::Path) {
    common::run(Command::new("mkfifo").arg(path));
}

#[test]
fn host_files_must_be_regular_and_small_and_are_never_waited_on() {
    let sandbox = Sandbox::new();
    let recipe = layer_plugin(&sandbox, "fn layer(ctx, args) {\n  ctx.read_host(args.file);\n}\n");
    // A 3 GiB sparse file, a FIFO nobody writes to, a directory (a link to
    // /dev/zero leads out of the recipe's directory: refused before).
    std::fs::File::create(sandbox.path().join("sparse")).unwrap().set_len(3 << 30).unwrap();
    mkfifo(&sandbox.path().join("fifo"));
    std::fs::create_dir(sandbox.path().join("dir")).unwrap();
    for (file, reason) in [
        ("sparse", "over the limit of 16777216"),
        ("fifo", "a FIFO is not a regular file"),
        ("dir", "a directory is not a regular file"),
    ] {
        let text = std::fs::read_to_string(sandbox.path().join(recipe)).unwrap();
        sandbox.write("q.toml", &format!("{text}with = {{ file = \"{file}\" }}\n"));
        refused(
            &sandbox,
            "q.toml",
            &["p.rhai:2:7: in fn layer (called by q.toml:7:1)", &format!("cannot read `{file}`"), reason],
        );
    }

    // A plugin script that is a FIFO, or a link to /dev/zero.
    let sandbox = Sandbox::new();
    mkfifo(&sandbox.path().join("fifo.rhai"));
    std::os::unix::fs::symlink("/dev/zero", sandbox.path().join("zero.rhai")).unwrap();
    for (script, reason) in
        [("fifo.rhai", "a FIFO is not a regular file"), ("zero.rhai", "a device is not a regular file")]
    {
        let text =
            format!("[image]\nname = \"localhost/s\"\n[from]\nscratch = true\n[[plugin]]\nscript = \"{script}\"\n");
        sandbox.write("s.toml", &text);
        refused(&sandbox, "s.toml", &[&format!("cannot read plugin {script}: {reason}"), "s.toml:5:1"]);
    }

    // A recipe, or a parent recipe, that is /dev/zero or a FIFO.
    let sandbox = Sandbox::new();
    mkfifo(&sandbox.path().join("fifo.toml"));
    for parent in ["/dev/zero", "fifo.toml"] {
        sandbox.write("child.toml", &format!("[image]\nname = \"localhost/c\"\n[from]\nrecipe = \"{parent}\"\n"));
        refused(&sandbox, "child.toml", &[&format!("cannot read recipe {parent}"), "is not a regular file"]);
    }
    refused(&sandbox, "fifo.toml", &["cannot read recipe fifo.toml", "a FIFO is not a regular file"]);
    refused(&sandbox, "/dev/zero", &["cannot read recipe /dev/zero", "a device is not a regular file"]);
    std::fs::File::create(sandbox.path().join("huge.toml")).unwrap().set_len(1 << 30).unwrap();
    refused(&sandbox, "huge.toml", &["cannot read recipe huge.toml", "over the limit of 16777216"]);
}

#[test]
fn a_huge_recipe_key_or_many_mistakes_print_little() {
    // A 4 MiB key: the message quotes a part of it, the source line is shown
    // as a window around the key, at the key's real line and column.
    let sandbox = Sandbox::new();
    let key = "k".repeat(4 << 20);
    sandbox.write(
        "recipe.toml",
        &format!("[image]\nname = \"localhost/t\"\n[from]\nscratch = true\n[config]\n{key} = 1\n"),
    );
    let stderr = refused(&sandbox, "recipe.toml", &["unknown key `kkkk", "╭─[recipe.toml:6:1]"]);
    assert!(stderr.contains("bytes in all)"), "{stderr}");
    let sandbox = Sandbox::new();
    sandbox.write(
        "recipe.toml",
        &format!("[image]\nname = \"localhost/t\"\n[from]\nscratch = true\n[annotations]\n\"a\" = \"1\"\n{key} = \"\\u0000\"\n"),
    );
    let stderr = refused(
        &sandbox,
        "recipe.toml",
        &["╭─[recipe.toml:7:4194308]", "an `annotations` value contains the control character U+0000"],
    );
    assert!(stderr.contains("…"), "{stderr}");

    // 20,000 mistakes: the first few are shown, the rest counted.
    let sandbox = Sandbox::new();
    let mut text = "[image]\nname = \"localhost/t\"\n[from]\nscratch = true\n[[layer]]\n".to_owned();
    for i in 0..20_000 {
        text.push_str(&format!("[[layer.dir]]\npath = \"relative{i}\"\n"));
    }
    sandbox.write("recipe.toml", &text);
    refused(&sandbox, "recipe.toml", &["… 19980 more errors not shown", "error: 20000 errors in recipe.toml"]);

    // A plugin that throws 16 MiB of text.
    let sandbox = Sandbox::new();
    let recipe = layer_plugin(&sandbox, &format!("fn layer(ctx, args) {{\n  {}\n  throw s;\n}}\n", big(24)));
    refused(&sandbox, recipe, &["p.rhai:3:3: in fn layer (called by p.toml:7:1): aaaa", "(16777216 bytes in all)"]);
}
