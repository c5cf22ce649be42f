//! Transports against real peers: Debian's docker-registry started by each
//! test (plain http, or htpasswd basic auth), skopeo, podman save/load/run.
//! Parents written by someone else's code keep their digests; a second push
//! uploads nothing.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::{Podman, Registry, Sandbox, assert_success, run, tool};

const NO_TLS: &str = "--tls-verify=false";

fn recipe(name: &str) -> String {
    common::repo().join("recipes").join(name).display().to_string()
}

fn skopeo_inspect(reference: &str) -> serde_json::Value {
    let out = run(Command::new(tool("skopeo")).args(["inspect", "--tls-verify=false", reference]));
    serde_json::from_str(&out).unwrap()
}

fn layers(info: &serde_json::Value) -> Vec<String> {
    info["Layers"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_owned()).collect()
}

/// A child of `parent` (any reference): one layer with /etc/child, and
/// `cmd` replaced, so a busybox parent's `echo` entrypoint prints "child".
fn child_recipe(sandbox: &Sandbox, parent: &str) -> String {
    let text = format!(
        "[image]\nname = \"localhost/child\"\n[from]\nimage = \"{parent}\"\n[config]\ncmd = [\"child\"]\n\
         [[layer]]\nname = \"extra\"\n[[layer.file]]\npath = \"/etc/child\"\ncontent = \"x\"\n"
    );
    sandbox.write("child.toml", &text).display().to_string()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn push_then_skopeo_and_podman_pull_and_a_second_push_uploads_nothing() {
    let registry = Registry::start();
    let sandbox = Sandbox::new();
    let target = format!("docker://{}/busybox:1", registry.host);
    let out = sandbox.cmd().args(["build", &recipe("busybox.toml"), "--output", &target, NO_TLS]).output().unwrap();
    assert_success(&out);
    let digest = common::first_digest(&out);
    assert!(stderr(&out).contains("3 blobs uploaded"), "{}", stderr(&out));
    assert_eq!(registry.uploads("busybox"), 3);

    let info = skopeo_inspect(&target);
    assert_eq!(info["Digest"], digest.as_str());
    let copied = sandbox.path().join("copied");
    run(Command::new(tool("skopeo"))
        .args(["copy", "--src-tls-verify=false", "--preserve-digests", &target])
        .arg(format!("oci:{}:x", copied.display())));
    assert_eq!(common::layout_digest(&copied, "x"), digest);

    let podman = Podman::new(sandbox.path());
    let image = format!("{}/busybox:1", registry.host);
    run(podman.cmd().args(["pull", "-q", "--tls-verify=false", &image]));
    assert_eq!(podman.run(&image, &[]), "Hello from a compose-img image!\n");

    let again = sandbox.cmd().args(["build", &recipe("busybox.toml"), "--output", &target, NO_TLS]).output().unwrap();
    assert_success(&again);
    assert!(stderr(&again).contains("0 blobs uploaded (0 B), 3 already there"), "{}", stderr(&again));
    assert_eq!(registry.uploads("busybox"), 3, "a second push uploaded blobs");
}

#[test]
fn children_of_registry_parents_keep_parent_layers_and_mount_them() {
    let registry = Registry::start();
    let sandbox = Sandbox::new();
    let ours = format!("docker://{}/base:1", registry.host);
    sandbox.build(&[&recipe("busybox.toml"), "--output", &ours, NO_TLS]);
    // A parent whose manifest skopeo wrote (gzip-recompressed, Docker schema 2).
    let theirs = format!("docker://{}/skopeo-pushed:1", registry.host);
    sandbox.build(&[&recipe("busybox.toml"), "--compression", "gzip", "--output", "oci:bb:1"]);
    run(Command::new(tool("skopeo"))
        .args(["copy", "--dest-tls-verify=false", "--format", "v2s2", "--dest-compress-format", "gzip"])
        .arg(format!("oci:{}:1", sandbox.path().join("bb").display()))
        .arg(&theirs));

    let podman = Podman::new(sandbox.path());
    for (n, parent) in [ours, theirs].iter().enumerate() {
        let parent_info = skopeo_inspect(parent);
        let child = child_recipe(&sandbox, parent);
        let pushed = format!("docker://{}/child{n}:1", registry.host);
        let out = sandbox.cmd().args(["build", &child, "--output", &pushed, NO_TLS]).output().unwrap();
        assert_success(&out);
        // The second child's own layer and config went to child0 already:
        // the store saw them there, and they are mounted too.
        let mounted = if n == 0 { "2 blobs uploaded (" } else { "0 blobs uploaded (0 B), 0 already there, 4 mounted" };
        assert!(stderr(&out).contains(mounted), "parent layers not mounted: {}", stderr(&out));
        assert!(stderr(&out).contains(if n == 0 { "2 mounted" } else { "4 mounted" }), "{}", stderr(&out));
        let info = skopeo_inspect(&pushed);
        let (parent_layers, child_layers) = (layers(&parent_info), layers(&info));
        assert_eq!(child_layers.len(), parent_layers.len() + 1);
        assert_eq!(child_layers[..parent_layers.len()], parent_layers[..], "parent layers changed");
        let raw = run(Command::new(tool("skopeo")).args(["inspect", "--raw", "--tls-verify=false", &pushed]));
        let manifest: serde_json::Value = serde_json::from_str(&raw).unwrap();
        let annotations = &manifest["annotations"];
        assert_eq!(annotations["org.opencontainers.image.base.digest"], parent_info["Digest"]);
        assert_eq!(annotations["org.opencontainers.image.base.name"], parent.trim_start_matches("docker://"));
        let image = pushed.trim_start_matches("docker://");
        run(podman.cmd().args(["pull", "-q", "--tls-verify=false", image]));
        assert_eq!(podman.run(image, &[]), "child\n");
    }
}

#[test]
fn parents_from_podman_save_and_skopeo_oci_archives() {
    let registry = Registry::start();
    let sandbox = Sandbox::new();
    // Debian's podman cannot save zstd layers: the parent is gzip.
    let pushed = format!("{}/bb:1", registry.host);
    sandbox.build(&[
        &recipe("busybox.toml"),
        "--compression",
        "gzip",
        "--output",
        &format!("docker://{pushed}"),
        NO_TLS,
    ]);
    let podman = Podman::new(sandbox.path());
    run(podman.cmd().args(["pull", "-q", "--tls-verify=false", &pushed]));
    let saved = sandbox.path().join("saved.tar");
    run(podman.cmd().args(["save", "-o"]).arg(&saved).arg(&pushed));
    let archive = sandbox.path().join("skopeo.tar");
    run(Command::new(tool("skopeo"))
        .args(["copy", "--src-tls-verify=false", &format!("docker://{pushed}")])
        .arg(format!("oci-archive:{}:v1", archive.display())));

    for (n, parent) in ["docker-archive:saved.tar", "oci-archive:skopeo.tar:v1"].iter().enumerate() {
        let parent_info = skopeo_inspect(&format!(
            "{}{}",
            parent.split(':').next().unwrap(),
            format_args!(":{}", sandbox.path().join(parent.split_once(':').unwrap().1).display())
        ));
        let child = child_recipe(&sandbox, parent);
        let layout = sandbox.path().join("child");
        let _ = std::fs::remove_dir_all(&layout);
        // podman names images pulled from oci: after the (uppercase) temp
        // path, so it pulls the child from the registry.
        let image = format!("{}/child{n}:1", registry.host);
        sandbox.build(&[&child, "--output", "oci:child:1", "--output", &format!("docker://{image}"), NO_TLS]);
        let info = skopeo_inspect(&format!("oci:{}:1", layout.display()));
        assert_eq!(layers(&info)[..2], layers(&parent_info)[..], "{parent}: parent layers changed");
        run(podman.cmd().args(["pull", "-q", "--tls-verify=false", &image]));
        assert_eq!(podman.run(&image, &[]), "child\n", "{parent}");
    }
}

#[test]
fn archive_outputs_load_in_podman_and_skopeo() {
    let sandbox = Sandbox::new();
    let digest = sandbox.build(&[
        &recipe("busybox.toml"),
        "--output",
        "docker-archive:bb-docker.tar",
        "--output",
        "oci-archive:bb-oci.tar",
        "--output",
        "oci:bb",
    ]);
    let oci_archive = format!("oci-archive:{}:latest", sandbox.path().join("bb-oci.tar").display());
    assert_eq!(skopeo_inspect(&oci_archive)["Digest"], digest.as_str());
    let podman = Podman::new(sandbox.path());
    let loaded = run(podman.cmd().args(["load", "-i"]).arg(sandbox.path().join("bb-docker.tar")));
    assert!(loaded.contains("localhost/busybox-hello:latest"), "{loaded}");
    assert_eq!(podman.run("localhost/busybox-hello:latest", &[]), "Hello from a compose-img image!\n");
    // The same image written twice gives the same archive bytes.
    let first = std::fs::read(sandbox.path().join("bb-oci.tar")).unwrap();
    sandbox.build(&[&recipe("busybox.toml"), "--output", "oci-archive:bb-oci.tar"]);
    assert_eq!(first, std::fs::read(sandbox.path().join("bb-oci.tar")).unwrap());
}

#[test]
fn copy_between_transports_keeps_digests_and_chunks_large_blobs() {
    let registry = Registry::start();
    let sandbox = Sandbox::new();
    // 40 MiB of incompressible content: pushed in two chunks.
    let mut noise = vec![0u8; 40 << 20];
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for byte in &mut noise {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = state as u8;
    }
    std::fs::write(sandbox.path().join("noise.bin"), &noise).unwrap();
    let text = "[image]\nname = \"localhost/big\"\n[from]\nscratch = true\n[[layer]]\nname = \"noise\"\n\
                [[layer.copy]]\nsrc = \"noise.bin\"\ndest = \"/noise.bin\"\n";
    let big = sandbox.write("big.toml", text);
    let digest = sandbox.build(&[big.to_str().unwrap(), "--compression", "none", "--output", "oci:big"]);

    let remote = format!("docker://{}/big:1", registry.host);
    let hops = [
        ("oci:big:latest".to_owned(), remote.clone()),
        (remote.clone(), "oci-archive:big.tar".to_owned()),
        ("oci-archive:big.tar:1".to_owned(), "oci:again".to_owned()),
        (remote.clone(), format!("docker://{}/elsewhere/big:2", registry.host)),
    ];
    for (from, to) in &hops {
        let out = sandbox.cmd().args(["copy", from, to, NO_TLS]).output().unwrap();
        assert_success(&out);
        assert_eq!(common::first_digest(&out), digest, "{from} -> {to}");
    }
    assert_eq!(common::layout_digest(&sandbox.path().join("again"), "1"), digest);
    assert!(registry.log().contains("http.request.method=PATCH"), "no chunked upload");
    assert_eq!(registry.uploads("elsewhere/big"), 0, "a copy within the registry uploaded instead of mounting");
    // skopeo reads every blob back and checks it.
    let check = sandbox.path().join("check");
    run(Command::new(tool("skopeo"))
        .args([
            "copy",
            "--src-tls-verify=false",
            "--preserve-digests",
            &format!("docker://{}/elsewhere/big:2", registry.host),
        ])
        .arg(format!("oci:{}:x", check.display())));
    assert_eq!(common::layout_digest(&check, "x"), digest);
}

#[test]
fn basic_auth_uses_the_auth_file_and_refuses_without_it() {
    let registry = Registry::with_basic_auth("builder", "s3cret");
    let sandbox = Sandbox::new();
    let target = format!("docker://{}/private/hello:1", registry.host);
    let out = sandbox.cmd().args(["build", &recipe("hello.toml"), "--output", &target, NO_TLS]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let message = stderr(&out);
    assert!(message.contains(&format!("{}/private/hello", registry.host)), "{message}");
    assert!(message.contains("authentication required (401)"), "{message}");
    assert!(!message.contains("panicked"), "{message}");

    let auth = sandbox
        .write("auth.json", &format!(r#"{{"auths":{{"{}":{{"auth":"YnVpbGRlcjpzM2NyZXQ="}}}}}}"#, registry.host));
    let out = sandbox
        .cmd()
        .env("REGISTRY_AUTH_FILE", &auth)
        .args(["build", &recipe("hello.toml"), "--output", &target, NO_TLS])
        .output()
        .unwrap();
    assert_success(&out);
    let info =
        run(Command::new(tool("skopeo")).args(["inspect", "--tls-verify=false", "--creds", "builder:s3cret", &target]));
    assert!(info.contains(&common::first_digest(&out)));
    let wrong =
        sandbox.write("wrong.json", &format!(r#"{{"auths":{{"{}":{{"auth":"YnVpbGRlcjpubw=="}}}}}}"#, registry.host));
    let out =
        sandbox.cmd().env("REGISTRY_AUTH_FILE", &wrong).args(["copy", &target, "oci:x", NO_TLS]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("credentials found for it were refused"), "{}", stderr(&out));
}

#[test]
fn bad_images_are_refused_naming_the_blob_or_reference() {
    let registry = Registry::start();
    let sandbox = Sandbox::new();
    sandbox.build(&[&recipe("hello.toml"), "--output", "oci:good"]);
    let missing = format!("docker://{}/nothing:1", registry.host);
    let out = sandbox.cmd().args(["copy", &missing, "oci:x", NO_TLS]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&format!("{}/nothing:1: not found (404)", registry.host)), "{}", stderr(&out));

    // A layer blob changed on disk: refused, naming the blob; nothing written.
    run(Command::new("cp").args(["-r", "good", "bad"]).current_dir(sandbox.path()));
    let manifest =
        common::json_blob(&sandbox.path().join("bad"), &common::layout_digest(&sandbox.path().join("bad"), "latest"));
    let layer = manifest["layers"][1]["digest"].as_str().unwrap().to_owned();
    let path = sandbox.path().join("bad/blobs/sha256").join(layer.trim_start_matches("sha256:"));
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let fresh = Sandbox::new();
    let out = fresh
        .cmd()
        .args(["copy"])
        .arg(format!("oci:{}:latest", sandbox.path().join("bad").display()))
        .arg("oci:out")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&format!("blob {layer} does not match its digest")), "{}", stderr(&out));
    assert!(!fresh.path().join("out").exists(), "an output was written");
    assert!(!fresh.store().join("blobs-v1/sha256").join(layer.trim_start_matches("sha256:")).exists());

    // A manifest over 4 MiB is refused before it is parsed.
    let huge = vec![b' '; 5 << 20];
    let digest = format!("sha256:{}", sha256_hex(&huge));
    let dir = sandbox.path().join("huge");
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("blobs/sha256").join(digest.trim_start_matches("sha256:")), &huge).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{digest}","size":{}}}]}}"#,
        huge.len()
    );
    std::fs::write(dir.join("index.json"), index).unwrap();
    let out = sandbox.cmd().args(["copy", "oci:huge", "oci:y"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("over the 4 MiB limit"), "{}", stderr(&out));
    assert!(!Path::new(&sandbox.path().join("y")).exists());
}

fn sha256_hex(bytes: &[u8]) -> String {
    let out = run(Command::new("sha256sum").stdin(std::process::Stdio::piped()).arg("-").env("LC_ALL", "C").stdin({
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), bytes).unwrap();
        std::fs::File::open(file.path()).unwrap()
    }));
    out.split_whitespace().next().unwrap().to_owned()
}

#[test]
fn bearer_tokens_from_the_realm_the_registry_names() {
    let tokens = common::token::TokenServer::start("builder", "s3cret");
    let registry = Registry::with_token_auth(&tokens);
    let sandbox = Sandbox::new();
    let auth = sandbox.write(
        "auth.json",
        &format!(r#"{{"auths":{{"{}":{{"username":"builder","password":"s3cret"}}}}}}"#, registry.host),
    );
    let target = format!("docker://{}/team/busybox:1", registry.host);
    let out = sandbox
        .cmd()
        .env("REGISTRY_AUTH_FILE", &auth)
        .args(["build", &recipe("busybox.toml"), "--output", &target, NO_TLS])
        .output()
        .unwrap();
    assert_success(&out);
    let requests = tokens.requests.lock().unwrap().clone();
    assert!(
        requests.iter().any(|q| q.contains("scope=repository%3Ateam%2Fbusybox%3Apull%2Cpush")
            || q.contains("scope=repository:team/busybox:pull,push")),
        "{requests:?}"
    );
    assert!(requests.iter().all(|q| q.contains(&format!("service={}", common::token::SERVICE))), "{requests:?}");
    // Read back through the same token flow, as a parent and by copy.
    let child = child_recipe(&sandbox, &target);
    let copy = sandbox
        .cmd()
        .env("REGISTRY_AUTH_FILE", &auth)
        .args(["build", &child, "--output", &format!("docker://{}/team/child:1", registry.host), NO_TLS])
        .output()
        .unwrap();
    assert_success(&copy);
    assert!(stderr(&copy).contains("2 mounted"), "{}", stderr(&copy));
    // Without credentials the token service refuses: a clear 401.
    let anonymous = sandbox.cmd().args(["copy", &target, "oci:x", NO_TLS]).output().unwrap();
    assert_eq!(anonymous.status.code(), Some(1));
    assert!(stderr(&anonymous).contains("authentication required (401)"), "{}", stderr(&anonymous));
}

/// A plain-HTTP registry reached without --tls-verify=false: the error
/// says what it looks like and which flag to pass.
#[test]
fn a_plain_http_registry_without_the_flag_names_the_flag() {
    let registry = common::Registry::start();
    let sandbox = Sandbox::new();
    let out = sandbox.cmd().args(["inspect", &format!("docker://{}/nothing:1", registry.host)]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("as a plain-HTTP registry does"), "{stderr}");
    assert!(stderr.contains("pass --tls-verify=false"), "{stderr}");
}
