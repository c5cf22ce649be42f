//! Helpers shared by the integration tests: the one compose-img binary
//! cargo built for them, isolated stores and working directories, and
//! external tools that must be present (a missing tool fails the test; it
//! never skips).

#![allow(dead_code, reason = "each test binary uses its own subset")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_compose-img");

/// The repository root (recipes live under it).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A scratch directory with its own store, removed when dropped.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox { dir: tempfile::tempdir().expect("temp dir") }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn store(&self) -> PathBuf {
        self.path().join("store")
    }

    pub fn write(&self, rel: &str, content: &str) -> PathBuf {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        path
    }

    /// compose-img run in this sandbox's directory with its store and a
    /// clean environment (no SOURCE_DATE_EPOCH, no colour).
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(self.path())
            .env_remove("SOURCE_DATE_EPOCH")
            .env("COMPOSE_IMG_STORE", self.store())
            .env("NO_COLOR", "1");
        cmd
    }

    /// Runs `compose-img build ARGS...`, asserts success and returns the
    /// manifest digest of the first output line.
    pub fn build(&self, args: &[&str]) -> String {
        let out = self.cmd().arg("build").args(args).output().unwrap();
        assert_success(&out);
        first_digest(&out)
    }
}

pub fn first_digest(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().next().unwrap_or_else(|| panic!("no output line: {stdout}"));
    line.rsplit(' ').next().unwrap().to_owned()
}

pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Path of an external tool; panics (never skips) when it is missing.
pub fn tool(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin"] {
        let path = Path::new(dir).join(name);
        if path.exists() {
            return path;
        }
    }
    panic!("{name} is not installed: run scripts/test, which installs every tool the tests need");
}

/// Runs an external command, asserting success; returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Copies the example recipes (and their files) into `dest`.
pub fn copy_recipes(dest: &Path) {
    run(Command::new("cp").arg("-a").arg(repo().join("recipes")).arg(dest));
}

/// Reads `index.json` of a layout and returns the manifest digest of `tag`.
pub fn layout_digest(layout: &Path, tag: &str) -> String {
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no tag {tag} in {index}"))["digest"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A blob of a layout, by digest.
pub fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    std::fs::read(layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))).unwrap()
}

pub fn json_blob(layout: &Path, digest: &str) -> serde_json::Value {
    serde_json::from_slice(&blob(layout, digest)).unwrap()
}
