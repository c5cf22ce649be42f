//! SBOMs, provenance and attestations, checked by tools that are not ours:
//! the SPDX document with spdx-tools (strict validation), the CycloneDX
//! one with cyclonedx-python-lib's strict JSON schema validator, DSSE
//! envelopes with securesystemslib; documents equal byte for byte across
//! directories; `attestations` and `sbom` output and the errors pinned.

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

use common::{Sandbox, assert_success, blob, json_blob, layout_digest};

const EPOCH: &str = "1700000000";

/// A dpkg status file as dpkg writes it: two installed packages (one with
/// an epoch in its version, one with a continued description) and one
/// removed with its configuration files left, which is not installed.
const DPKG_STATUS: &str = "\
Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 12986
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Depends: libgcc-s1
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.

Package: tzdata
Status: install ok installed
Architecture: all
Version: 1:2024a-0+deb12u1
Description: time zone and daylight-saving time data

Package: oldtool
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1
Description: removed, its configuration kept
";

const BASE: &str = r#"
[image]
name = "localhost/debianish"
tags = ["1"]

[from]
scratch = true

[[layer]]
name = "system"
[[layer.file]]
path = "/var/lib/dpkg/status"
content = '''
@STATUS@'''
[[layer.file]]
path = "/etc/os-release"
content = "ID=debian\nVERSION_ID=\"12\"\n"
"#;

const TOOL: &str = r##"
[image]
name = "localhost/tool"
sbom = "both"

[from]
image = "oci:base:1"

[[layer]]
name = "app"
[[layer.file]]
path = "/usr/bin/tool"
content = "#!/bin/sh\necho tool\n"
mode = "0755"
[[layer.copy]]
src = "conf"
dest = "/etc/tool/"
"##;

/// compose-img at a fixed epoch with the key password set.
fn cmd(sandbox: &Sandbox) -> Command {
    let mut cmd = sandbox.cmd();
    cmd.env("SOURCE_DATE_EPOCH", EPOCH).env("COSIGN_PASSWORD", "pw");
    cmd
}

fn ok(out: Output) -> String {
    assert_success(&out);
    String::from_utf8(out.stdout).unwrap()
}

/// Exit 1, no panic; stderr.
fn fails(out: Output) -> String {
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// The base with a dpkg database in `oci:base:1`, and the tool recipe on it.
fn tool_sandbox() -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.write("base.toml", &BASE.replace("@STATUS@", DPKG_STATUS));
    sandbox.write("tool.toml", TOOL);
    sandbox.write("conf/tool.conf", "verbose = true\n");
    assert_success(&cmd(&sandbox).args(["build", "base.toml", "--output", "oci:base"]).output().unwrap());
    sandbox
}

/// Runs `script` with the test tools' Python in `dir`; returns stdout.
fn python(dir: &Path, script: &str) -> String {
    common::run(Command::new(common::python()).current_dir(dir).arg("-c").arg(script))
}

const VALIDATE: &str = r#"
import json, sys
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
messages = validate_full_spdx_document(parse_file("spdx.json"))
assert not messages, [m.validation_message for m in messages]
error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open("cdx.json").read())
assert error is None, error
print("valid")
"#;

/// Writes the image's SPDX and CycloneDX documents (from `sbom`) beside
/// it and validates both strictly; returns them.
fn validated(sandbox: &Sandbox, image: &str) -> (serde_json::Value, serde_json::Value) {
    let spdx = ok(cmd(sandbox).args(["sbom", image]).output().unwrap());
    let cdx = ok(cmd(sandbox).args(["sbom", "--format", "cyclonedx", image]).output().unwrap());
    sandbox.write("spdx.json", &spdx);
    sandbox.write("cdx.json", &cdx);
    assert_eq!(python(sandbox.path(), VALIDATE).trim(), "valid");
    (serde_json::from_str(&spdx).unwrap(), serde_json::from_str(&cdx).unwrap())
}

fn spdx_files(spdx: &serde_json::Value) -> Vec<String> {
    spdx["files"].as_array().unwrap().iter().map(|f| f["fileName"].as_str().unwrap().to_owned()).collect()
}

fn purls(cdx: &serde_json::Value) -> Vec<String> {
    let components = cdx["components"].as_array().unwrap();
    components.iter().filter_map(|c| c["purl"].as_str().map(str::to_owned)).collect()
}

#[test]
fn sboms_of_an_image_on_a_debian_parent_validate_and_list_its_files_and_packages() {
    let sandbox = tool_sandbox();
    // The recipe's `sbom = "both"`: unsigned attestations without a key.
    let digest = sandbox_build(&sandbox, &["tool.toml", "--output", "oci:tool"]);
    let (spdx, cdx) = validated(&sandbox, "oci:tool:latest");
    assert_eq!(spdx_files(&spdx), ["./etc/tool/tool.conf", "./usr/bin/tool"]);
    let conf = &spdx["files"][0];
    assert_eq!(
        conf["checksums"][1]["checksumValue"],
        python(sandbox.path(), "import hashlib;print(hashlib.sha256(open('conf/tool.conf','rb').read()).hexdigest())")
            .trim()
    );
    assert!(conf["comment"].as_str().unwrap().contains("tool.toml:15 layer `app`: copy conf"), "{conf}");
    let parent = spdx["packages"].as_array().unwrap().iter().find(|p| p["SPDXID"] == "SPDXRef-Parent-0").unwrap();
    assert_eq!(parent["versionInfo"], layout_digest(&sandbox.path().join("base"), "1"));
    assert_eq!(parent["name"], "oci:base:1");
    let packages: Vec<String> = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["externalRefs"][0]["referenceLocator"].as_str().filter(|l| l.starts_with("pkg:deb")))
        .map(str::to_owned)
        .collect();
    let expected =
        ["pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64", "pkg:deb/debian/tzdata@1%3A2024a-0+deb12u1?arch=all"];
    assert_eq!(packages, expected);
    let mut cdx_packages: Vec<String> = purls(&cdx).into_iter().filter(|p| p.starts_with("pkg:deb")).collect();
    cdx_packages.sort();
    assert_eq!(cdx_packages, expected);
    let files: Vec<&str> = cdx["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["bom-ref"].as_str().unwrap().starts_with("file:"))
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["/etc/tool/tool.conf", "/usr/bin/tool"]);
    assert_eq!(cdx["metadata"]["component"]["version"], digest);
    assert_eq!(cdx["metadata"]["timestamp"], "2023-11-14T22:13:20Z");

    // Pinned: the listing and the whole SPDX document.
    let listing = ok(cmd(&sandbox).args(["attestations", "oci:tool:latest"]).output().unwrap());
    insta::assert_snapshot!("attestations_listing", listing);
    insta::assert_snapshot!("sbom_spdx_output", ok(cmd(&sandbox).args(["sbom", "oci:tool"]).output().unwrap()));
}

#[test]
fn sboms_of_the_app_recipe_list_what_recipes_and_plugins_added() {
    let sandbox = Sandbox::new();
    recipes_and_plugins(sandbox.path());
    sandbox_build(&sandbox, &["recipes/app.toml", "--sbom", "both", "--output", "oci:app"]);
    let (spdx, _) = validated(&sandbox, "oci:app");
    let files = spdx_files(&spdx);
    for path in ["./bin/busybox", "./etc/passwd", "./usr/lib/os-release", "./etc/ssl/certs/ca-certificates.crt"] {
        assert!(files.iter().any(|f| f == path), "{path} not in {files:?}");
    }
    // What a later layer removed (strip-docs.rhai) is not in the image.
    assert!(!files.iter().any(|f| f.starts_with("./usr/share/doc")), "{files:?}");
    let passwd = spdx["files"].as_array().unwrap().iter().find(|f| f["fileName"] == "./etc/passwd").unwrap();
    assert!(passwd["comment"].as_str().unwrap().contains("from plugin: app.toml:"), "{passwd}");
    assert!(passwd["comment"].as_str().unwrap().contains("../plugins/users.rhai"), "{passwd}");
}

/// The example recipes and the plugins they use, copied into `dir`.
fn recipes_and_plugins(dir: &Path) {
    common::copy_recipes(dir);
    common::run(Command::new("cp").arg("-a").arg(common::repo().join("plugins")).arg(dir));
}

/// Builds and returns the manifest digest of the first output.
fn sandbox_build(sandbox: &Sandbox, args: &[&str]) -> String {
    let out = cmd(sandbox).arg("build").args(args).output().unwrap();
    assert_success(&out);
    common::first_digest(&out)
}

/// The attestation envelopes beside `tag` of a layout, as (predicate
/// type, envelope bytes), in manifest order.
fn envelopes(layout: &Path, digest: &str) -> Vec<(String, Vec<u8>)> {
    let tag = format!("sha256-{}.att", digest.trim_start_matches("sha256:"));
    let manifest = json_blob(layout, &layout_digest(layout, &tag));
    let layers = manifest["layers"].as_array().unwrap();
    layers
        .iter()
        .map(|l| {
            assert_eq!(l["mediaType"], "application/vnd.dsse.envelope.v1+json");
            let kind = l["annotations"]["predicateType"].as_str().unwrap().to_owned();
            (kind, blob(layout, l["digest"].as_str().unwrap()))
        })
        .collect()
}

const DSSE_CHECK: &str = r#"
import base64, copy, hashlib, json, sys
from cryptography.hazmat.primitives.serialization import load_pem_public_key, Encoding, PublicFormat
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey
from securesystemslib.exceptions import VerificationError
public = load_pem_public_key(open("k.pub", "rb").read())
keyid = hashlib.sha256(public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).hexdigest()
key = SSlibKey.from_crypto(public, keyid=keyid)
raw = json.load(open("envelope.json"))
def verifies(d):
    try:
        Envelope.from_dict(copy.deepcopy(d)).verify([key], 1)
        return True
    except VerificationError:
        return False
assert verifies(raw), "the envelope does not verify"
payload = bytearray(base64.b64decode(raw["payload"]))
sig = bytearray(base64.b64decode(raw["signatures"][0]["sig"]))
for i in range(len(payload)):
    edited = bytearray(payload); edited[i] ^= 0x01
    d = dict(raw, payload=base64.b64encode(bytes(edited)).decode())
    assert not verifies(d), f"verifies with payload byte {i} changed"
for i in range(len(sig)):
    edited = bytearray(sig); edited[i] ^= 0x01
    d = dict(raw, signatures=[{"keyid": keyid, "sig": base64.b64encode(bytes(edited)).decode()}])
    assert not verifies(d), f"verifies with signature byte {i} changed"
statement = json.loads(base64.b64decode(raw["payload"]))
print(statement["subject"][0]["digest"]["sha256"], len(payload), len(sig))
"#;

#[test]
fn dsse_envelopes_verify_with_securesystemslib_and_fail_after_any_edit() {
    let sandbox = tool_sandbox();
    assert_success(&cmd(&sandbox).args(["keygen", "--output-prefix", "k"]).output().unwrap());
    let digest = sandbox_build(&sandbox, &["tool.toml", "--sign-key", "k.key", "--output", "oci:tool"]);
    let envelopes = envelopes(&sandbox.path().join("tool"), &digest);
    let kinds: Vec<&str> = envelopes.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["https://spdx.dev/Document", "https://cyclonedx.org/bom", "https://slsa.dev/provenance/v1"]);
    for (kind, envelope) in &envelopes {
        sandbox.write_bytes("envelope.json", envelope);
        let out = python(sandbox.path(), DSSE_CHECK);
        let subject = out.split(' ').next().unwrap();
        assert_eq!(format!("sha256:{subject}"), digest, "{kind}");
    }
    let verified = ok(cmd(&sandbox).args(["verify", "--key", "k.pub", "--attestations", "oci:tool"]).output().unwrap());
    assert_eq!(verified.matches("verified attestation").count(), 3, "{verified}");

    // Attaching again keeps what is there: a second build signed with
    // another key adds its envelopes beside the first ones.
    assert_success(&cmd(&sandbox).args(["keygen", "--output-prefix", "other"]).output().unwrap());
    sandbox_build(&sandbox, &["tool.toml", "--sign-key", "other.key", "--output", "oci:tool"]);
    assert_eq!(self::envelopes(&sandbox.path().join("tool"), &digest).len(), 6);
    let listing = ok(cmd(&sandbox).args(["attestations", "oci:tool"]).output().unwrap());
    assert_eq!(listing.lines().count(), 7, "{listing}");
}

#[test]
fn two_builds_in_different_directories_give_the_same_documents() {
    let documents = |sandbox: &Sandbox| {
        recipes_and_plugins(sandbox.path());
        let digest = sandbox_build(sandbox, &["recipes/app.toml", "--sbom", "both", "--output", "oci:app"]);
        envelopes(&sandbox.path().join("app"), &digest)
    };
    let (a, b) = (Sandbox::new(), Sandbox::new());
    let (first, second) = (documents(&a), documents(&b));
    assert_eq!(first.len(), 3);
    for ((kind, x), (_, y)) in first.iter().zip(&second) {
        assert!(x == y, "{kind} differs:\n{}\n{}", String::from_utf8_lossy(x), String::from_utf8_lossy(y));
    }
    // The provenance names the recipes and plugins relative to the recipe
    // built, each with its digest, and the flags that change bytes.
    let (_, provenance) = &first[2];
    let envelope: serde_json::Value = serde_json::from_slice(provenance).unwrap();
    let payload = python(
        a.path(),
        &format!("import base64;print(base64.b64decode('{}').decode())", envelope["payload"].as_str().unwrap()),
    );
    let statement: serde_json::Value = serde_json::from_str(&payload).unwrap();
    let definition = &statement["predicate"]["buildDefinition"];
    let uris: Vec<&str> =
        definition["resolvedDependencies"].as_array().unwrap().iter().map(|d| d["uri"].as_str().unwrap()).collect();
    assert!(uris.contains(&"app.toml") && uris.contains(&"busybox.toml"), "{uris:?}");
    assert!(uris.contains(&"../plugins/users.rhai"), "{uris:?}");
    assert_eq!(definition["externalParameters"]["sourceDateEpoch"], 1_700_000_000);
    assert_eq!(definition["externalParameters"]["compression"], "zstd");
}

/// `text` with every digest and key id written as `…`.
fn redacted(text: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    for c in text.chars().chain(['\n']) {
        if c.is_ascii_hexdigit() && !c.is_ascii_uppercase() {
            run.push(c);
            continue;
        }
        out.push_str(if run.len() >= 40 { "…" } else { &run });
        run.clear();
        out.push(c);
    }
    out.pop();
    out
}

#[test]
fn bad_attestations_are_refused_with_clear_errors() {
    let sandbox = tool_sandbox();
    // An image without attestations.
    let none = fails(cmd(&sandbox).args(["sbom", "oci:base:1"]).output().unwrap());
    let listing = fails(cmd(&sandbox).args(["attestations", "oci:base:1"]).output().unwrap());
    // A provenance-only image has no SBOM.
    assert_success(&cmd(&sandbox).args(["keygen", "--output-prefix", "k"]).output().unwrap());
    assert_success(&cmd(&sandbox).args(["keygen", "--output-prefix", "wrong"]).output().unwrap());
    let build = ["tool.toml", "--sbom", "none", "--sign-key", "k.key", "--output", "oci:tool"];
    sandbox_build(&sandbox, &build);
    let no_spdx = fails(cmd(&sandbox).args(["sbom", "oci:tool"]).output().unwrap());
    // Attestations signed by another key than the signatures checked.
    assert_success(
        &cmd(&sandbox)
            .args(["sign", "--key", "wrong.key", "--identity", "localhost/tool", "oci:tool"])
            .output()
            .unwrap(),
    );
    let wrong_key =
        fails(cmd(&sandbox).args(["verify", "--key", "wrong.pub", "--attestations", "oci:tool"]).output().unwrap());
    // An envelope whose payload was edited (the manifests rewritten to
    // match, as an attacker would).
    sandbox.write("edit.py", EDIT_ENVELOPE);
    common::run(Command::new("python3").current_dir(sandbox.path()).args(["edit.py", "tool"]));
    let edited =
        fails(cmd(&sandbox).args(["verify", "--key", "k.pub", "--attestations", "oci:tool"]).output().unwrap());
    assert!(edited.contains("wrong key, or an edited payload or signature"), "{edited}");
    // Unsigned attestations do not verify.
    sandbox_build(&sandbox, &["tool.toml", "--output", "oci:unsigned"]);
    assert_success(
        &cmd(&sandbox)
            .args(["sign", "--key", "k.key", "--identity", "localhost/tool", "oci:unsigned"])
            .output()
            .unwrap(),
    );
    let unsigned =
        fails(cmd(&sandbox).args(["verify", "--key", "k.pub", "--attestations", "oci:unsigned"]).output().unwrap());
    // A destination that cannot hold attestations is refused before
    // anything is built.
    let archive = cmd(&sandbox).args(["build", "tool.toml", "--output", "docker-archive:t.tar"]).output().unwrap();
    assert_eq!(archive.status.code(), Some(2));
    assert!(!sandbox.path().join("t.tar").exists());
    let archive = String::from_utf8(archive.stderr).unwrap();
    let all = [none, listing, no_spdx, wrong_key, edited, unsigned, archive].map(|s| redacted(&s)).join("\n---\n");
    insta::assert_snapshot!("attestation_errors", all);
}

/// Rewrites the first attestation envelope of the layout named on the
/// command line with one payload byte changed, and the manifest and
/// index that name it, so every digest matches again.
const EDIT_ENVELOPE: &str = r#"
import base64, hashlib, json, os, sys
layout = sys.argv[1]
def blob(d): return open(os.path.join(layout, "blobs/sha256", d.split(":")[1]), "rb").read()
def put(data):
    d = hashlib.sha256(data).hexdigest()
    open(os.path.join(layout, "blobs/sha256", d), "wb").write(data)
    return "sha256:" + d, len(data)
index = json.load(open(os.path.join(layout, "index.json")))
entry = next(m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"].endswith(".att"))
manifest = json.loads(blob(entry["digest"]))
layer = manifest["layers"][0]
envelope = json.loads(blob(layer["digest"]))
payload = bytearray(base64.b64decode(envelope["payload"]))
payload[payload.index(b'"predicate"') + 2] ^= 0x01
envelope["payload"] = base64.b64encode(bytes(payload)).decode()
layer["digest"], layer["size"] = put(json.dumps(envelope).encode())
entry["digest"], entry["size"] = put(json.dumps(manifest).encode())
open(os.path.join(layout, "index.json"), "w").write(json.dumps(index))
"#;

#[test]
fn attestations_go_to_registries_and_archives_and_are_copied_along() {
    let registry = common::Registry::start();
    let sandbox = Sandbox::new();
    assert_success(&cmd(&sandbox).args(["keygen", "--output-prefix", "k"]).output().unwrap());
    let multiarch = common::repo().join("recipes/multiarch.toml").display().to_string();
    let target = format!("docker://{}/attested/multi:1", registry.host);
    let build = ["build", &multiarch, "--sbom", "spdx", "--sign-key", "k.key", "--output", &target, NO_TLS];
    assert_success(&cmd(&sandbox).args(build).output().unwrap());
    // Each platform image: its SBOM and its provenance.
    let listing = ok(cmd(&sandbox).args(["attestations", &target, NO_TLS]).output().unwrap());
    assert_eq!(listing.lines().count(), 5, "{listing}");
    assert_eq!(listing.matches("linux/arm64").count(), 2, "{listing}");
    let verified =
        ok(cmd(&sandbox).args(["verify", "--key", "k.pub", "--attestations", &target, NO_TLS]).output().unwrap());
    assert_eq!(verified.matches("verified attestation").count(), 4, "{verified}");
    let arm = ok(cmd(&sandbox).args(["sbom", "--platform", "linux/arm64", &target, NO_TLS]).output().unwrap());
    let arm: serde_json::Value = serde_json::from_str(&arm).unwrap();
    assert!(arm["packages"][0]["comment"].as_str().unwrap().ends_with("platform linux/arm64"), "{arm}");

    // skopeo reads the attestation manifest cosign's way.
    let manifest = arm["packages"][0]["versionInfo"].as_str().unwrap().trim_start_matches("sha256:").to_owned();
    let att = format!("{}:sha256-{manifest}.att", target.rsplit_once(':').unwrap().0);
    let raw = common::run(Command::new(common::tool("skopeo")).args(["inspect", "--raw", "--tls-verify=false", &att]));
    let raw: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let types: Vec<&str> =
        raw["layers"].as_array().unwrap().iter().map(|l| l["annotations"]["predicateType"].as_str().unwrap()).collect();
    assert_eq!(types, ["https://spdx.dev/Document", "https://slsa.dev/provenance/v1"]);

    // Copied to an archive, the attestations come along and still verify.
    let copy = cmd(&sandbox).args(["copy", "--all", &target, "oci-archive:multi.tar", NO_TLS]).output().unwrap();
    assert_success(&copy);
    assert!(String::from_utf8_lossy(&copy.stderr).contains("copied 2 attestation manifest(s)"));
    let verified = ok(cmd(&sandbox)
        .args(["verify", "--key", "k.pub", "--attestations", "oci-archive:multi.tar"])
        .output()
        .unwrap());
    assert_eq!(verified.matches("verified attestation").count(), 4, "{verified}");
}

const NO_TLS: &str = "--tls-verify=false";

#[test]
fn reproduce_confirms_a_published_image_and_names_what_differs() {
    let registry = common::Registry::start();
    let sandbox = tool_sandbox();
    let target = format!("docker://{}/released/tool:1", registry.host);
    // Published with signed provenance at the fixed epoch and gzip level 9.
    assert_success(&cmd(&sandbox).args(["keygen", "--output-prefix", "k"]).output().unwrap());
    let build = ["build", "tool.toml", "--sign-key", "k.key", "--compression", "gzip", "--level", "9"];
    assert_success(&cmd(&sandbox).args(build).args(["--output", &target, NO_TLS]).output().unwrap());
    // From a clean environment: the epoch and compression come from the
    // provenance.
    let again = |sandbox: &Sandbox| {
        sandbox.cmd().args(["reproduce", "tool.toml", "--against", &target, NO_TLS]).output().unwrap()
    };
    let out = again(&sandbox);
    let stdout = ok(out);
    assert!(stdout.starts_with(&format!("reproduced {target} sha256:")), "{stdout}");

    // One source file changed: exit 1, naming the layer and the file.
    sandbox.write("conf/tool.conf", "verbose = false\n");
    let stderr = fails(again(&sandbox));
    assert!(stderr.contains("does not reproduce"), "{stderr}");
    assert!(stderr.contains("first differing layer: 1 (published diff_id"), "{stderr}");
    assert!(stderr.contains("content: /etc/tool/tool.conf"), "{stderr}");
    assert!(!stderr.contains("/usr/bin/tool"), "{stderr}");
    // A changed recipe is named as a changed input.
    sandbox.write("conf/tool.conf", "verbose = true\n");
    sandbox.write("tool.toml", &TOOL.replace("echo tool", "echo tool 2"));
    let stderr = fails(again(&sandbox));
    assert!(stderr.contains("content: /usr/bin/tool"), "{stderr}");
    assert!(stderr.contains("input changed: tool.toml (recipe) was sha256:"), "{stderr}");
    insta::assert_snapshot!("reproduce_differs", redacted(&stderr).replace(&registry.host, "REGISTRY"));
}
