//! OCI 1.1 referrers: signatures in cosign 3's format (Sigstore bundles)
//! attached as referrers next to the `.sig` tag, on Debian's
//! docker-registry (no referrers API: the referrers tag `sha256-<hex>`),
//! in layouts and archives; `verify` of both formats; `copy` carrying
//! them; independent checks with skopeo, podman, sigstore-protobuf-specs
//! and Python `cryptography`; hostile referrers.

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

use common::{Registry, Sandbox, assert_success, run};
use serde_json::Value;

const NO_TLS: &str = "--tls-verify=false";
const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

fn hello() -> String {
    common::repo().join("recipes/hello.toml").display().to_string()
}

/// compose-img with the key password set.
fn cmd(sandbox: &Sandbox) -> Command {
    let mut cmd = sandbox.cmd();
    cmd.env("COSIGN_PASSWORD", "pw");
    cmd
}

fn keygen(sandbox: &Sandbox, prefix: &str) {
    assert_success(&cmd(sandbox).args(["keygen", "--output-prefix", prefix]).output().unwrap());
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn verify(sandbox: &Sandbox, args: &[&str]) -> Output {
    sandbox.cmd().arg("verify").args(args).output().unwrap()
}

/// The document skopeo reads raw at `reference`.
fn skopeo_raw(reference: &str) -> Value {
    let raw = run(Command::new(common::tool("skopeo")).args(["inspect", NO_TLS, "--raw", reference]));
    serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{reference}: {e}: {raw}"))
}

/// The `manifests` of an index.
fn entries(index: &Value) -> Vec<Value> {
    index["manifests"].as_array().unwrap().clone()
}

/// The untagged artifact entries of a layout's `index.json`.
fn layout_referrers(layout: &Path) -> Vec<Value> {
    let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    entries(&index).into_iter().filter(|e| e.get("artifactType").is_some()).collect()
}

/// `text` with each `(from, to)` replaced, for snapshots.
fn redact(text: &str, pairs: &[(&str, &str)]) -> String {
    pairs.iter().fold(text.to_owned(), |text, (from, to)| text.replace(from, to))
}

/// Both signatures are listed by the referrers tag of docker-registry (no
/// referrers API), read by skopeo, verified in both formats, and carried
/// by `copy` to another repository, a layout and an archive, which still
/// name their one image untagged and which skopeo and podman read.
#[test]
fn two_signings_are_referrers_that_copy_carries_everywhere() {
    let registry = Registry::start();
    let sandbox = Sandbox::new();
    keygen(&sandbox, "k1");
    keygen(&sandbox, "k2");
    let target = format!("docker://{}/app/hello:1", registry.host);
    let digest = common::first_digest(
        &cmd(&sandbox).args(["build", &hello(), "--sign-key", "k1.key", "--output", &target, NO_TLS]).output().unwrap(),
    );
    assert_success(&cmd(&sandbox).args(["sign", &target, "--key", "k2.key", NO_TLS]).output().unwrap());
    let hex = digest.trim_start_matches("sha256:");

    let index = skopeo_raw(&format!("docker://{}/app/hello:sha256-{hex}", registry.host));
    let listed = entries(&index);
    // Two signature bundles (one per key) and the provenance the signed
    // build attested, in a bundle as cosign 3 attaches attestations.
    let predicates: Vec<&str> =
        listed.iter().map(|e| e["annotations"]["dev.sigstore.bundle.predicateType"].as_str().unwrap()).collect();
    assert_eq!(predicates.iter().filter(|p| **p == "https://sigstore.dev/cosign/sign/v1").count(), 2, "{index}");
    assert_eq!(predicates.iter().filter(|p| **p == "https://slsa.dev/provenance/v1").count(), 1, "{index}");
    assert_eq!(listed.len(), 3, "{index}");
    for entry in &listed {
        assert_eq!(entry["artifactType"], BUNDLE, "{entry}");
        let artifact =
            skopeo_raw(&format!("docker://{}/app/hello@{}", registry.host, entry["digest"].as_str().unwrap()));
        assert_eq!(artifact["subject"]["digest"], digest.as_str(), "{artifact}");
        assert_eq!(artifact["config"]["mediaType"], "application/vnd.oci.empty.v1+json");
        assert_eq!(artifact["layers"][0]["mediaType"], BUNDLE);
    }
    for key in ["k1.pub", "k2.pub"] {
        let out = verify(&sandbox, &[&target, "--key", key, NO_TLS]);
        assert_success(&out);
        assert!(stdout(&out).ends_with(&format!("{digest} (identity {}/app/hello; .sig, bundle)\n", registry.host)));
    }
    // Signing again with the same key adds nothing.
    assert_success(&cmd(&sandbox).args(["sign", &target, "--key", "k2.key", NO_TLS]).output().unwrap());
    assert_eq!(entries(&skopeo_raw(&format!("docker://{}/app/hello:sha256-{hex}", registry.host))), listed);

    // Another repository: the same referrers, its own referrers tag.
    let moved = format!("docker://{}/other/hello:2", registry.host);
    let copy = sandbox.cmd().args(["copy", &target, &moved, NO_TLS]).output().unwrap();
    assert_success(&copy);
    let said = stderr(&copy);
    assert!(
        said.contains("copied 1 signature manifest(s)\ncopied 1 attestation manifest(s)\ncopied 3 referrer(s)"),
        "{said}"
    );
    assert_eq!(entries(&skopeo_raw(&format!("docker://{}/other/hello:sha256-{hex}", registry.host))), listed);
    let identity = format!("{}/app/hello", registry.host);
    for key in ["k1.pub", "k2.pub"] {
        assert_success(&verify(&sandbox, &[&moved, "--key", key, "--identity", &identity, NO_TLS]));
    }

    // A layout: referrers are untagged entries with their artifactType.
    let layout = common::lowercase_tempdir("referrers");
    let oci = format!("oci:{}", layout.path().display());
    assert_success(&sandbox.cmd().args(["copy", &target, &format!("{oci}:1"), NO_TLS]).output().unwrap());
    let in_layout = layout_referrers(layout.path());
    let digests = |entries: &[Value]| entries.iter().map(|e| e["digest"].clone()).collect::<Vec<_>>();
    assert_eq!(digests(&in_layout), digests(&listed));
    let out = verify(&sandbox, &[&oci, "--key", "k2.pub"]);
    assert_success(&out);
    assert!(stdout(&out).contains("; .sig, bundle)"), "{}", stdout(&out));
    let inspect = sandbox.cmd().args(["inspect", &oci]).output().unwrap();
    assert_success(&inspect);
    assert!(stdout(&inspect).contains(&digest), "{}", stdout(&inspect));
    let seen = skopeo_raw(&format!("{oci}:1"));
    assert_eq!(seen["config"]["mediaType"], "application/vnd.oci.image.config.v1+json");
    let podman = common::Podman::new(sandbox.path());
    let id = run(podman.cmd().args(["pull", "-q", &format!("{oci}:1")]));
    run(podman.cmd().args(["rmi", "-f", id.trim()]));

    // An archive, signed once more in place: every referrer is kept.
    let archive = format!("oci-archive:{}", sandbox.path().join("hello.tar").display());
    assert_success(&sandbox.cmd().args(["copy", &format!("{oci}:1"), &archive]).output().unwrap());
    assert_success(
        &cmd(&sandbox).args(["sign", &archive, "--key", "k1.key", "--identity", "r.io/x"]).output().unwrap(),
    );
    let out = verify(&sandbox, &[&archive, "--key", "k1.pub", "--identity", "r.io/x"]);
    assert_success(&out);
    assert!(stdout(&out).contains("(identity r.io/x; .sig, bundle)"), "{}", stdout(&out));
    assert_success(&verify(&sandbox, &[&archive, "--key", "k2.pub", "--identity", &identity]));
    let inspect = sandbox.cmd().args(["inspect", &archive]).output().unwrap();
    assert_success(&inspect);
    let seen = run(Command::new(common::tool("skopeo")).args(["inspect", "--raw", &format!("{archive}:1")]));
    assert!(seen.contains("application/vnd.oci.image.config.v1+json"), "{seen}");
}

/// hello.toml built into the layout `lay` of `sandbox`, signed with a new
/// key `k`: the layout, its `oci:` reference and the image's digest.
fn signed_layout(sandbox: &Sandbox) -> (std::path::PathBuf, String, String) {
    keygen(sandbox, "k");
    let layout = sandbox.path().join("lay");
    let oci = format!("oci:{}:1", layout.display());
    let digest = common::first_digest(
        &cmd(sandbox).args(["build", &hello(), "--key", "k.key", "--output", &oci]).output().unwrap(),
    );
    (layout, oci, digest)
}

/// The bundle parses with sigstore-protobuf-specs; its signature checks
/// with Python `cryptography` against the cosign public key, and fails
/// after any one byte of the payload or signature changes.
#[test]
fn the_bundle_checks_with_independent_python_tools() {
    let sandbox = Sandbox::new();
    let (layout, _, digest) = signed_layout(&sandbox);
    let referrers = layout_referrers(&layout);
    let signatures: Vec<&Value> = referrers
        .iter()
        .filter(|e| e["annotations"]["dev.sigstore.bundle.predicateType"] == "https://sigstore.dev/cosign/sign/v1")
        .collect();
    let [entry] = &signatures[..] else { panic!("one signature bundle expected: {referrers:?}") };
    assert_eq!(entry["artifactType"], BUNDLE);
    let artifact = common::json_blob(&layout, entry["digest"].as_str().unwrap());
    assert_eq!(artifact["subject"]["digest"], digest.as_str());
    let bundle = layout.join("blobs/sha256").join(&artifact["layers"][0]["digest"].as_str().unwrap()[7..]);
    let script = sandbox.write("check.py", CHECK_BUNDLE);
    let out = Command::new(common::python())
        .arg(&script)
        .arg(&bundle)
        .arg(sandbox.path().join("k.pub"))
        .arg(&digest)
        .output()
        .unwrap();
    assert_success(&out);
    assert_eq!(stdout(&out), "verified; every changed byte refused\n");
}

const CHECK_BUNDLE: &str = r#"
import base64, hashlib, json, sys
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sigstore_protobuf_specs.dev.sigstore.bundle.v1 import Bundle
from sigstore_protobuf_specs.io.intoto import Envelope

bundle_path, key_path, digest = sys.argv[1:4]
# An instance with its oneof set, which from_json then fills.
bundle = Bundle(dsse_envelope=Envelope()).from_json(open(bundle_path).read())
assert bundle.media_type == "application/vnd.dev.sigstore.bundle.v0.3+json", bundle.media_type
assert not bundle.verification_material.tlog_entries
key = serialization.load_pem_public_key(open(key_path, "rb").read())
der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
assert bundle.verification_material.public_key.hint == base64.b64encode(hashlib.sha256(der).digest()).decode()
envelope = bundle.dsse_envelope
assert envelope.payload_type == "application/vnd.in-toto+json"
statement = json.loads(envelope.payload)
assert statement["_type"] == "https://in-toto.io/Statement/v1"
assert statement["predicateType"] == "https://sigstore.dev/cosign/sign/v1"
assert statement["subject"][0]["digest"]["sha256"] == digest.split(":")[1], statement

def pae(payload_type, payload):
    return b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type.encode(), len(payload), payload)

def verifies(payload, signature):
    try:
        key.verify(signature, pae(envelope.payload_type, payload), ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False

payload, signature = envelope.payload, envelope.signatures[0].sig
assert verifies(payload, signature)
for i in range(len(payload)):
    assert not verifies(payload[:i] + bytes([payload[i] ^ 1]) + payload[i + 1:], signature), i
for i in range(len(signature)):
    assert not verifies(payload, signature[:i] + bytes([signature[i] ^ 1]) + signature[i + 1:]), i
print("verified; every changed byte refused")
"#;

/// Rewrites the bundle of the one referrer in `layout` with `edit`, and
/// the documents naming it (artifact manifest, index.json), so that only
/// the bundle's content is wrong.
fn edit_bundle(layout: &Path, edit: &str) {
    let script = r#"
import hashlib, json, os, sys
layout, old, new = sys.argv[1:4]
def put(data):
    digest = hashlib.sha256(data).hexdigest()
    open(os.path.join(layout, "blobs/sha256", digest), "wb").write(data)
    return "sha256:" + digest, len(data)
index = json.load(open(os.path.join(layout, "index.json")))
entry = [e for e in index["manifests"] if e.get("artifactType")][0]
manifest = json.load(open(os.path.join(layout, "blobs/sha256", entry["digest"][7:])))
bundle = open(os.path.join(layout, "blobs/sha256", manifest["layers"][0]["digest"][7:])).read()
assert old in bundle
digest, size = put(bundle.replace(old, new, 1).encode())
manifest["layers"][0].update(digest=digest, size=size)
entry["digest"], entry["size"] = put(json.dumps(manifest).encode())
open(os.path.join(layout, "index.json"), "w").write(json.dumps(index))
"#;
    let (old, new) = edit.split_once('>').unwrap();
    run(Command::new(common::python()).arg("-c").arg(script).arg(layout).arg(old).arg(new));
}

/// A corrupted bundle is an error (exit 1, naming it), even though the
/// `.sig` signature beside it verifies; so is a layout listing thousands
/// of referrers.
#[test]
fn corrupted_bundles_and_huge_layouts_are_refused() {
    let sandbox = Sandbox::new();
    let (layout, oci, digest) = signed_layout(&sandbox);
    let pristine = std::fs::read(layout.join("index.json")).unwrap();
    let shown = |out: &Output| {
        let layout = layout.display().to_string();
        let referrer = layout_referrers(Path::new(&layout))[0]["digest"].as_str().unwrap().to_owned();
        redact(&stderr(out), &[(&layout, "LAYOUT"), (&digest, "IMAGE"), (&referrer, "REFERRER")])
    };

    edit_bundle(&layout, "\"payload\":\">\"payload\":\"!");
    let out = verify(&sandbox, &[&oci, "--key", "k.pub"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    insta::assert_snapshot!("bundle_bad_base64", shown(&out));

    std::fs::write(layout.join("index.json"), &pristine).unwrap();
    edit_bundle(&layout, "\"mediaType\":\">\"mediaType\":\"x");
    let out = verify(&sandbox, &[&oci, "--key", "k.pub"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    insta::assert_snapshot!("bundle_not_a_bundle", shown(&out));

    // Thousands of referrer entries: refused by their count.
    std::fs::write(layout.join("index.json"), &pristine).unwrap();
    let mut index: Value = serde_json::from_slice(&pristine).unwrap();
    let entry = layout_referrers(&layout)[0].clone();
    let manifests = index["manifests"].as_array_mut().unwrap();
    manifests.extend(std::iter::repeat_n(entry, 3000));
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    let started = std::time::Instant::now();
    let out = verify(&sandbox, &[&oci, "--key", "k.pub"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    insta::assert_snapshot!("layout_thousands_of_referrers", shown(&out));
}

/// On a registry: a referrers tag listing thousands of entries, and one
/// listing a referrer whose subject is another image, are errors naming
/// them (exit 1), not signatures skipped.
#[test]
fn hostile_referrers_tags_are_refused() {
    let registry = Registry::start();
    let sandbox = Sandbox::new();
    keygen(&sandbox, "k");
    let a = format!("docker://{}/app/a:1", registry.host);
    let b = format!("docker://{}/app/a:2", registry.host);
    sandbox.write("b.toml", "[image]\nname = \"b\"\n[from]\nscratch = true\n[[layer]]\nname = \"b\"\n[[layer.file]]\npath = \"/b\"\ncontent = \"b\"\n");
    let sign = |recipe: &str, output: &str| {
        common::first_digest(
            &cmd(&sandbox).args(["build", recipe, "--sign-key", "k.key", "--output", output, NO_TLS]).output().unwrap(),
        )
    };
    let digest_a = sign(&hello(), &a);
    let digest_b = sign("b.toml", &b);
    let tag = |digest: &str| format!("sha256-{}", digest.trim_start_matches("sha256:"));
    let index_b = skopeo_raw(&format!("docker://{}/app/a:{}", registry.host, tag(&digest_b)));
    let referrer_b = entries(&index_b)[0]["digest"].as_str().unwrap().to_owned();
    let put = |tag: &str, index: &Value| {
        let url = format!("http://{}/v2/app/a/manifests/{tag}", registry.host);
        let body = sandbox.write("index.json", &serde_json::to_string(index).unwrap());
        run(Command::new(common::tool("curl")).args([
            "-sSf",
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/vnd.oci.image.index.v1+json",
            "--data-binary",
            &format!("@{}", body.display()),
            &url,
        ]));
    };
    let shown = |out: &Output| {
        redact(
            &stderr(out),
            &[
                (&registry.host, "HOST"),
                (&digest_a, "IMAGE_A"),
                (digest_a.trim_start_matches("sha256:"), "IMAGE_A_HEX"),
                (&digest_b, "IMAGE_B"),
                (&referrer_b, "REFERRER_B"),
            ],
        )
    };

    // A's referrers tag lists B's signature bundle.
    put(&tag(&digest_a), &index_b);
    let out = verify(&sandbox, &[&a, "--key", "k.pub", NO_TLS]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    insta::assert_snapshot!("referrer_of_another_image", shown(&out));

    // Thousands of entries (the same manifest, which the registry has).
    let mut huge = index_b.clone();
    let entry = entries(&index_b)[0].clone();
    huge["manifests"] = Value::Array(vec![entry; 3000]);
    put(&tag(&digest_a), &huge);
    let out = verify(&sandbox, &[&a, "--key", "k.pub", NO_TLS]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    insta::assert_snapshot!("referrers_tag_with_thousands", shown(&out));
    // copy refuses it as well, writing nothing.
    let out = sandbox.cmd().args(["copy", &a, &format!("docker://{}/elsewhere/a:1", registry.host), NO_TLS]).output();
    let out = out.unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("at most 1000 referrers"), "{}", stderr(&out));
}
