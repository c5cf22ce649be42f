//! Interoperability with real clients, never a mock: umoci unpacks our
//! layouts, skopeo inspects and copies them, podman runs them. A missing
//! tool fails the test (scripts/test installs them).

use crate::common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use common::{Sandbox, run, tool};

fn hello(sandbox: &Sandbox, compression: &str) -> String {
    let recipe = common::repo().join("recipes/hello.toml");
    sandbox.build(&[recipe.to_str().unwrap(), "--compression", compression, "--output", "oci:img"])
}

#[test]
fn umoci_unpacks_the_example() {
    // Debian's umoci (0.4.7) reads gzip and plain layers, not zstd.
    for compression in ["gzip", "none"] {
        let sandbox = Sandbox::new();
        hello(&sandbox, compression);
        let bundle = sandbox.path().join("bundle");
        run(Command::new(tool("umoci"))
            .args(["unpack", "--image"])
            .arg(sandbox.path().join("img:latest"))
            .arg(&bundle));
        let root = bundle.join("rootfs");
        let meta = |p: &str| std::fs::symlink_metadata(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
        assert_eq!(meta("tmp").permissions().mode() & 0o7777, 0o1777);
        assert_eq!(meta("srv/www").permissions().mode() & 0o7777, 0o755);
        assert_eq!((meta("srv/www/index.html").uid(), meta("srv/www/index.html").gid()), (65532, 65532));
        assert_eq!(meta("srv/www/index.html").permissions().mode() & 0o7777, 0o644);
        assert!(meta("srv/www/home.html").file_type().is_symlink());
        assert_eq!(std::fs::read_link(root.join("srv/www/home.html")).unwrap(), Path::new("index.html"));
        assert_eq!(meta("etc/hello/site.conf").ino(), meta("etc/hello.conf").ino(), "hard link lost");
        assert_eq!(std::fs::read_to_string(root.join("etc/motd")).unwrap(), "Built by compose-img.\n");
        assert!(!root.join("srv/www/notes.draft").exists(), "excluded file present");
        let index = std::fs::read(root.join("srv/www/index.html")).unwrap();
        assert_eq!(index, std::fs::read(common::repo().join("recipes/hello/site/index.html")).unwrap());
    }
}

#[test]
fn skopeo_inspects_and_copies_every_compression() {
    for compression in ["zstd", "gzip", "none"] {
        let sandbox = Sandbox::new();
        let digest = hello(&sandbox, compression);
        for tag in ["1.0", "latest"] {
            let reference = format!("oci:{}:{tag}", sandbox.path().join("img").display());
            let out = run(Command::new(tool("skopeo")).args(["inspect", &reference]));
            let info: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(info["Digest"], digest.as_str());
            assert_eq!(info["Architecture"], "amd64");
            assert_eq!(info["Os"], "linux");
            assert_eq!(info["Layers"].as_array().unwrap().len(), 2);
            assert_eq!(info["Labels"]["org.opencontainers.image.title"], "hello");
        }
        // skopeo copy re-reads every blob and checks its digest.
        let src = format!("oci:{}:latest", sandbox.path().join("img").display());
        let dst = format!("oci:{}:copied", sandbox.path().join("copy").display());
        run(Command::new(tool("skopeo")).args(["copy", "--preserve-digests", &src, &dst]));
        assert_eq!(common::layout_digest(&sandbox.path().join("copy"), "copied"), digest);
    }
}

#[test]
fn podman_runs_the_busybox_example() {
    assert!(Path::new("/bin/busybox").exists(), "busybox-static is not installed: run scripts/test");
    let sandbox = Sandbox::new();
    let layout = common::lowercase_tempdir("podman");
    let recipe = common::repo().join("recipes/busybox.toml");
    sandbox.build(&[recipe.to_str().unwrap(), "--output", &format!("oci:{}", layout.path().display())]);
    let podman = common::Podman::new(sandbox.path());
    let image = format!("oci:{}:latest", layout.path().display());
    let id = run(podman.cmd().args(["pull", "-q", &image]));
    let id = id.trim();
    assert_eq!(podman.run(id, &[]), "Hello from a compose-img image!\n");
    let tmp_mode = run(podman.cmd().args(common::Podman::RUN_FLAGS).args([
        "--entrypoint",
        "/bin/busybox",
        id,
        "stat",
        "-c",
        "%a",
        "/tmp",
    ]));
    assert_eq!(tmp_mode.trim(), "1777");
    run(podman.cmd().args(["rmi", "-f", id]));
}

#[test]
fn podman_reads_a_zstd_layer_of_several_frames() {
    let sandbox = Sandbox::new();
    // 10 MiB that zstd barely shrinks: three frames (4 MiB of tar each).
    let data = common::noise(0x9e37_79b9_7f4a_7c15, 10 << 20);
    std::fs::write(sandbox.path().join("data.bin"), &data).unwrap();
    let busybox = common::repo().join("recipes/busybox.toml");
    let recipe = sandbox.write(
        "big.toml",
        &format!(
            "[image]\nname = \"localhost/big\"\n[from]\nrecipe = \"{}\"\n\
             [[layer]]\n[[layer.copy]]\nsrc = \"data.bin\"\ndest = \"/data.bin\"\n",
            busybox.display()
        ),
    );
    let layout = common::lowercase_tempdir("frames");
    let jobs_one = sandbox.build(&[recipe.to_str().unwrap(), "--jobs", "1", "--no-cache", "--output", "oci:one"]);
    let output = format!("oci:{}", layout.path().display());
    assert_eq!(sandbox.build(&[recipe.to_str().unwrap(), "--jobs", "2", "--no-cache", "--output", &output]), jobs_one);
    let podman = common::Podman::new(sandbox.path());
    let id = run(podman.cmd().args(["pull", "-q", &format!("{output}:latest")]));
    let id = id.trim();
    let sum = run(podman.cmd().args(common::Podman::RUN_FLAGS).args([
        "--entrypoint",
        "/bin/busybox",
        id,
        "sha256sum",
        "/data.bin",
    ]));
    let expected = compose_img::digest::Digest::of(&data);
    assert_eq!(sum.split_whitespace().next(), Some(expected.hex()));
    run(podman.cmd().args(["rmi", "-f", id]));
}
