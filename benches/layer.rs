//! Cold layer building: plan + input hashing + tar + compression + store, on the tree of
//! `benches/gen_tree.rs` (the gen-tree example), made in a temporary directory at
//! COMPOSE_IMG_BENCH_SCALE (default 0.1, as `scripts/bench`, which sets it). Each
//! compression is measured on the same tree so their ratios can be
//! compared; `scripts/bench` compares compose-img against tar | zstd.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use compose_img::layer::progress::Silent;
use compose_img::layer::write::{LayerKeys, build_layer};
use compose_img::layer::{BuildSettings, Compression};
use compose_img::plan::{Planned, digest_inputs, plan, walk_sources};
use compose_img::recipe::load;
use compose_img::store::Store;

#[allow(dead_code, reason = "the example's own main and argument parsing are not used here")]
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
    let recipe = Arc::new(load(&recipe).unwrap());
    let compression = match compression {
        "zstd" => Compression::Zstd { level: Compression::DEFAULT_ZSTD_LEVEL },
        "gzip" => Compression::Gzip { level: Compression::DEFAULT_GZIP_LEVEL },
        _ => Compression::None,
    };
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let settings = BuildSettings { source_date_epoch: 0, compression, jobs };
    // Cold: a new store each time, so every input is read and hashed.
    bencher.with_inputs(|| tempfile::tempdir().unwrap()).bench_local_values(|store_dir| {
        let store = Store::open(store_dir.path()).unwrap();
        let platform = &recipe.image.platforms[0];
        let walks = walk_sources(&recipe, platform);
        let mut planned = plan(Arc::clone(&recipe), platform, settings.source_date_epoch, walks, &[]).unwrap();
        digest_inputs(&mut planned, &store, true, &[]).unwrap();
        let Planned::Tree(layer) = &planned.layers[0] else { unreachable!("nothing is cached") };
        build_layer(layer, &LayerKeys::default(), &settings, &store, false, &Silent).unwrap()
    });
}
