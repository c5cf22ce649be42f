//! Every command block of the README and of `docs/` (```sh and ```console
//! fences), run as written in a sandbox: `compose-img` is the binary under
//! test, `podman` the real one with the flags these machines need, the
//! repository's recipes are beside it, and `registry.example.com` is a
//! local docker-registry (reached with `--tls-verify=false`). In a block
//! with `$ ` prompts, the other lines are the output the command before
//! must print (a line with `…` is not checked). A block that cannot run
//! here (it needs the internet, cosign, a Rust toolchain or files a reader
//! has) says so in its fence, ```sh no-run, and is counted: the count is
//! pinned, so no block stops running silently.

use std::path::Path;
use std::process::Command;

use crate::common;

use common::{Registry, Sandbox};

/// The blocks marked ```sh no-run in README.md and docs/.
const NO_RUN: usize = 10;

/// One command block: where it is, and its text.
struct Block {
    place: String,
    body: Vec<String>,
}

/// The blocks of `file` to run, and how many are marked no-run.
fn blocks(file: &Path, shown: &str) -> (Vec<Block>, usize) {
    let text = std::fs::read_to_string(file).unwrap();
    let (mut blocks, mut skipped) = (Vec::new(), 0);
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let Some(info) = line.strip_prefix("```") else { continue };
        let language = info.split_whitespace().next().unwrap_or("");
        let body: Vec<String> =
            lines.by_ref().map(|(_, l)| l).take_while(|l| !l.starts_with("```")).map(str::to_owned).collect();
        if language != "sh" && language != "console" {
            continue;
        }
        if info.split_whitespace().any(|word| word == "no-run") {
            skipped += 1;
        } else {
            blocks.push(Block { place: format!("{shown}:{}", n + 1), body });
        }
    }
    (blocks, skipped)
}

/// A `podman` for the PATH that adds the flags these machines need.
fn podman_shim(dir: &Path, storage: &Path) {
    let real = common::tool("podman");
    let script = format!(
        "#!/bin/sh\nbase=\"--storage-driver vfs --root {root}/root --runroot {root}/runroot\"\n\
         if [ \"$1\" = run ]; then shift; exec {real} $base run --runtime /usr/sbin/runc --net=none \
         --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 \"$@\"; fi\nexec {real} $base \"$@\"\n",
        root = storage.display(),
        real = real.display()
    );
    let path = dir.join("podman");
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `line` without a trailing `   # comment`.
fn without_comment(line: &str) -> &str {
    line.find("   #").map_or(line, |at| &line[..at]).trim_end()
}

#[test]
fn every_command_block_of_the_readme_and_docs_runs() {
    let sandbox = Sandbox::new();
    common::copy_recipes(sandbox.path());
    let registry = Registry::start();
    let bin_dir = sandbox.path().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::os::unix::fs::symlink(common::bin(), bin_dir.join("compose-img")).unwrap();
    podman_shim(&bin_dir, &sandbox.path().join("podman"));
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());

    let mut files = vec![("README.md".to_owned(), common::repo().join("README.md"))];
    #[allow(clippy::disallowed_methods, reason = "sorted below")]
    let mut docs: Vec<_> = std::fs::read_dir(common::repo().join("docs")).unwrap().map(|e| e.unwrap().path()).collect();
    docs.sort();
    files.extend(
        docs.into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "md"))
            .map(|p| (format!("docs/{}", p.file_name().unwrap().to_string_lossy()), p)),
    );
    let (mut ran, mut skipped) = (0, 0);
    for (shown, file) in &files {
        let (found, no_run) = blocks(file, shown);
        skipped += no_run;
        for block in found {
            run_block(&block, sandbox.path(), &path, &registry.host);
            ran += 1;
        }
    }
    assert_eq!(skipped, NO_RUN, "blocks marked no-run changed: update NO_RUN after checking each still cannot run");
    assert!(ran >= 1, "no block ran");
}

fn run_block(block: &Block, dir: &Path, path: &str, registry: &str) {
    let prompted = block.body.iter().any(|l| l.starts_with("$ "));
    let mut last_output = String::new();
    // A line ending in `\` goes on on the next one, as in a shell.
    let mut lines: Vec<String> = Vec::new();
    for line in &block.body {
        match lines.last_mut() {
            Some(last) if last.ends_with('\\') => {
                last.pop();
                last.push_str(line.trim_start());
            }
            _ => lines.push(line.clone()),
        }
    }
    for line in &lines {
        let command = match (prompted, line.strip_prefix("$ ")) {
            (true, Some(command)) => command,
            (true, None) => {
                let expected = line.trim();
                assert!(
                    expected.is_empty() || expected.contains('…') || last_output.contains(expected),
                    "{}: expected `{expected}` in the output:\n{last_output}",
                    block.place
                );
                continue;
            }
            (false, _) if line.trim().is_empty() || line.trim_start().starts_with('#') => continue,
            (false, _) => line.as_str(),
        };
        let mut command = without_comment(command).to_owned();
        if command.contains("registry.example.com") {
            command = command.replace("registry.example.com", registry) + " --tls-verify=false";
        }
        let out = Command::new("sh")
            .args(["-c", &command])
            .current_dir(dir)
            .env("PATH", path)
            .env("COMPOSE_IMG_STORE", dir.join("store"))
            .env("COSIGN_PASSWORD", "docs")
            .output()
            .unwrap();
        last_output = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{}: `{command}` failed:\n{last_output}", block.place);
    }
}
