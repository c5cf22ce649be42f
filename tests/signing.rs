//! Keys, signing at build time and afterwards, verification, and every
//! kind of tampering verification must catch. (Independent verification
//! with the sigstore crate lives in tests/oracle.)

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use common::{Registry, Sandbox, assert_success, json_blob, layout_digest};

const NO_TLS: &str = "--tls-verify=false";

fn hello() -> String {
    common::repo().join("recipes/hello.toml").display().to_string()
}

/// compose-img with the key password set.
fn cmd(sandbox: &Sandbox) -> Command {
    let mut cmd = sandbox.cmd();
    cmd.env("COSIGN_PASSWORD", "correct horse");
    cmd
}

fn keygen(sandbox: &Sandbox, prefix: &str) {
    assert_success(&cmd(sandbox).args(["keygen", "--output-prefix", prefix]).output().unwrap());
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn verify(sandbox: &Sandbox, args: &[&str]) -> Output {
    sandbox.cmd().arg("verify").args(args).output().unwrap()
}

fn assert_unverified(out: &Output, reason: &str) {
    assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
    assert!(stderr(out).contains(reason), "expected `{reason}` in:\n{}", stderr(out));
}

/// The signature manifest of `digest` in a layout.
fn signature_manifest(layout: &Path, digest: &str) -> serde_json::Value {
    let tag = format!("sha256-{}.sig", digest.trim_start_matches("sha256:"));
    json_blob(layout, &layout_digest(layout, &tag))
}

#[test]
fn keys_are_private_encrypted_and_never_overwritten() {
    let sandbox = Sandbox::new();
    keygen(&sandbox, "k");
    let key = sandbox.path().join("k.key");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(&key).unwrap();
    assert!(text.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"), "{text}");
    assert!(std::fs::read_to_string(sandbox.path().join("k.pub")).unwrap().starts_with("-----BEGIN PUBLIC KEY-----"));

    let again = cmd(&sandbox).args(["keygen", "--output-prefix", "k"]).output().unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("k.key exists: refusing to overwrite a key (use --force)"), "{}", stderr(&again));
    assert_eq!(std::fs::read_to_string(&key).unwrap(), text);
    assert_success(&cmd(&sandbox).args(["keygen", "--output-prefix", "k", "--force"]).output().unwrap());
    assert_ne!(std::fs::read_to_string(&key).unwrap(), text);

    let no_password = sandbox.cmd().env_remove("COSIGN_PASSWORD").args(["keygen", "--output-prefix", "n"]).output();
    let no_password = no_password.unwrap();
    assert_eq!(no_password.status.code(), Some(2));
    assert!(stderr(&no_password).contains("set COSIGN_PASSWORD or run on a terminal"), "{}", stderr(&no_password));

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let open = cmd(&sandbox).args(["build", &hello(), "--sign-key", "k.key"]).output().unwrap();
    assert_eq!(open.status.code(), Some(1));
    assert!(stderr(&open).contains("is readable by others (mode 0644)"), "{}", stderr(&open));
    assert!(stderr(&open).contains("chmod 600"), "{}", stderr(&open));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let wrong = cmd(&sandbox)
        .env("COSIGN_PASSWORD", "wrong")
        .args(["build", &hello(), "--sign-key", "k.key"])
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(1));
    assert!(stderr(&wrong).contains("wrong password"), "{}", stderr(&wrong));
    assert!(!sandbox.path().join("out").exists(), "a build with a bad key wrote an output");
}

#[test]
fn signed_builds_verify_and_resigning_adds_a_signature() {
    let sandbox = Sandbox::new();
    keygen(&sandbox, "k");
    keygen(&sandbox, "other");
    let digest =
        common::first_digest(&cmd(&sandbox).args(["build", &hello(), "--sign-key", "k.key"]).output().unwrap());
    let layout = sandbox.path().join("out/hello");
    let manifest = signature_manifest(&layout, &digest);
    let layer = &manifest["layers"][0];
    assert_eq!(layer["mediaType"], "application/vnd.dev.cosign.simplesigning.v1+json");
    assert!(layer["annotations"]["dev.cosignproject.cosign/signature"].is_string());
    let payload: serde_json::Value = json_blob(&layout, layer["digest"].as_str().unwrap());
    assert_eq!(payload["critical"]["image"]["docker-manifest-digest"], digest.as_str());
    assert_eq!(payload["critical"]["identity"]["docker-reference"], "localhost/hello");

    let out = verify(&sandbox, &["oci:out/hello:latest", "--key", "k.pub"]);
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("{digest} (identity localhost/hello)")));
    assert_success(&verify(&sandbox, &["oci:out/hello:1.0", "--key", "k.pub", "--identity", "localhost/hello"]));
    assert_unverified(
        &verify(&sandbox, &["oci:out/hello:1.0", "--key", "k.pub", "--identity", "r.io/x"]),
        "identity mismatch: signed for localhost/hello, expected r.io/x",
    );
    assert_unverified(&verify(&sandbox, &["oci:out/hello:latest", "--key", "other.pub"]), "wrong key");

    // Re-signing with another key adds a layer; the same key again adds none.
    let sign = |key: &str| {
        cmd(&sandbox)
            .args(["sign", "oci:out/hello:latest", "--key", key, "--identity", "localhost/hello"])
            .output()
            .unwrap()
    };
    assert_success(&sign("other.key"));
    assert_success(&sign("k.key"));
    assert_eq!(signature_manifest(&layout, &digest)["layers"].as_array().unwrap().len(), 2);
    assert_success(&verify(&sandbox, &["oci:out/hello:latest", "--key", "other.pub"]));
    assert_success(&verify(&sandbox, &["oci:out/hello:latest", "--key", "k.pub"]));
    // Rebuilding signed keeps earlier signatures too.
    assert_success(&cmd(&sandbox).args(["build", &hello(), "--sign-key", "k.key"]).output().unwrap());
    assert_eq!(signature_manifest(&layout, &digest)["layers"].as_array().unwrap().len(), 2);

    let unsigned = sandbox.build(&[&hello(), "--output", "oci:plain"]);
    assert_unverified(&verify(&sandbox, &["oci:plain:latest", "--key", "k.pub"]), &format!("{unsigned}: no signature"));
}

#[test]
fn tampering_is_caught_with_its_reason() {
    let sandbox = Sandbox::new();
    keygen(&sandbox, "k");
    let a = common::first_digest(
        &cmd(&sandbox).args(["build", &hello(), "--sign-key", "k.key", "--output", "oci:img:a"]).output().unwrap(),
    );
    let busybox = common::repo().join("recipes/busybox.toml").display().to_string();
    let b = common::first_digest(&cmd(&sandbox).args(["build", &busybox, "--output", "oci:img:b"]).output().unwrap());
    let layout = sandbox.path().join("img");

    // A signature copied to another image: its payload names the first.
    let index_path = layout.join("index.json");
    let mut index: serde_json::Value = serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let signature = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == format!("sha256-{}.sig", &a[7..]))
        .unwrap()
        .clone();
    let mut copied = signature.clone();
    copied["annotations"]["org.opencontainers.image.ref.name"] = format!("sha256-{}.sig", &b[7..]).into();
    index["manifests"].as_array_mut().unwrap().push(copied);
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    assert_unverified(
        &verify(&sandbox, &["oci:img:b", "--key", "k.pub"]),
        &format!("digest mismatch: the signature is for {a}"),
    );
    assert_success(&verify(&sandbox, &["oci:img:a", "--key", "k.pub"]));

    // A payload edited after signing.
    let manifest = signature_manifest(&layout, &a);
    let payload = layout.join("blobs/sha256").join(&manifest["layers"][0]["digest"].as_str().unwrap()[7..]);
    let text = std::fs::read_to_string(&payload).unwrap().replace("localhost/hello", "localhost/hellx");
    std::fs::remove_file(&payload).unwrap();
    std::fs::write(&payload, text).unwrap();
    let fresh = Sandbox::new();
    let out = fresh
        .cmd()
        .args(["verify", &format!("oci:{}:a", layout.display()), "--key"])
        .arg(sandbox.path().join("k.pub"))
        .output()
        .unwrap();
    assert_unverified(&out, "does not match its digest");
}

#[test]
fn registry_signatures_follow_copies_and_pin_the_repository() {
    let registry = Registry::start();
    let sandbox = Sandbox::new();
    keygen(&sandbox, "k");
    let multiarch = common::repo().join("recipes/multiarch.toml").display().to_string();
    let target = format!("docker://{}/signed/multi:1", registry.host);
    let out =
        cmd(&sandbox).args(["build", &multiarch, "--sign-key", "k.key", "--output", &target, NO_TLS]).output().unwrap();
    assert_success(&out);
    // The index and both platform manifests are signed and verified, over
    // one connection to the repository (a single ping of `/v2/`).
    let pings = || registry.log().matches("\"GET /v2/ HTTP/1.1\"").count();
    let before = pings();
    let verified = verify(&sandbox, &[&target, "--key", "k.pub", NO_TLS]);
    assert_success(&verified);
    assert_eq!(String::from_utf8_lossy(&verified.stdout).lines().count(), 3);
    assert_eq!(pings() - before, 1, "verify connected more than once");

    // Copied to another repository without re-signing: the identity no longer matches.
    let moved = format!("docker://{}/elsewhere/multi:1", registry.host);
    let copy = sandbox.cmd().args(["copy", &target, &moved, NO_TLS]).output().unwrap();
    assert_success(&copy);
    assert!(stderr(&copy).contains("copied 3 signature manifest(s)"), "{}", stderr(&copy));
    assert_unverified(
        &verify(&sandbox, &[&moved, "--key", "k.pub", NO_TLS]),
        &format!("identity mismatch: signed for {}/signed/multi", registry.host),
    );
    assert_success(&verify(
        &sandbox,
        &[&moved, "--key", "k.pub", NO_TLS, "--identity", &format!("{}/signed/multi", registry.host)],
    ));
    // Signing it there makes it verify under its own name.
    assert_success(&cmd(&sandbox).args(["sign", &moved, "--key", "k.key", NO_TLS]).output().unwrap());
    assert_success(&verify(&sandbox, &[&moved, "--key", "k.pub", NO_TLS]));
    // And to a layout: the signatures come along.
    assert_success(&sandbox.cmd().args(["copy", &target, "oci:local", NO_TLS]).output().unwrap());
    assert_success(&verify(&sandbox, &["oci:local:1", "--key", "k.pub"]));
    let archive = cmd(&sandbox)
        .args(["build", &hello(), "--sign-key", "k.key", "--output", "docker-archive:x.tar"])
        .output()
        .unwrap();
    assert_eq!(archive.status.code(), Some(2));
    assert!(stderr(&archive).contains("cannot hold signatures"), "{}", stderr(&archive));
}

#[test]
fn passwords_are_asked_twice_on_a_terminal_and_old_headers_load() {
    let sandbox = Sandbox::new();
    // `script` gives compose-img a terminal; the answers arrive on it.
    let keygen_on_tty = |answers: &str| {
        let mut child = Command::new(common::tool("script"))
            .args(["-qec", &format!("{} keygen --output-prefix tty", common::bin().display()), "/dev/null"])
            .current_dir(sandbox.path())
            .env_remove("COSIGN_PASSWORD")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), answers.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let mismatch = keygen_on_tty("one\ntwo\n");
    assert!(String::from_utf8_lossy(&mismatch.stdout).contains("the passwords do not match"));
    assert!(!sandbox.path().join("tty.key").exists());
    let matched = keygen_on_tty("s3cret\ns3cret\n");
    assert!(String::from_utf8_lossy(&matched.stdout).contains("Enter password for private key again:"));
    assert!(sandbox.path().join("tty.key").exists());
    let signed =
        sandbox.cmd().env("COSIGN_PASSWORD", "s3cret").args(["build", &hello(), "--sign-key", "tty.key"]).output();
    assert_success(&signed.unwrap());

    // Keys written by older cosign versions carry another PEM label.
    let old = std::fs::read_to_string(sandbox.path().join("tty.key")).unwrap().replace("SIGSTORE", "COSIGN");
    std::fs::write(sandbox.path().join("old.key"), old).unwrap();
    std::fs::set_permissions(sandbox.path().join("old.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let signed =
        sandbox.cmd().env("COSIGN_PASSWORD", "s3cret").args(["build", &hello(), "--sign-key", "old.key"]).output();
    assert_success(&signed.unwrap());
    assert_success(&verify(&sandbox, &["oci:out/hello:latest", "--key", "tty.pub"]));
}
