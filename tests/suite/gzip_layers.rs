//! docs/recipes.md#compression: gzip layers are compressed in 1 MiB blocks
//! on the build's pool (each primed with the end of the block before, as
//! pigz does) into one gzip member: the bytes do not depend on `--jobs`,
//! and every reader takes the layer: Python's gzip, GNU gzip, umoci and
//! podman (never a mock; a missing tool fails the test).

use crate::common;

use std::path::Path;
use std::process::Command;

use common::{Sandbox, json_blob, layout_digest, run, tool};

/// `len` bytes of words: compressible, as sources are.
fn text(seed: usize, len: usize) -> Vec<u8> {
    const WORDS: [&str; 8] = ["layer ", "image ", "block ", "gzip\n", "deflate ", "tar ", "pool\n", "digest "];
    let mut out = Vec::with_capacity(len + 8);
    let mut i = seed as u64;
    while out.len() < len {
        i = i.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        out.extend_from_slice(WORDS[(i >> 61) as usize].as_bytes());
    }
    out.truncate(len);
    out
}

/// The layer over busybox: a 9 MiB file of text and noise in turns (many
/// blocks, some deflated, some stored), an empty file, a file of exactly
/// one block, and 300 small sources.
fn tree(sandbox: &Sandbox) -> Vec<(String, Vec<u8>)> {
    let mut big = Vec::new();
    for i in 0..6 {
        big.extend(text(i, 1 << 20));
        big.extend(common::noise(0x6a09_e667 + i as u64, 1 << 19));
    }
    let mut files = vec![
        ("data/big.bin".to_owned(), big),
        ("data/empty".to_owned(), Vec::new()),
        ("data/one-block".to_owned(), text(99, 1 << 20)),
    ];
    for i in 0..300 {
        files.push((format!("data/src/{:02}/f{i:03}.txt", i % 17), text(1000 + i, 200 + 37 * i)));
    }
    for (path, bytes) in &files {
        sandbox.write_bytes(path, bytes);
    }
    let busybox = common::repo().join("recipes/busybox.toml");
    sandbox.write(
        "gz.toml",
        &format!(
            "[image]\nname = \"localhost/gz\"\n[from]\nrecipe = \"{}\"\n\
             [[layer]]\nname = \"data\"\n[[layer.copy]]\nsrc = \"data/\"\ndest = \"/data\"\n",
            busybox.display()
        ),
    );
    files
}

#[test]
fn gzip_bytes_do_not_depend_on_jobs_and_every_reader_takes_them() {
    let sandbox = Sandbox::new();
    let files = tree(&sandbox);
    let layout = common::lowercase_tempdir("gzip");
    let output = format!("oci:{}", layout.path().display());
    let digests = ["1", "2", "8"].map(|jobs| {
        let (store, out) = if jobs == "1" {
            ("store-1".to_owned(), output.clone())
        } else {
            (format!("store-{jobs}"), format!("oci:out-{jobs}"))
        };
        sandbox.build(&["gz.toml", "--compression", "gzip", "--jobs", jobs, "--store", &store, "--output", &out])
    });
    assert_eq!(digests[0], digests[1], "--jobs 1 and 2");
    assert_eq!(digests[0], digests[2], "--jobs 1 and 8");

    let manifest = json_blob(layout.path(), &layout_digest(layout.path(), "latest"));
    let config = json_blob(layout.path(), manifest["config"]["digest"].as_str().unwrap());
    let layers = manifest["layers"].as_array().unwrap();
    let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
    assert_eq!(layers.len(), 3);
    for (layer, diff_id) in layers.iter().zip(diff_ids) {
        assert_eq!(layer["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip");
        let path = blob_path(layout.path(), layer["digest"].as_str().unwrap());
        // GNU gzip checks the CRC-32 and length.
        run(Command::new(tool("gzip")).arg("-t").arg(&path));
        // Python's gzip reads every member: there must be one, of the tar.
        let script = "import gzip, hashlib, sys, zlib\n\
                      data = open(sys.argv[1], 'rb').read()\n\
                      d = zlib.decompressobj(31)\n\
                      tar = d.decompress(data)\n\
                      assert d.eof and d.unused_data == b'', 'one member, nothing after it'\n\
                      assert gzip.decompress(data) == tar\n\
                      print('sha256:' + hashlib.sha256(tar).hexdigest())";
        let sum = run(Command::new(tool("python3")).args(["-c", script]).arg(&path));
        assert_eq!(sum.trim(), diff_id.as_str().unwrap());
    }

    // umoci unpacks it (it reads gzip, not zstd), and podman runs it.
    let bundle = sandbox.path().join("bundle");
    run(Command::new(tool("umoci"))
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:latest", layout.path().display()))
        .arg(&bundle));
    for (path, bytes) in &files {
        let unpacked = std::fs::read(bundle.join("rootfs").join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(unpacked == *bytes, "{path} differs after umoci unpack");
    }
    let podman = common::Podman::new(sandbox.path());
    let id = run(podman.cmd().args(["pull", "-q", &format!("{output}:latest")]));
    let id = id.trim();
    let sums = run(podman.cmd().args(common::Podman::RUN_FLAGS).args([
        "--entrypoint",
        "/bin/busybox",
        id,
        "sha256sum",
        "/data/big.bin",
        "/data/empty",
        "/data/one-block",
    ]));
    let expected: Vec<String> = files[..3]
        .iter()
        .map(|(path, bytes)| format!("{}  /{path}", compose_img::digest::Digest::of(bytes).hex()))
        .collect();
    assert_eq!(sums.lines().collect::<Vec<_>>(), expected);
    run(podman.cmd().args(["rmi", "-f", id]));
}

#[test]
fn an_empty_layer_is_one_empty_member() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "empty.toml",
        "[image]\nname = \"localhost/empty\"\n[from]\nscratch = true\n[[layer]]\nname = \"none\"\n",
    );
    sandbox.build(&["empty.toml", "--compression", "gzip", "--output", "oci:out"]);
    let layout = sandbox.path().join("out");
    let manifest = json_blob(&layout, &layout_digest(&layout, "latest"));
    for layer in manifest["layers"].as_array().unwrap() {
        let path = blob_path(&layout, layer["digest"].as_str().unwrap());
        run(Command::new(tool("gzip")).arg("-t").arg(&path));
        let tar = run(Command::new(tool("python3"))
            .args(["-c", "import gzip, sys; sys.stdout.write(gzip.decompress(open(sys.argv[1], 'rb').read()).hex())"])
            .arg(&path));
        // A tar of no entries: its two zero records.
        assert_eq!(tar, "00".repeat(1024));
    }
}

fn blob_path(layout: &Path, digest: &str) -> std::path::PathBuf {
    layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))
}
