//! Keys, signing at build time and afterwards, verification, and every
//! kind of tampering verification must catch. (Independent verification
//! with the sigstore crate lives in tests/oracle.)

use crate::common;

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
    let wrong =
        cmd(&sandbox).env("COSIGN_PASSWORD", "wrong").args(["build", &hello(), "--key", "k.key"]).output().unwrap();
    assert_eq!(wrong.status.code(), Some(1));
    assert!(stderr(&wrong).contains("wrong password"), "{}", stderr(&wrong));
    assert!(!sandbox.path().join("out").exists(), "a build with a bad key wrote an output");
}

#[test]
fn signed_builds_verify_and_resigning_adds_a_signature() {
    let sandbox = Sandbox::new();
    keygen(&sandbox, "k");
    keygen(&sandbox, "other");
    let digest = common::first_digest(&cmd(&sandbox).args(["build", &hello(), "--key", "k.key"]).output().unwrap());
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
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("{digest} (identity localhost/hello; .sig, bundle)"))
    );
    assert_success(&verify(&sandbox, &["oci:out/hello:1.0", "--key", "k.pub", "--identity", "localhost/hello"]));
    assert_unverified(
        &verify(&sandbox, &["oci:out/hello:1.0", "--key", "k.pub", "--identity", "r.io/x"]),
        "identity mismatch: signed for localhost/hello, expected r.io/x",
    );
    assert_unverified(&verify(&sandbox, &["oci:out/hello:latest", "--key", "other.pub"]), "wrong key");

    // Re-signing with another key adds a layer; the same key again adds
    // none. `sign` of a layout takes the name it was written under (the
    // recipe's `image.name`), as build does.
    let sign = |key: &str| cmd(&sandbox).args(["sign", "oci:out/hello:latest", "--key", key]).output().unwrap();
    assert_success(&sign("other.key"));
    assert_success(&sign("k.key"));
    assert_eq!(signature_manifest(&layout, &digest)["layers"].as_array().unwrap().len(), 2);
    assert_success(&verify(&sandbox, &["oci:out/hello:latest", "--key", "other.pub", "--identity", "localhost/hello"]));
    assert_success(&verify(&sandbox, &["oci:out/hello:latest", "--key", "k.pub"]));
    // Rebuilding signed keeps earlier signatures too.
    assert_success(&cmd(&sandbox).args(["build", &hello(), "--key", "k.key"]).output().unwrap());
    assert_eq!(signature_manifest(&layout, &digest)["layers"].as_array().unwrap().len(), 2);

    let unsigned = sandbox.build(&[&hello(), "--output", "oci:plain"]);
    assert_unverified(&verify(&sandbox, &["oci:plain:latest", "--key", "k.pub"]), &format!("{unsigned}: no signature"));

    // A layout that records no name (another tool wrote it) needs --identity.
    let index_path = sandbox.path().join("plain/index.json");
    let index = std::fs::read_to_string(&index_path).unwrap();
    assert!(index.contains("\"io.containerd.image.name\":\"localhost/hello:latest\""), "{index}");
    std::fs::write(&index_path, index.replace("\"io.containerd.image.name\":\"localhost/hello:latest\",", "")).unwrap();
    let nameless = cmd(&sandbox).args(["sign", "oci:plain:latest", "--key", "k.key"]).output().unwrap();
    assert_eq!(nameless.status.code(), Some(2), "{}", stderr(&nameless));
    assert!(stderr(&nameless).contains("records no image name"), "{}", stderr(&nameless));
    assert!(stderr(&nameless).contains("--identity REPO"), "{}", stderr(&nameless));
}

#[test]
fn tampering_is_caught_with_its_reason() {
    let sandbox = Sandbox::new();
    keygen(&sandbox, "k");
    let a = common::first_digest(
        &cmd(&sandbox).args(["build", &hello(), "--key", "k.key", "--output", "oci:img:a"]).output().unwrap(),
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
    // On the machine that signed it too: the store's good copy is not
    // what verify was given.
    let here = verify(&sandbox, &["oci:img:a", "--key", "k.pub"]);
    assert_unverified(
        &here,
        &format!("blob {} does not match its digest", manifest["layers"][0]["digest"].as_str().unwrap()),
    );
}

/// An `oci-archive:` whose signature payload was corrupted fails to
/// verify, even where the store holds the payload as it was signed.
#[test]
fn a_corrupted_payload_in_an_archive_fails_where_it_was_signed() {
    let sandbox = Sandbox::new();
    keygen(&sandbox, "k");
    let built = cmd(&sandbox).args(["build", &hello(), "--key", "k.key", "--output", "oci-archive:m.tar"]).output();
    let digest = common::first_digest(&built.unwrap());
    assert_success(&verify(&sandbox, &["oci-archive:m.tar", "--key", "k.pub"]));
    // The payload names the image; flip one byte of that name in the tar.
    let mut bytes = std::fs::read(sandbox.path().join("m.tar")).unwrap();
    let needle = format!("\"docker-manifest-digest\":\"{digest}\"");
    let at = bytes.windows(needle.len()).position(|w| w == needle.as_bytes()).expect("payload in the archive");
    bytes[at + needle.len() - 2] ^= 1;
    std::fs::write(sandbox.path().join("m.tar"), bytes).unwrap();
    let out = verify(&sandbox, &["oci-archive:m.tar", "--key", "k.pub"]);
    assert_unverified(&out, "does not match its name");
}

#[test]
fn registry_signatures_follow_copies_and_pin_the_repository() {
    let registry = Registry::start();
    let sandbox = Sandbox::new();
    keygen(&sandbox, "k");
    let multiarch = common::repo().join("recipes/multiarch.toml").display().to_string();
    let target = format!("docker://{}/signed/multi:1", registry.host);
    let out =
        cmd(&sandbox).args(["build", &multiarch, "--key", "k.key", "--output", &target, NO_TLS]).output().unwrap();
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
    let copy = sandbox.cmd().args(["copy", "--all", &target, &moved, NO_TLS]).output().unwrap();
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
    let archive =
        cmd(&sandbox).args(["build", &hello(), "--key", "k.key", "--output", "docker-archive:x.tar"]).output().unwrap();
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
    let signed = sandbox.cmd().env("COSIGN_PASSWORD", "s3cret").args(["build", &hello(), "--key", "tty.key"]).output();
    assert_success(&signed.unwrap());

    // Keys written by older cosign versions carry another PEM label.
    let old = std::fs::read_to_string(sandbox.path().join("tty.key")).unwrap().replace("SIGSTORE", "COSIGN");
    std::fs::write(sandbox.path().join("old.key"), old).unwrap();
    std::fs::set_permissions(sandbox.path().join("old.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let signed = sandbox.cmd().env("COSIGN_PASSWORD", "s3cret").args(["build", &hello(), "--key", "old.key"]).output();
    assert_success(&signed.unwrap());
    assert_success(&verify(&sandbox, &["oci:out/hello:latest", "--key", "tty.pub"]));
}

// Hostile inputs: signature manifests, key files and payloads crafted to
// exhaust memory or time. Each run is held to 1 GiB of address space and
// 60 s, so a regression fails its assertion instead of the machine.

const LIMIT: std::time::Duration = std::time::Duration::from_secs(60);
const SIMPLESIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const SIGNATURE: &str = "dev.cosignproject.cosign/signature";
const MIB: usize = 1 << 20;

/// `compose-img ARGS` in `sandbox` (key password set) under `ulimit -v
/// 1048576`, killed after [`LIMIT`]; returns the output and how long it took.
fn bounded(sandbox: &Sandbox, args: &[&str]) -> (Output, std::time::Duration) {
    use std::io::Read as _;
    use std::process::Stdio;
    let started = std::time::Instant::now();
    let mut child = Command::new(common::tool("sh"))
        .current_dir(sandbox.path())
        .env_remove("SOURCE_DATE_EPOCH")
        .env("COMPOSE_IMG_STORE", sandbox.store())
        .env("NO_COLOR", "1")
        .env("COSIGN_PASSWORD", "correct horse")
        .args(["-c", "ulimit -v 1048576; exec \"$0\" \"$@\""])
        .arg(common::bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("compose-img {args:?} still ran after {LIMIT:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let out = Output { status, stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() };
    (out, started.elapsed())
}

/// Exit 1 within a few seconds (far from the limits), saying each of `says`.
fn assert_refused_fast(run: (Output, std::time::Duration), says: &[&str]) {
    let (out, took) = run;
    assert_eq!(out.status.code(), Some(1), "status {:?} after {took:?}:\n{}", out.status, stderr(&out));
    for text in says {
        assert!(stderr(&out).contains(text), "expected `{text}` in:\n{}", stderr(&out));
    }
    assert!(took < std::time::Duration::from_secs(15), "took {took:?}");
}

/// Writes `bytes` as a blob of `layout`; returns its descriptor.
fn put_blob(layout: &Path, media_type: &str, bytes: &[u8]) -> serde_json::Value {
    let digest = compose_img::digest::Digest::of(bytes);
    let dir = layout.join("blobs/sha256");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(digest.hex()), bytes).unwrap();
    serde_json::json!({ "mediaType": media_type, "digest": digest.as_str(), "size": bytes.len() })
}

/// A signature manifest of `layers` (payload descriptor, base64 signature)
/// with its config, written to `layout`; returns the manifest descriptor.
fn put_signature_manifest(layout: &Path, layers: &[(serde_json::Value, String)]) -> serde_json::Value {
    let config = serde_json::json!({
        "architecture": "",
        "os": "",
        "config": {},
        "rootfs": { "type": "layers", "diff_ids": layers.iter().map(|(d, _)| d["digest"].clone()).collect::<Vec<_>>() },
    });
    let config = put_blob(layout, "application/vnd.oci.image.config.v1+json", config.to_string().as_bytes());
    let layers: Vec<_> = layers
        .iter()
        .map(|(desc, signature)| {
            let mut desc = desc.clone();
            desc["annotations"] = serde_json::json!({ SIGNATURE: signature });
            desc
        })
        .collect();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": layers,
    });
    put_blob(layout, "application/vnd.oci.image.manifest.v1+json", manifest.to_string().as_bytes())
}

/// Points `tag` of `layout`'s index.json at `desc` (replacing the entry).
fn put_tag(layout: &Path, tag: &str, desc: &serde_json::Value) {
    let path = layout.join("index.json");
    let mut index = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap(),
        Err(_) => serde_json::json!({ "schemaVersion": 2, "manifests": [] }),
    };
    let manifests = index["manifests"].as_array_mut().unwrap();
    manifests.retain(|m| m["annotations"]["org.opencontainers.image.ref.name"] != tag);
    let mut desc = desc.clone();
    desc["annotations"] = serde_json::json!({ "org.opencontainers.image.ref.name": tag });
    manifests.push(desc);
    std::fs::write(layout.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(&path, serde_json::to_vec(&index).unwrap()).unwrap();
}

/// A hand-made layout holding an image (no layers) tagged `latest`;
/// returns its manifest digest.
fn hand_made_image(layout: &Path) -> String {
    let config =
        serde_json::json!({ "architecture": "amd64", "os": "linux", "rootfs": { "type": "layers", "diff_ids": [] } });
    let config = put_blob(layout, "application/vnd.oci.image.config.v1+json", config.to_string().as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": [],
    });
    let desc = put_blob(layout, "application/vnd.oci.image.manifest.v1+json", manifest.to_string().as_bytes());
    put_tag(layout, "latest", &desc);
    desc["digest"].as_str().unwrap().to_owned()
}

fn sig_tag(digest: &str) -> String {
    format!("sha256-{}.sig", digest.trim_start_matches("sha256:"))
}

#[test]
fn signing_refuses_hostile_signature_manifests_fast_in_bounded_memory() {
    let sandbox = Sandbox::new();
    keygen(&sandbox, "k");
    let layout = sandbox.path().join("img");
    let digest = hand_made_image(&layout);
    let tag = sig_tag(&digest);
    // One 1 MiB payload named 15,000 times (a 3.3 MB manifest).
    let payload = put_blob(&layout, SIMPLESIGNING, &vec![b' '; MIB]);
    let junk = "MEUCIQ==";
    let many: Vec<_> = (0..15_000).map(|_| (payload.clone(), junk.to_owned())).collect();
    put_tag(&layout, &tag, &put_signature_manifest(&layout, &many));
    let says = [tag.as_str(), "15000 layers", "at most 1000"];
    assert_refused_fast(bounded(&sandbox, &["verify", "oci:img:latest", "--key", "k.pub"]), &says);
    // `sign` reads the signatures already there to append to them.
    let sign = ["sign", "oci:img:latest", "--key", "k.key", "--identity", "r.io/x"];
    assert_refused_fast(bounded(&sandbox, &sign), &says);

    // A payload over 1 MiB.
    let big = put_blob(&layout, SIMPLESIGNING, &vec![b' '; MIB + 1]);
    put_tag(&layout, &tag, &put_signature_manifest(&layout, &[(big.clone(), junk.to_owned())]));
    let says = [tag.as_str(), big["digest"].as_str().unwrap(), "1048577 bytes", "over the 1 MiB limit"];
    assert_refused_fast(bounded(&sandbox, &["verify", "oci:img:latest", "--key", "k.pub"]), &says);

    // At the limit (1000 layers naming a 1 MiB payload, the real signature
    // last): verified, the payload never held 1000 times.
    let signed = sandbox.path().join("signed");
    let digest = hand_made_image(&signed);
    assert_success(
        &cmd(&sandbox).args(["sign", "oci:signed:latest", "--key", "k.key", "--identity", "r.io/x"]).output().unwrap(),
    );
    let real = signature_manifest(&signed, &digest)["layers"][0].clone();
    let real_signature = real["annotations"][SIGNATURE].as_str().unwrap().to_owned();
    let mut real_payload = real.clone();
    real_payload.as_object_mut().unwrap().remove("annotations");
    let payload = put_blob(&signed, SIMPLESIGNING, &vec![b' '; MIB]);
    let mut layers: Vec<_> = (0..999).map(|i| (payload.clone(), format!("{junk}{i}"))).collect();
    layers.push((real_payload, real_signature));
    put_tag(&signed, &sig_tag(&digest), &put_signature_manifest(&signed, &layers));
    let (out, took) = bounded(&sandbox, &["verify", "oci:signed:latest", "--key", "k.pub"]);
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("{digest} (identity r.io/x; .sig, bundle)")));
    assert!(took < std::time::Duration::from_secs(15), "took {took:?}");
    // Signing again appends nothing (the same signature is there); one
    // more signature would pass the limit.
    let (out, _) = bounded(&sandbox, &["sign", "oci:signed:latest", "--key", "k.key", "--identity", "r.io/x"]);
    assert_success(&out);
    keygen(&sandbox, "other");
    let again = ["sign", "oci:signed:latest", "--key", "other.key", "--identity", "r.io/x"];
    assert_refused_fast(bounded(&sandbox, &again), &[&sig_tag(&digest), "already holds 1000 signatures"]);
}

/// An encrypted cosign key file asking scrypt for `n`, `r`, `p` (the box
/// itself is junk: it never opens).
fn key_with_scrypt(sandbox: &Sandbox, name: &str, n: u64, r: u32, p: u32) -> String {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let json = serde_json::json!({
        "kdf": { "name": "scrypt", "params": { "N": n, "r": r, "p": p }, "salt": b64(&[7; 32]) },
        "cipher": { "name": "nacl/secretbox", "nonce": b64(&[9; 24]) },
        "ciphertext": b64(&[1; 154]),
    });
    let body = b64(json.to_string().as_bytes());
    let lines: Vec<&str> = body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    let pem = format!(
        "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n{}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n",
        lines.join("\n")
    );
    let path = sandbox.write(name, &pem);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    name.to_owned()
}

#[test]
fn signing_refuses_costly_and_endless_key_files() {
    let sandbox = Sandbox::new();
    let sign = |key: &str| bounded(&sandbox, &["sign", "oci:nothing:latest", "--key", key, "--identity", "r.io/x"]);

    // 4 GiB of scrypt: refused before deriving anything.
    let costly = key_with_scrypt(&sandbox, "costly.key", 1 << 20, 32, 16);
    assert_refused_fast(sign(&costly), &["costly.key", "N=1048576", "r=32", "p=16"]);
    let wide = key_with_scrypt(&sandbox, "wide.key", 1 << 16, 16, 1);
    assert_refused_fast(sign(&wide), &["wide.key", "128 MiB", "over 64 MiB"]);
    let parallel = key_with_scrypt(&sandbox, "parallel.key", 1 << 15, 8, 5);
    assert_refused_fast(sign(&parallel), &["parallel.key", "p=5"]);
    let odd = key_with_scrypt(&sandbox, "odd.key", 30000, 8, 1);
    assert_refused_fast(sign(&odd), &["odd.key", "N=30000", "power of two"]);
    // cosign's parameters, and the edge of the range, are derived (and
    // this junk box then does not open).
    for (name, n, r, p) in [("cosign.key", 1 << 15, 8, 1), ("edge.key", 1 << 16, 8, 4)] {
        let key = key_with_scrypt(&sandbox, name, n, r, p);
        assert_refused_fast(sign(&key), &[name, "wrong password"]);
    }

    // Key files that are not regular files, or far too big, are not read.
    let fifo = sandbox.path().join("fifo.key");
    common::run(Command::new(common::tool("mkfifo")).args(["-m", "600"]).arg(&fifo));
    assert_refused_fast(sign("fifo.key"), &["fifo.key", "not a regular file"]);
    let verify = |key: &str| bounded(&sandbox, &["verify", "oci:nothing:latest", "--key", key]);
    assert_refused_fast(verify("fifo.key"), &["fifo.key", "not a regular file"]);
    assert_refused_fast(verify("/dev/zero"), &["/dev/zero", "not a regular file"]);
    let huge = std::fs::File::create(sandbox.path().join("huge.pub")).unwrap();
    huge.set_len(1 << 30).unwrap();
    assert_refused_fast(verify("huge.pub"), &["huge.pub", "over the 64 KiB limit"]);
    let huge = std::fs::File::create(sandbox.path().join("huge.key")).unwrap();
    huge.set_len(1 << 30).unwrap();
    std::fs::set_permissions(sandbox.path().join("huge.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_refused_fast(sign("huge.key"), &["huge.key", "over the 64 KiB limit"]);
}

#[test]
fn signing_escapes_control_characters_from_signatures_in_human_output() {
    let sandbox = Sandbox::new();
    keygen(&sandbox, "k");
    let layout = sandbox.path().join("img");
    let digest = hand_made_image(&layout);
    // An identity that would clear the screen and forge a line.
    let identity = "r.io/x\x1b[2J\rverified oci:img:latest sha256:0\n\x7f\u{9b}";
    let escaped = r"r.io/x\x1b[2J\rverified oci:img:latest sha256:0\n\x7f\u{9b}";
    let signed = cmd(&sandbox).args(["sign", "oci:img:latest", "--key", "k.key", "--identity", identity]).output();
    let signed = signed.unwrap();
    assert_success(&signed);
    assert!(stderr(&signed).contains(&format!("signed {digest} for {escaped}\n")), "{}", stderr(&signed));
    let out = verify(&sandbox, &["oci:img:latest", "--key", "k.pub"]);
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout, format!("verified oci:img:latest {digest} (identity {escaped}; .sig, bundle)\n"));
    let other = verify(&sandbox, &["oci:img:latest", "--key", "k.pub", "--identity", "r.io/y"]);
    assert_unverified(&other, &format!("identity mismatch: signed for {escaped}, expected r.io/y"));
    assert!(!other.stderr.iter().any(|b| *b == 0x1b || *b == b'\r'), "{}", stderr(&other));
    // The payload keeps the identity byte for byte.
    let layer = &signature_manifest(&layout, &digest)["layers"][0];
    let payload = json_blob(&layout, layer["digest"].as_str().unwrap());
    assert_eq!(payload["critical"]["identity"]["docker-reference"], identity);
}

/// The keys swapped: each error says which key the command wants.
#[test]
fn a_public_key_to_sign_and_a_private_key_to_verify_say_so() {
    let sandbox = Sandbox::new();
    keygen(&sandbox, "k");
    let sign = cmd(&sandbox).args(["sign", "oci:none:latest", "--key", "k.pub", "--identity", "r.io/x"]).output();
    let sign = sign.unwrap();
    assert_eq!(sign.status.code(), Some(1), "{}", stderr(&sign));
    assert!(stderr(&sign).contains("k.pub is a public key: signing needs the private key"), "{}", stderr(&sign));
    let verify = verify(&sandbox, &["oci:none:latest", "--key", "k.key"]);
    assert_eq!(verify.status.code(), Some(1), "{}", stderr(&verify));
    assert!(stderr(&verify).contains("k.key is a private key: verifying needs the public key"), "{}", stderr(&verify));
}
