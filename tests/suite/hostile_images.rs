//! Images that lie: a layout whose blob is a symlink to /dev/zero, an
//! `index.json` that is a FIFO. Each ends fast with an error naming what
//! was refused, in bounded memory, with nothing left in the store's tmp.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common::{self, Sandbox};

/// A store of its own for the hostile reads: the one that built the good
/// layout already has its blobs, and would rightly not read them again.
fn fresh_store(sandbox: &Sandbox) -> std::path::PathBuf {
    sandbox.path().join("fresh-store")
}

/// `compose-img ARGS` under a 1 GiB address-space limit.
fn bounded(sandbox: &Sandbox, args: &[&str]) -> (Output, Duration) {
    let start = Instant::now();
    let script = "ulimit -v 1048576; exec timeout 60 \"$@\"";
    let out = Command::new("sh")
        .args(["-c", script, "sh"])
        .arg(common::bin())
        .args(args)
        .current_dir(sandbox.path())
        .env("COMPOSE_IMG_STORE", fresh_store(sandbox))
        .output()
        .unwrap();
    (out, start.elapsed())
}

fn assert_refused(sandbox: &Sandbox, args: &[&str], reason: &str) {
    let (out, took) = bounded(sandbox, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?} after {took:?}: {stderr}");
    assert!(stderr.contains(reason), "{args:?}: `{reason}` missing in {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(took < Duration::from_secs(20), "{args:?} took {took:?}");
    let tmp = fresh_store(sandbox).join("tmp");
    #[allow(clippy::disallowed_methods, reason = "only counted")]
    let left = std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "{args:?} left files in {}", tmp.display());
}

/// A layout of the busybox example built by compose-img.
fn layout(sandbox: &Sandbox) -> std::path::PathBuf {
    common::copy_recipes(sandbox.path());
    sandbox.build(&["recipes/busybox.toml", "--compression", "gzip", "--output", "oci:good:1"]);
    sandbox.path().join("good")
}

#[test]
fn a_blob_linked_to_dev_zero_stops_at_its_size() {
    let sandbox = Sandbox::new();
    let good = layout(&sandbox);
    let manifest = common::json_blob(&good, &common::layout_digest(&good, "1"));
    let config = manifest["config"]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_owned();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_owned();
    for (name, hex) in [("zero-config", &config), ("zero-layer", &layer)] {
        let bad = sandbox.path().join(name);
        common::run(Command::new("cp").arg("-a").arg(&good).arg(&bad));
        let blob = bad.join("blobs/sha256").join(hex);
        std::fs::remove_file(&blob).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &blob).unwrap();
        let reference = format!("oci:{name}:1");
        assert_refused(&sandbox, &["copy", &reference, &format!("oci:{name}-copy")], "not a regular file");
        assert_refused(&sandbox, &["inspect", &reference], "not a regular file");
    }
    // A blob that is a regular file but longer than its descriptor says.
    let long = sandbox.path().join("long");
    common::run(Command::new("cp").arg("-a").arg(&good).arg(&long));
    let blob = long.join("blobs/sha256").join(&layer);
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes.extend(std::iter::repeat_n(0u8, 64 << 20));
    std::fs::write(&blob, bytes).unwrap();
    assert_refused(&sandbox, &["copy", "oci:long:1", "oci:long-copy"], &layer);
}

#[test]
fn an_index_json_that_is_a_fifo_is_refused_without_blocking() {
    let sandbox = Sandbox::new();
    let good = layout(&sandbox);
    let fifo = sandbox.path().join("fifo");
    common::run(Command::new("cp").arg("-a").arg(&good).arg(&fifo));
    std::fs::remove_file(fifo.join("index.json")).unwrap();
    common::run(Command::new("mkfifo").arg(fifo.join("index.json")));
    assert_refused(&sandbox, &["inspect", "oci:fifo"], "a FIFO is not a regular file");
    std::fs::remove_file(fifo.join("index.json")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", fifo.join("index.json")).unwrap();
    assert_refused(&sandbox, &["inspect", "oci:fifo"], "a device is not a regular file");
}

/// A layout of one image with one layer: `blob` as `media_type`, and
/// `diff_id` in the config.
fn layout_of_layer(dir: &std::path::Path, blob: &[u8], media_type: &str, diff_id: &str) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let digest = compose_img::digest::Digest::of(bytes);
        std::fs::write(blobs.join(digest.hex()), bytes).unwrap();
        (digest.to_string(), bytes.len())
    };
    let (layer, layer_size) = put(blob);
    let config =
        format!(r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#);
    let (config, config_size) = put(config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":{config_size}}},"layers":[{{"mediaType":"{media_type}","digest":"{layer}","size":{layer_size}}}]}}"#
    );
    let (manifest, manifest_size) = put(manifest.as_bytes());
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{manifest}","size":{manifest_size},"annotations":{{"org.opencontainers.image.ref.name":"1"}}}}]}}"#
    );
    std::fs::write(dir.join("index.json"), index).unwrap();
}

/// An uncompressed layer holding one file.
fn one_file_tar() -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_path("f").unwrap();
    header.set_size(2);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_cksum();
    builder.append(&header, &b"hi"[..]).unwrap();
    builder.into_inner().unwrap()
}

#[test]
fn a_layer_that_is_not_what_its_config_says_is_refused_by_readers_and_builds() {
    let sandbox = Sandbox::new();
    let tar = one_file_tar();
    let right = compose_img::digest::Digest::of(&tar).to_string();
    let wrong = compose_img::digest::Digest::of(b"something else").to_string();
    layout_of_layer(&sandbox.path().join("wrong-id"), &tar, "application/vnd.oci.image.layer.v1.tar", &wrong);
    // Declared gzip, but plain tar bytes.
    layout_of_layer(&sandbox.path().join("not-gzip"), &tar, "application/vnd.oci.image.layer.v1.tar+gzip", &right);
    for name in ["wrong-id", "not-gzip"] {
        let reference = format!("oci:{name}:1");
        let target = sandbox.path().join(format!("{name}-root"));
        assert_refused(&sandbox, &["ls", &reference], "layer");
        assert_refused(&sandbox, &["unpack", &reference, target.to_str().unwrap()], "layer");
        assert!(!target.join("f").exists(), "{name}: unpack wrote the layer it refused");
        sandbox.write(
            &format!("{name}.toml"),
            &format!(
                "[image]\nname = \"localhost/child\"\n[from]\nimage = \"{reference}\"\n[[layer]]\n[[layer.file]]\npath = \"/x\"\ncontent = \"x\"\n"
            ),
        );
        let out_dir = format!("oci:{name}-child");
        assert_refused(&sandbox, &["build", &format!("{name}.toml"), "--output", &out_dir], "layer 0");
        assert!(!sandbox.path().join(format!("{name}-child")).exists(), "{name}: a child was written");
    }
    let (out, _) = bounded(&sandbox, &["ls", "oci:wrong-id:1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Refused as it is read into the store, naming the image and layer.
    assert!(stderr.contains(&format!("not to the diff_id {wrong} its config gives")), "{stderr}");
    let (out, _) = bounded(&sandbox, &["build", "not-gzip.toml", "--output", "oci:x"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot be read as application/vnd.oci.image.layer.v1.tar+gzip"), "{stderr}");
}
