//! The integration tests, one binary (as ripgrep and cargo do): one link
//! instead of one per file, and every test in one `cargo test` process.
//! A new file goes under `tests/suite/` with a line here; a `.rs` file
//! directly in `tests/` would be a test binary of its own.
//!
//! insta names snapshots after the module path: they live in
//! `tests/suite/snapshots/main__MODULE__NAME.snap`.

#![allow(
    unreachable_pub,
    clippy::print_stderr,
    reason = "test helpers are shared by modules of one binary; tests may say what they measured"
)]

mod common;
#[path = "common/layers.rs"]
mod layers;

#[path = "suite/architecture.rs"]
mod architecture;
#[path = "suite/docker_rules.rs"]
mod docker_rules;
#[path = "suite/docs_commands.rs"]
mod docs_commands;
#[path = "suite/ecosystem.rs"]
mod ecosystem;
#[path = "suite/error_messages.rs"]
mod error_messages;
#[path = "suite/graph_and_cache.rs"]
mod graph_and_cache;
#[path = "suite/gzip_layers.rs"]
mod gzip_layers;
#[path = "suite/hostile_images.rs"]
mod hostile_images;
#[path = "suite/hostile_recipes.rs"]
mod hostile_recipes;
#[path = "suite/hostile_registry.rs"]
mod hostile_registry;
#[path = "suite/inspect.rs"]
mod inspect;
#[path = "suite/interop.rs"]
mod interop;
#[path = "suite/layer_format.rs"]
mod layer_format;
#[path = "suite/lock.rs"]
mod lock;
#[path = "suite/parent_dirs.rs"]
mod parent_dirs;
#[path = "suite/platforms.rs"]
mod platforms;
#[path = "suite/plugin_authoring.rs"]
mod plugin_authoring;
#[path = "suite/plugins.rs"]
mod plugins;
#[path = "suite/progress.rs"]
mod progress;
#[path = "suite/referrers.rs"]
mod referrers;
#[path = "suite/registry.rs"]
mod registry;
#[path = "suite/reproducibility.rs"]
mod reproducibility;
#[path = "suite/shared_cache.rs"]
mod shared_cache;
#[path = "suite/signing.rs"]
mod signing;
#[path = "suite/supply_chain.rs"]
mod supply_chain;
#[path = "suite/transfers.rs"]
mod transfers;

/// A file under `tests/suite/` without its line above would never be
/// compiled: its tests would silently not run.
#[test]
fn every_file_of_the_suite_is_a_module() {
    let tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let main = std::fs::read_to_string(tests.join("main.rs")).unwrap();
    #[allow(clippy::disallowed_methods, reason = "the names are sorted before they are shown")]
    let files = std::fs::read_dir(tests.join("suite")).unwrap();
    let mut missing: Vec<String> = files
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".rs") && !main.contains(&format!("#[path = \"suite/{name}\"]")))
        .collect();
    missing.sort();
    assert!(missing.is_empty(), "in tests/suite/ but not declared in tests/main.rs: {missing:?}");
}
