//! Multi-platform recipes: one manifest per platform under an image index,
//! `{arch}` in copy sources, parents resolved per platform (from a
//! registry index and from a parent recipe), `--platform` narrowing.

use crate::common;

use std::io::Read;
use std::path::Path;
use std::process::Command;

use common::{Registry, Sandbox, assert_success, json_blob, run, tool};

fn multiarch() -> String {
    common::repo().join("recipes/multiarch.toml").display().to_string()
}

/// The content of `path` in the zstd layer `digest` of a layout.
fn file_in_layer(layout: &Path, digest: &str, path: &str) -> Option<String> {
    let blob = common::blob(layout, digest);
    let mut archive = tar::Archive::new(zstd::Decoder::new(&blob[..]).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some(path) {
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            return Some(text);
        }
    }
    None
}

/// The manifests of an index blob: (digest, architecture).
fn entries(index: &serde_json::Value) -> Vec<(String, String)> {
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["digest"].as_str().unwrap().to_owned(), m["platform"]["architecture"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn one_manifest_per_platform_under_an_index() {
    let sandbox = Sandbox::new();
    let digest = sandbox.build(&[&multiarch(), "--output", "oci:out"]);
    let layout = sandbox.path().join("out");
    assert_eq!(common::layout_digest(&layout, "latest"), digest);
    let index = json_blob(&layout, &digest);
    assert_eq!(index["mediaType"], "application/vnd.oci.image.index.v1+json");
    let manifests = entries(&index);
    let arches: Vec<&str> = manifests.iter().map(|(_, a)| a.as_str()).collect();
    assert_eq!(arches, ["amd64", "arm64"]);
    for ((manifest, arch), expected) in manifests.iter().zip(["x86_64\n", "aarch64\n"]) {
        let manifest = json_blob(&layout, manifest);
        let config = json_blob(&layout, manifest["config"]["digest"].as_str().unwrap());
        assert_eq!(config["architecture"], arch.as_str());
        let layer = manifest["layers"][0]["digest"].as_str().unwrap();
        assert_eq!(file_in_layer(&layout, layer, "etc/arch").as_deref(), Some(expected), "{arch}");
    }
    let info = run(Command::new(tool("skopeo"))
        .args(["inspect", "--override-arch", "arm64"])
        .arg(format!("oci:{}:latest", layout.display())));
    assert!(info.contains("\"Architecture\": \"arm64\""), "{info}");

    // --platform narrows the build to a plain manifest: the index's own.
    let arm = sandbox.build(&[&multiarch(), "--platform", "linux/arm64", "--output", "oci:arm"]);
    assert_eq!(arm, manifests[1].0);
    let out = sandbox.cmd().args(["build", &multiarch(), "--platform", "linux/s390x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("builds none of the platforms asked for with --platform (linux/s390x)"), "{stderr}");
    let out = sandbox.cmd().args(["build", &multiarch(), "--output", "docker-archive:x.tar"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!sandbox.path().join("x.tar").exists());
}

#[test]
fn multi_platform_parents_resolve_per_platform() {
    let registry = Registry::start();
    let sandbox = Sandbox::new();
    let parent = format!("docker://{}/multiarch:1", registry.host);
    let index_digest = sandbox.build(&[&multiarch(), "--output", &parent, "--tls-verify=false"]);
    let raw = run(Command::new(tool("skopeo")).args(["inspect", "--raw", "--tls-verify=false", &parent]));
    let index: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let parent_manifests = entries(&index);
    let copied = sandbox.path().join("copied");
    run(Command::new(tool("skopeo"))
        .args(["copy", "--all", "--preserve-digests", "--src-tls-verify=false", &parent])
        .arg(format!("oci:{}:x", copied.display())));
    assert_eq!(common::layout_digest(&copied, "x"), index_digest);

    let child = "[image]\nname = \"localhost/child\"\nplatforms = [\"linux/arm64\", \"linux/amd64\"]\n[from]\n";
    let child = format!(
        "{child}image = \"{parent}\"\n[[layer]]\nname = \"mine\"\n[[layer.file]]\npath = \"/etc/child\"\ncontent = \"c\"\n"
    );
    let recipe = sandbox.write("child.toml", &child);
    let digest = sandbox.build(&[recipe.to_str().unwrap(), "--output", "oci:child", "--tls-verify=false"]);
    let layout = sandbox.path().join("child");
    for (manifest, arch) in entries(&json_blob(&layout, &digest)) {
        let manifest = json_blob(&layout, &manifest);
        let (parent_manifest, _) = parent_manifests.iter().find(|(_, a)| *a == arch).unwrap();
        assert_eq!(manifest["annotations"]["org.opencontainers.image.base.digest"], parent_manifest.as_str());
        let parent_layer = json_blob(&copied, parent_manifest)["layers"][0]["digest"].clone();
        assert_eq!(manifest["layers"][0]["digest"], parent_layer, "{arch}: parent layer changed");
        assert_eq!(manifest["layers"].as_array().unwrap().len(), 2);
    }

    // A parent recipe that lacks a platform of its child is refused, located.
    std::fs::copy(multiarch(), sandbox.path().join("multiarch.toml")).unwrap();
    run(Command::new("cp").arg("-r").arg(common::repo().join("recipes/multiarch")).arg(sandbox.path()));
    let riscv =
        "[image]\nname = \"localhost/r\"\nplatforms = [\"linux/riscv64\"]\n[from]\nrecipe = \"multiarch.toml\"\n";
    sandbox.write("riscv.toml", riscv);
    let out = sandbox.cmd().args(["build", "riscv.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the parent recipe does not build linux/riscv64 (it builds linux/amd64, linux/arm64)"),
        "{stderr}"
    );
    assert!(stderr.contains("riscv.toml:5:10"), "{stderr}");
    assert!(!sandbox.path().join("out").exists(), "an output was written");
    let plan = sandbox.cmd().args(["plan", "child.toml", "--platform", "linux/arm64"]).output().unwrap();
    assert_success(&plan);
    let text = String::from_utf8_lossy(&plan.stdout);
    // The child's lock file (written by its build) pins the parent.
    let pinned =
        format!("linux/arm64 (from image {}@{})", parent.trim_start_matches("docker://"), parent_manifests[1].0);
    assert!(text.contains(&pinned), "{text}");
}

#[test]
fn attestation_entries_of_an_index_are_copied_verbatim() {
    use sha2::Digest as _;
    let registry = Registry::start();
    let sandbox = Sandbox::new();
    let index_digest = sandbox.build(&[&multiarch(), "--output", "oci:ma"]);
    let layout = sandbox.path().join("ma");
    // Add what BuildKit adds to an index: an attestation manifest for
    // platform unknown/unknown whose layer is in-toto JSON.
    let put = |bytes: &[u8]| {
        let hex: String = sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(layout.join("blobs/sha256").join(&hex), bytes).unwrap();
        serde_json::json!({"digest": format!("sha256:{hex}"), "size": bytes.len()})
    };
    let statement =
        put(br#"{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document"}"#);
    let config =
        put(br#"{"architecture":"unknown","os":"unknown","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#);
    let attestation = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config["digest"], "size": config["size"]},
        "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": statement["digest"], "size": statement["size"]}]});
    let attestation = put(&serde_json::to_vec(&attestation).unwrap());
    let mut index = json_blob(&layout, &index_digest);
    index["manifests"].as_array_mut().unwrap().push(serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": attestation["digest"], "size": attestation["size"],
        "platform": {"architecture": "unknown", "os": "unknown"}}));
    let index = put(&serde_json::to_vec(&index).unwrap());
    let top = serde_json::json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": index["digest"], "size": index["size"], "annotations": {"org.opencontainers.image.ref.name": "att"}}]});
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();

    let remote = format!("docker://{}/attested:1", registry.host);
    let out = sandbox.cmd().args(["copy", "--all", "oci:ma:att", &remote, "--tls-verify=false"]).output().unwrap();
    assert_success(&out);
    assert_eq!(common::first_digest(&out), index["digest"].as_str().unwrap());
    let copied = sandbox.path().join("back");
    run(Command::new(tool("skopeo"))
        .args(["copy", "--all", "--preserve-digests", "--src-tls-verify=false", &remote])
        .arg(format!("oci:{}:x", copied.display())));
    assert_eq!(common::layout_digest(&copied, "x"), index["digest"].as_str().unwrap());
    let report = run(sandbox.cmd().args(["inspect", &remote, "--tls-verify=false", "--json"]));
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["platforms"].as_array().unwrap().len(), 2, "the attestation is not a platform");
}
