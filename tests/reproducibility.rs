//! SPEC §4: the same recipe and inputs give the same digests whatever the
//! directory, umask, timezone, locale, `--jobs` and file-system order; the
//! timestamp comes from SOURCE_DATE_EPOCH; and pinned golden digests catch
//! any accidental change of the format.

mod common;

use std::process::Command;

use common::{Sandbox, bin, json_blob, layout_digest};

/// Manifest digests of `recipes/hello.toml` with SOURCE_DATE_EPOCH unset (0).
/// A change here is a format change: call it out in the changelog.
const HELLO_ZSTD: &str = "sha256:88d960cfa04aed3bfc99373e308771f302a0c0a3f9a00ddcea09e42d43062e84";
const HELLO_GZIP: &str = "sha256:080c918da4300a2372f4d4b59bac271bf961daabbccbff348a0cea922a5419fc";

/// Copies the recipes under `umask`, then builds hello.toml there with
/// `extra` arguments and environment; returns the manifest digest.
fn build_copy(umask: &str, env: &[(&str, &str)], extra: &str) -> (Sandbox, String) {
    let sandbox = Sandbox::new();
    let script = format!(
        "umask {umask} && mkdir work && cp -r '{}' work/ && cd work && exec '{}' build recipes/hello.toml {extra}",
        common::repo().join("recipes").display(),
        bin().display()
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(sandbox.path())
        .env_remove("SOURCE_DATE_EPOCH")
        .env("COMPOSE_IMG_STORE", sandbox.store())
        .envs(env.iter().copied())
        .output()
        .unwrap();
    common::assert_success(&out);
    let digest = common::first_digest(&out);
    (sandbox, digest)
}

#[test]
fn golden_digests_of_the_example() {
    let sandbox = Sandbox::new();
    let recipe = common::repo().join("recipes/hello.toml");
    let recipe = recipe.to_str().unwrap();
    assert_eq!(sandbox.build(&[recipe]), HELLO_ZSTD);
    assert_eq!(sandbox.build(&[recipe, "--compression", "gzip", "--output", "oci:gz"]), HELLO_GZIP);
}

#[test]
fn same_digest_across_directories_umasks_jobs_timezones_and_locales() {
    let (a, digest_a) = build_copy("022", &[("TZ", "UTC"), ("LANG", "C")], "--jobs 1");
    let (b, digest_b) = build_copy("077", &[("TZ", "Asia/Tokyo"), ("LANG", "de_DE.UTF-8")], "--jobs 2");
    assert_eq!(digest_a, digest_b);
    assert_eq!(digest_a, HELLO_ZSTD);
    // Every blob, not just the manifest, is the same.
    #[allow(clippy::disallowed_methods, reason = "the names are sorted before comparing")]
    let blobs = |s: &Sandbox| {
        let mut names: Vec<_> = std::fs::read_dir(s.path().join("work/out/hello/blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    assert_eq!(blobs(&a), blobs(&b));
}

#[test]
fn gzip_and_zstd_do_not_depend_on_jobs() {
    for compression in ["zstd", "gzip"] {
        let (_, one) = build_copy("022", &[], &format!("--jobs 1 --compression {compression}"));
        let (_, two) = build_copy("022", &[], &format!("--jobs 2 --compression {compression}"));
        assert_eq!(one, two, "{compression}");
    }
}

#[test]
fn file_system_order_does_not_matter() {
    let names: Vec<String> = (0..200).map(|i| format!("f{i:03}")).collect();
    let mut digests = Vec::new();
    for order in [names.clone(), names.iter().rev().cloned().collect()] {
        let sandbox = Sandbox::new();
        for name in &order {
            sandbox.write(&format!("tree/{name}"), name);
        }
        sandbox.write(
            "r.toml",
            "[image]\nname = \"localhost/order\"\n[from]\nscratch = true\n[[layer]]\n[[layer.copy]]\nsrc = \"tree/\"\n",
        );
        digests.push(sandbox.build(&["r.toml"]));
    }
    assert_eq!(digests[0], digests[1]);
}

#[test]
fn source_date_epoch_sets_every_timestamp() {
    let (_, default) = build_copy("022", &[], "");
    let (env_sandbox, from_env) = build_copy("022", &[("SOURCE_DATE_EPOCH", "1700000000")], "");
    let (_, from_flag) = build_copy("022", &[("SOURCE_DATE_EPOCH", "5")], "--source-date-epoch 1700000000");
    assert_ne!(default, from_env);
    assert_eq!(from_env, from_flag, "the flag overrides the environment");

    let layout = env_sandbox.path().join("work/out/hello");
    let manifest = json_blob(&layout, &layout_digest(&layout, "latest"));
    let created = "2023-11-14T22:13:20Z";
    assert_eq!(manifest["annotations"]["org.opencontainers.image.created"], created);
    let config = json_blob(&layout, manifest["config"]["digest"].as_str().unwrap());
    assert_eq!(config["created"], created);
    for entry in config["history"].as_array().unwrap() {
        assert_eq!(entry["created"], created);
    }
    for layer in manifest["layers"].as_array().unwrap() {
        let bytes = common::blob(&layout, layer["digest"].as_str().unwrap());
        let tar = zstd::decode_all(&bytes[..]).unwrap();
        for entry in tar::Archive::new(&tar[..]).entries().unwrap() {
            assert_eq!(entry.unwrap().header().mtime().unwrap(), 1_700_000_000);
        }
    }
}
