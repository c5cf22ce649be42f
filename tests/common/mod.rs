//! Helpers shared by the integration tests: the one compose-img binary
//! cargo built for them, isolated stores and working directories, and
//! external tools that must be present (a missing tool fails the test; it
//! never skips).

#![allow(dead_code, reason = "tests/oracle includes this file too and uses a subset")]

pub mod token;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The compose-img binary: the one cargo built for these tests, or (for
/// tests/oracle, a package of its own) `$COMPOSE_IMG_BIN`.
pub fn bin() -> PathBuf {
    match option_env!("CARGO_BIN_EXE_compose-img") {
        Some(bin) => PathBuf::from(bin),
        None => std::env::var_os("COMPOSE_IMG_BIN")
            .map(PathBuf::from)
            .expect("COMPOSE_IMG_BIN names the compose-img binary to test (scripts/test sets it)"),
    }
}

/// `len` bytes that zstd barely shrinks, the same for the same `seed`;
/// other seeds (even consecutive ones) give other bytes.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    // splitmix64 of the seed (one-to-one) starts the xorshift, whose
    // state must not be 0.
    let mut state = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    state = (state ^ (state >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    state = (state ^ (state >> 27)).wrapping_mul(0x94d1_049b_133b_b0eb);
    let mut state = (state ^ (state >> 31)).max(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 56) as u8
        })
        .collect()
}

/// The repository root (recipes live under it).
pub fn repo() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if dir.ends_with("tests/oracle") { dir.join("../..") } else { dir }
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
        self.write_bytes(rel, content.as_bytes())
    }

    pub fn write_bytes(&self, rel: &str, content: &[u8]) -> PathBuf {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        path
    }

    /// compose-img run in this sandbox's directory with its store and a
    /// clean environment (no SOURCE_DATE_EPOCH, no colour).
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(bin());
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

/// The Python of the test tools' virtual environment (`target/pytools`,
/// from `tests/requirements.txt`); panics (never skips) when it is missing.
pub fn python() -> PathBuf {
    let path = repo().join("target/pytools/bin/python");
    assert!(path.exists(), "{} is missing: run scripts/test, which installs the Python test tools", path.display());
    path
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

/// A temporary directory with a lowercase path: podman names an image
/// pulled from `oci:DIR` after DIR, and image names are lowercase.
pub fn lowercase_tempdir(what: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("compose-img-{what}-{}", std::process::id()))
        .rand_bytes(0)
        .tempdir()
        .unwrap()
}

/// podman with its own storage under `dir` (vfs driver, runc), as these
/// machines need it.
pub struct Podman {
    storage: PathBuf,
}

impl Podman {
    pub fn new(dir: &Path) -> Podman {
        Podman { storage: dir.join("podman") }
    }

    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(tool("podman"));
        cmd.arg("--storage-driver")
            .arg("vfs")
            .arg("--root")
            .arg(self.storage.join("root"))
            .arg("--runroot")
            .arg(self.storage.join("runroot"));
        cmd
    }

    /// `podman run --rm IMAGE ARGS...` with the flags these machines need;
    /// returns stdout.
    pub fn run(&self, image: &str, args: &[&str]) -> String {
        run(self.cmd().args(Podman::RUN_FLAGS).arg(image).args(args))
    }

    pub const RUN_FLAGS: [&str; 9] = [
        "run",
        "--rm",
        "--runtime",
        "/usr/sbin/runc",
        "--net=none",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=4096:4096",
    ];
}

/// Debian's docker-registry (the CNCF distribution registry) on 127.0.0.1
/// and an ephemeral port, with a temporary config and storage; stopped
/// when dropped.
pub struct Registry {
    child: std::process::Child,
    dir: tempfile::TempDir,
    pub host: String,
}

impl Registry {
    /// A plain-http registry open to anyone.
    pub fn start() -> Registry {
        Registry::start_with(|_| String::new())
    }

    /// A registry that wants basic auth (htpasswd, bcrypt) for `user`.
    pub fn with_basic_auth(user: &str, password: &str) -> Registry {
        Registry::start_with(|dir| {
            let entry = run(Command::new(tool("htpasswd")).args(["-Bbn", user, password]));
            std::fs::write(dir.join("htpasswd"), entry).unwrap();
            format!("auth:\n  htpasswd:\n    realm: compose-img-test\n    path: {}\n", dir.join("htpasswd").display())
        })
    }

    /// A registry that wants bearer tokens from `server`.
    pub fn with_token_auth(server: &token::TokenServer) -> Registry {
        Registry::start_with(|_| server.registry_config())
    }

    /// Starts a registry whose config ends with what `auth` returns (given
    /// the registry's temporary directory).
    fn start_with(auth: impl FnOnce(&Path) -> String) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:0\n",
            dir.path().join("data").display()
        );
        config += &auth(dir.path());
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new(tool("docker-registry"))
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut registry = Registry { child, dir, host: String::new() };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while registry.host.is_empty() {
            if let Some(rest) = registry.log().split("listening on ").nth(1) {
                registry.host = rest.split(['"', ' ']).next().unwrap().to_owned();
            } else {
                assert!(std::time::Instant::now() < deadline, "the registry did not start:\n{}", registry.log());
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        registry
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// Completed blob uploads into `repo`, counted from the registry's log.
    pub fn uploads(&self, repo: &str) -> usize {
        let prefix = format!("http.request.uri=\"/v2/{repo}/blobs/uploads/");
        self.log()
            .lines()
            .filter(|l| {
                l.contains("response completed") && l.contains("http.request.method=PUT") && l.contains(&prefix)
            })
            .count()
    }
}

impl Registry {
    /// Completed GETs of blob `digest` (any repository), from the log.
    pub fn blob_gets(&self, digest: &str) -> usize {
        let path = format!("/blobs/{digest}\"");
        self.log()
            .lines()
            .filter(|l| l.contains("response completed") && l.contains("http.request.method=GET") && l.contains(&path))
            .count()
    }

    /// Completed cross-repository mounts into `repo` (answered 201), from the log.
    pub fn mounts(&self, repo: &str) -> usize {
        let prefix = format!("http.request.uri=\"/v2/{repo}/blobs/uploads/?mount=");
        self.log()
            .lines()
            .filter(|l| {
                l.contains("response completed")
                    && l.contains("http.request.method=POST")
                    && l.contains(&prefix)
                    && l.contains("http.response.status=201")
            })
            .count()
    }

    /// The file the registry keeps blob `digest` in.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir.path().join("data/docker/registry/v2/blobs/sha256").join(&hex[..2]).join(hex).join("data")
    }

    /// The file that names the manifest tag `tag` of `repo` points at.
    pub fn tag_link(&self, repo: &str, tag: &str) -> PathBuf {
        let repository = self.dir.path().join("data/docker/registry/v2/repositories").join(repo);
        repository.join("_manifests/tags").join(tag).join("current/link")
    }

    /// Stops the registry (it refuses connections from then on).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
