//! Transfers checked as they go (docs/cache.md, "Transfers"): a push from
//! an OCI layout uploads its layers from the layout's files, never copied
//! into the store, each checked (digest, size, diff_id) before the
//! registry keeps it; a pull checks each layer's diff_id while it is
//! downloaded. Against Debian's docker-registry: what is refused leaves
//! nothing in the registry, the destination or the store.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::common::{Registry, Sandbox, assert_success, tool};

const NO_TLS: &str = "--tls-verify=false";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// An OCI layout `dir` of one image tagged `1`, of one gzip layer `blob`
/// whose config gives `diff_id`; the layer's digest.
fn layout(dir: &Path, blob: &[u8], diff_id: &str) -> String {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let put = |media_type: &str, bytes: &[u8]| {
        let digest = compose_img::digest::Digest::of(bytes);
        std::fs::write(dir.join("blobs/sha256").join(digest.hex()), bytes).unwrap();
        json!({ "mediaType": media_type, "digest": digest.to_string(), "size": bytes.len() })
    };
    let layer = put(LAYER_GZIP, blob);
    let config = json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
    });
    let config = put(CONFIG, &serde_json::to_vec(&config).unwrap());
    let manifest = json!({ "schemaVersion": 2, "mediaType": MANIFEST, "config": config, "layers": [layer] });
    let mut manifest = put(MANIFEST, &serde_json::to_vec(&manifest).unwrap());
    manifest["annotations"] = json!({ "org.opencontainers.image.ref.name": "1" });
    let index = json!({ "schemaVersion": 2, "mediaType": INDEX, "manifests": [manifest] });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    layer["digest"].as_str().unwrap().to_owned()
}

/// A tar of one file whose content is `noise_seed` noise (large enough to
/// be sent in several reads), and its gzip.
fn tar_and_gzip(noise_seed: u64) -> (Vec<u8>, Vec<u8>) {
    use std::io::Write;
    let content = crate::common::noise(noise_seed, 3 << 20);
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_path("f").unwrap();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    builder.append(&header, &content[..]).unwrap();
    let tar = builder.into_inner().unwrap();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&tar).unwrap();
    (tar.clone(), encoder.finish().unwrap())
}

fn digest_of(bytes: &[u8]) -> String {
    compose_img::digest::Digest::of(bytes).to_string()
}

/// compose-img `args` with the store `store`, which must fail with exit 1
/// and no panic; its stderr, the sandbox's path written `$SANDBOX` and
/// the registry's `$REGISTRY`.
fn refused(sandbox: &Sandbox, registry: &Registry, store: &Path, args: &[&str]) -> String {
    let out = Command::new(crate::common::bin())
        .args(args)
        .arg("--store")
        .arg(store)
        .arg(NO_TLS)
        .current_dir(sandbox.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr.replace(&sandbox.path().display().to_string(), "$SANDBOX").replace(&registry.host, "$REGISTRY")
}

fn copy(sandbox: &Sandbox, store: &Path, from: &str, to: &str) {
    let out = Command::new(crate::common::bin())
        .args(["copy", from, to, NO_TLS, "--store"])
        .arg(store)
        .current_dir(sandbox.path())
        .output()
        .unwrap();
    assert_success(&out);
}

/// Whether the registry serves `reference` (docker://...).
fn exists(reference: &str) -> bool {
    Command::new(tool("skopeo")).args(["inspect", "--raw", NO_TLS, reference]).output().unwrap().status.success()
}

fn store_blob(store: &Path, digest: &str) -> PathBuf {
    store.join("blobs-v1/sha256").join(digest.trim_start_matches("sha256:"))
}

#[test]
fn a_push_from_a_layout_refuses_a_blob_or_a_layer_that_is_not_what_it_says_and_keeps_nothing() {
    let sandbox = Sandbox::new();
    let registry = Registry::start();
    let (tar, blob) = tar_and_gzip(1);
    // A layer file whose bytes are not its name's; another whose tar is
    // not its config's diff_id.
    let tampered = layout(&sandbox.path().join("tampered"), &blob, &digest_of(&tar));
    let mut other = blob.clone();
    let middle = other.len() / 2;
    other[middle] ^= 1;
    std::fs::write(sandbox.path().join("tampered/blobs/sha256").join(&tampered[7..]), &other).unwrap();
    let wrong_id = layout(&sandbox.path().join("wrong-id"), &blob, &digest_of(b"another tar"));
    let mut messages = String::new();
    for (name, layer) in [("tampered", &tampered), ("wrong-id", &wrong_id)] {
        let store = sandbox.path().join(format!("store-{name}"));
        let target = format!("docker://{}/{name}:1", registry.host);
        messages += &refused(&sandbox, &registry, &store, &["copy", &format!("oci:{name}:1"), &target]);
        assert!(!exists(&target), "{name}: the image was pushed");
        assert!(!registry.blob_file(layer).exists(), "{name}: the registry keeps the layer");
        assert!(!store_blob(&store, layer).exists(), "{name}: the layer was copied into the store");
    }
    insta::assert_snapshot!(messages);
}

#[test]
fn a_pull_refuses_a_layer_whose_diff_id_is_wrong_and_writes_nothing() {
    let sandbox = Sandbox::new();
    let registry = Registry::start();
    let (_, blob) = tar_and_gzip(2);
    let layer = layout(&sandbox.path().join("wrong-id"), &blob, &digest_of(b"another tar"));
    // skopeo copies it as it is (it does not uncompress layers).
    let reference = format!("docker://{}/wrong:1", registry.host);
    let out = Command::new(tool("skopeo"))
        .args(["copy", "-q", "--dest-tls-verify=false", "oci:wrong-id:1", &reference])
        .current_dir(sandbox.path())
        .output()
        .unwrap();
    assert_success(&out);
    let store = sandbox.path().join("store");
    let message = refused(&sandbox, &registry, &store, &["copy", &reference, "oci:pulled:1"]);
    assert!(!sandbox.path().join("pulled").exists(), "the layout was written");
    assert!(!store_blob(&store, &layer).exists(), "the refused layer is in the store");
    #[allow(clippy::disallowed_methods, reason = "only counted")]
    let left = std::fs::read_dir(store.join("tmp")).map(Iterator::count).unwrap_or(0);
    assert_eq!(left, 0, "temp files left in the store");
    insta::assert_snapshot!(message);
}

#[test]
fn a_layout_changed_after_a_push_is_read_again_not_trusted() {
    let sandbox = Sandbox::new();
    let registry = Registry::start();
    let (tar, blob) = tar_and_gzip(3);
    let layer = layout(&sandbox.path().join("img"), &blob, &digest_of(&tar));
    let store = sandbox.path().join("store");
    let first = format!("docker://{}/first:1", registry.host);
    copy(&sandbox, &store, "oci:img:1", &first);
    // Pushed from the layout's file: the store holds no copy of the layer,
    // and the registry holds its bytes.
    assert!(!store_blob(&store, &layer).exists(), "the layer was copied into the store");
    assert_eq!(std::fs::read(registry.blob_file(&layer)).unwrap(), blob);
    // The layout's layer edited in place, its size kept, then pushed to
    // another registry (where nothing can be mounted): the file is read
    // again, and refused.
    let path = sandbox.path().join("img/blobs/sha256").join(&layer[7..]);
    let mut edited = blob.clone();
    let last = edited.len() - 9;
    edited[last] ^= 0xff;
    std::fs::write(&path, &edited).unwrap();
    let other = Registry::start();
    let second = format!("docker://{}/second:1", other.host);
    let message = refused(&sandbox, &other, &store, &["copy", "oci:img:1", &second]);
    assert!(!exists(&second), "the edited image was pushed");
    assert!(!other.blob_file(&layer).exists(), "the registry keeps the edited layer");
    // To the first registry, the layer is mounted from where it was
    // pushed: the registry's bytes of that digest, not the edited file.
    let mounted = format!("docker://{}/mounted:1", registry.host);
    copy(&sandbox, &store, "oci:img:1", &mounted);
    assert_eq!(registry.mounts("mounted"), 2, "{}", registry.log());
    // Put back, it is pushed (the verdict on its diff_id is kept, the
    // file is hashed again), and pulled back the same.
    std::fs::write(&path, &blob).unwrap();
    copy(&sandbox, &store, "oci:img:1", &second);
    let pulled = sandbox.path().join("pulled");
    copy(&sandbox, &store, &second, &format!("oci:{}:1", pulled.display()));
    assert_eq!(std::fs::read(pulled.join("blobs/sha256").join(&layer[7..])).unwrap(), blob);
    insta::assert_snapshot!(message);
}
