//! A cold build of one layer (plan + input hashing + tar + compression +
//! store, as `compose-img build` runs it, through the binary: the library
//! keeps its stages to itself), on the tree of `benches/gen_tree.rs` (the
//! gen-tree example), made in a temporary directory at
//! COMPOSE_IMG_BENCH_SCALE (default 0.1, as `scripts/bench`, which sets it).
//! Each compression is measured on the same tree so their ratios can be
//! compared; `scripts/bench` compares compose-img against tar | zstd.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

#[allow(
    dead_code,
    unreachable_pub,
    reason = "the example's own main and argument parsing are not used here; its items are the example's API"
)]
#[path = "gen_tree.rs"]
mod gen_tree;

static TREE: OnceLock<tempfile::TempDir> = OnceLock::new();

fn main() {
    divan::main();
    // A static is never dropped: remove the tree here.
    if let Some(dir) = TREE.get() {
        let _ = std::fs::remove_dir_all(dir.path());
    }
}

/// The benchmark tree, generated on first use.
fn tree() -> &'static Path {
    TREE.get_or_init(|| {
        let scale = std::env::var("COMPOSE_IMG_BENCH_SCALE")
            .map_or(0.1, |s| s.parse().unwrap_or_else(|_| panic!("COMPOSE_IMG_BENCH_SCALE is not a number: {s:?}")));
        let dir = tempfile::tempdir().unwrap();
        gen_tree::generate(dir.path(), scale).unwrap();
        dir
    })
    .path()
}

#[divan::bench(args = ["zstd", "gzip", "none"], sample_count = 3, sample_size = 1)]
fn build_one_layer(bencher: divan::Bencher, compression: &str) {
    let tree = tree();
    let work = tempfile::tempdir().unwrap();
    let recipe = work.path().join("bench.toml");
    std::fs::write(
        &recipe,
        format!(
            "[image]\nname = \"localhost/bench\"\n[from]\nscratch = true\n[[layer]]\n[[layer.copy]]\nsrc = \"{}/\"\n",
            tree.display()
        ),
    )
    .unwrap();
    // Cold: a new store each time, so every input is read and hashed.
    bencher.with_inputs(|| tempfile::tempdir().unwrap()).bench_local_values(|scratch| {
        let status = Command::new(env!("CARGO_BIN_EXE_compose-img"))
            .args(["--quiet", "build"])
            .arg(&recipe)
            .args(["--compression", compression, "--output"])
            .arg(format!("oci:{}", scratch.path().join("out").display()))
            .env("COMPOSE_IMG_STORE", scratch.path().join("store"))
            .env("SOURCE_DATE_EPOCH", "0")
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "the build failed");
        scratch
    });
}
