//! docs/recipes.md#reproducibility: the same recipe and inputs give the same digests whatever the
//! directory, umask, timezone, locale, `--jobs` and file-system order; the
//! timestamp comes from SOURCE_DATE_EPOCH; and pinned golden digests catch
//! any accidental change of the format.

use crate::common;

use std::process::Command;

use common::{Sandbox, bin, json_blob, layout_digest};

/// Manifest digests of `recipes/hello.toml` with SOURCE_DATE_EPOCH unset (0).
/// A change here is a format change: call it out in the changelog.
const HELLO_ZSTD: &str = "sha256:268ac9185c1cf776e034ba9632bd7bc498f3815be853674bfe2e9fd5dea670f1";
const HELLO_GZIP: &str = "sha256:acbdace43de3f57e81d8fb8f29e2aa1e98dc52d1ece5cb7c86df1322d5e8d476";

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
    // Two layers, built side by side with more than one job, of bytes that
    // barely compress. zstd: 15 MiB each, so several 4 MiB frames compressed
    // on the pool, more at once with more jobs; gzip: 6 MiB each, in 1 MiB
    // blocks (tests/suite/gzip_layers.rs has more).
    for (compression, mib) in [("zstd", 15), ("gzip", 6)] {
        let sandbox = Sandbox::new();
        for i in 0..mib {
            sandbox.write_bytes(&format!("big/f{i:02}"), &common::noise(0x51_7cc1_b727_220a + i, 1 << 20));
        }
        sandbox.write(
            "big.toml",
            "[image]\nname = \"localhost/big\"\n[from]\nscratch = true\n\
             [[layer]]\nname = \"one\"\n[[layer.copy]]\nsrc = \"big/\"\ndest = \"/one\"\n\
             [[layer]]\nname = \"two\"\n[[layer.copy]]\nsrc = \"big/\"\ndest = \"/two\"\n",
        );
        let digests = ["1", "4"].map(|jobs| {
            // A store of its own: every layer is compressed, none reused.
            let (store, output) = (format!("store-{jobs}"), format!("oci:out-{jobs}"));
            let args = ["big.toml", "--jobs", jobs, "--compression", compression];
            sandbox.build(&[&args[..], &["--store", &store, "--output", &output]].concat())
        });
        assert_eq!(digests[0], digests[1], "{compression}");

        let layout = sandbox.path().join("out-1");
        let manifest = json_blob(&layout, &layout_digest(&layout, "latest"));
        let layers = manifest["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 2);
        for layer in layers {
            let blob = common::blob(&layout, layer["digest"].as_str().unwrap());
            assert!(blob.len() as u64 > (mib - 1) << 20, "{compression}: compressed to {} bytes", blob.len());
            if compression == "zstd" {
                assert!(zstd_frames(&blob) >= 4, "{} frames", zstd_frames(&blob));
            }
        }
    }
}

/// The number of zstd frames in `blob`.
fn zstd_frames(mut blob: &[u8]) -> usize {
    let mut frames = 0;
    while !blob.is_empty() {
        let len = zstd::zstd_safe::find_frame_compressed_size(blob).expect("a zstd frame");
        blob = &blob[len..];
        frames += 1;
    }
    frames
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
        let tar = crate::layers::layer_tar(&layout, layer);
        for entry in tar::Archive::new(&tar[..]).entries().unwrap() {
            assert_eq!(entry.unwrap().header().mtime().unwrap(), 1_700_000_000);
        }
    }
}
