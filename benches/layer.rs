//! Cold layer building: plan + input hashing + tar + compression + store, on a tree made by
//! `../shared/bench/gen-tree` (set COMPOSE_IMG_BENCH_TREE, default
//! /tmp/compose-img-bench/tree; `scripts/bench` creates it). Each
//! compression is measured on the same tree so their ratios can be
//! compared; `scripts/bench` compares compose-img against tar | zstd.

use std::path::PathBuf;
use std::sync::Arc;

use compose_img::layer::progress::Silent;
use compose_img::layer::write::{LayerKeys, build_layer};
use compose_img::layer::{BuildSettings, Compression};
use compose_img::plan::{Planned, digest_inputs, plan, walk_sources};
use compose_img::recipe::load;
use compose_img::store::Store;

fn main() {
    divan::main();
}

fn tree() -> PathBuf {
    std::env::var_os("COMPOSE_IMG_BENCH_TREE")
        .map_or_else(|| PathBuf::from("/tmp/compose-img-bench/tree"), PathBuf::from)
}

#[divan::bench(args = ["zstd", "gzip", "none"], sample_count = 3, sample_size = 1)]
fn build_one_layer(bencher: divan::Bencher, compression: &str) {
    let tree = tree();
    assert!(tree.is_dir(), "{} is missing: run scripts/bench (or gen-tree) first", tree.display());
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
