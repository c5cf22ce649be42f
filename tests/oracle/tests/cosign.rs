//! compose-img's signatures checked by the `sigstore` crate's cosign code,
//! and the other way round: keys and signatures made by sigstore used and
//! checked by compose-img. Runs the compose-img binary `$COMPOSE_IMG_BIN`.

#[path = "../../common/mod.rs"]
mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::Engine as _;
use common::{Registry, Sandbox, assert_success, json_blob, layout_digest};
use sigstore::cosign::payload::SimpleSigning;
use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraint};
use sigstore::cosign::{ClientBuilder, CosignCapabilities, verify_constraints};
use sigstore::crypto::signing_key::SigStoreKeyPair;
use sigstore::crypto::signing_key::ecdsa::{ECDSAKeys, EllipticCurve};
use sigstore::crypto::{CosignVerificationKey, Signature, SigningScheme};
use sigstore::registry::{Auth, ClientConfig, ClientProtocol, OciReference};

const PASSWORD: &str = "oracle password";

fn hello() -> String {
    common::repo().join("recipes/hello.toml").display().to_string()
}

fn build_signed(sandbox: &Sandbox, key: &str, output: &str) -> String {
    let out = sandbox
        .cmd()
        .env("COSIGN_PASSWORD", PASSWORD)
        .args(["build", &hello(), "--key", key, "--output", output, "--tls-verify=false"])
        .output()
        .unwrap();
    assert_success(&out);
    common::first_digest(&out)
}

/// A key pair made by sigstore, written as cosign writes it: `P.key`
/// (encrypted, 0600) and `P.pub`.
fn sigstore_keys(dir: &Path, prefix: &str) -> SigStoreKeyPair {
    let pair = SigStoreKeyPair::ECDSA(ECDSAKeys::new(EllipticCurve::P256).unwrap());
    let key = dir.join(format!("{prefix}.key"));
    std::fs::write(&key, pair.private_key_to_encrypted_pem(PASSWORD.as_bytes()).unwrap().as_bytes()).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(dir.join(format!("{prefix}.pub")), pair.public_key_to_pem().unwrap()).unwrap();
    pair
}

/// Checks every signature layer of `digest` in `layout` with sigstore's
/// verification key; returns how many verified.
fn sigstore_verifies_layout(layout: &Path, digest: &str, public_pem: &[u8], identity: &str) -> usize {
    let key = CosignVerificationKey::from_pem(public_pem, &SigningScheme::ECDSA_P256_SHA256_ASN1).unwrap();
    let manifest = json_blob(layout, &layout_digest(layout, &format!("sha256-{}.sig", &digest[7..])));
    let mut verified = 0;
    for layer in manifest["layers"].as_array().unwrap() {
        assert_eq!(layer["mediaType"], "application/vnd.dev.cosign.simplesigning.v1+json");
        let payload = common::blob(layout, layer["digest"].as_str().unwrap());
        let signature = layer["annotations"]["dev.cosignproject.cosign/signature"].as_str().unwrap();
        if key.verify_signature(Signature::Base64Encoded(signature.as_bytes()), &payload).is_ok() {
            let claim: SimpleSigning = serde_json::from_slice(&payload).unwrap();
            assert!(claim.satisfies_manifest_digest(digest), "{claim}");
            assert_eq!(claim.critical.identity.docker_reference, identity);
            verified += 1;
        }
    }
    verified
}

#[test]
fn sigstore_verifies_signatures_in_a_layout() {
    let sandbox = Sandbox::new();
    assert_success(
        &sandbox.cmd().env("COSIGN_PASSWORD", PASSWORD).args(["keygen", "--output-prefix", "k"]).output().unwrap(),
    );
    let digest = build_signed(&sandbox, "k.key", "oci:out");
    let layout = sandbox.path().join("out");
    let public = std::fs::read(sandbox.path().join("k.pub")).unwrap();
    assert_eq!(sigstore_verifies_layout(&layout, &digest, &public, "localhost/hello"), 1);
    // The oracle can say no: another key verifies nothing.
    let other = sigstore_keys(sandbox.path(), "other");
    assert_eq!(
        sigstore_verifies_layout(&layout, &digest, other.public_key_to_pem().unwrap().as_bytes(), "localhost/hello"),
        0
    );
}

#[tokio::test(flavor = "current_thread")]
async fn sigstore_verifies_signatures_in_a_registry() {
    let registry = Registry::start();
    let sandbox = Sandbox::new();
    assert_success(
        &sandbox.cmd().env("COSIGN_PASSWORD", PASSWORD).args(["keygen", "--output-prefix", "k"]).output().unwrap(),
    );
    let repo = format!("{}/signed/hello", registry.host);
    let digest = build_signed(&sandbox, "k.key", &format!("docker://{repo}:1"));

    let config = ClientConfig { protocol: ClientProtocol::Http, ..Default::default() };
    let mut client = ClientBuilder::default().with_oci_client_config(config).build().unwrap();
    let image: OciReference = format!("{repo}:1").parse().unwrap();
    let layers = client.trusted_signature_layers(&Auth::Anonymous, &image).await.unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0].simple_signing.critical.image.docker_manifest_digest, digest);
    assert_eq!(layers[0].simple_signing.critical.identity.docker_reference, repo);
    let public = std::fs::read(sandbox.path().join("k.pub")).unwrap();
    let verifier: Box<dyn VerificationConstraint> =
        Box::new(PublicKeyVerifier::new(&public, &SigningScheme::ECDSA_P256_SHA256_ASN1).unwrap());
    assert!(verify_constraints(&layers, [verifier].iter()).is_ok());
    let other = sigstore_keys(sandbox.path(), "other");
    let wrong: Box<dyn VerificationConstraint> = Box::new(
        PublicKeyVerifier::new(other.public_key_to_pem().unwrap().as_bytes(), &SigningScheme::ECDSA_P256_SHA256_ASN1)
            .unwrap(),
    );
    assert!(verify_constraints(&layers, [wrong].iter()).is_err());
}

#[test]
fn a_key_encrypted_by_sigstore_signs_with_compose_img() {
    let sandbox = Sandbox::new();
    let pair = sigstore_keys(sandbox.path(), "theirs");
    let digest = build_signed(&sandbox, "theirs.key", "oci:out");
    let layout = sandbox.path().join("out");
    assert_eq!(
        sigstore_verifies_layout(&layout, &digest, pair.public_key_to_pem().unwrap().as_bytes(), "localhost/hello"),
        1
    );
    assert_success(&sandbox.cmd().args(["verify", "oci:out:latest", "--key", "theirs.pub"]).output().unwrap());
}

#[test]
fn compose_img_verifies_a_signature_made_by_sigstore() {
    let sandbox = Sandbox::new();
    let digest = sandbox.build(&[&hello(), "--output", "oci:out"]);
    let layout = sandbox.path().join("out");
    let pair = sigstore_keys(sandbox.path(), "theirs");
    // Signed by sigstore, stored as cosign stores it, written by this test.
    let payload = serde_json::json!({"critical": {"identity": {"docker-reference": "localhost/hello"},
        "image": {"docker-manifest-digest": digest}, "type": "cosign container image signature"}, "optional": null});
    let payload = serde_json::to_vec(&payload).unwrap();
    let claim: SimpleSigning = serde_json::from_slice(&payload).unwrap();
    assert!(claim.satisfies_manifest_digest(&digest));
    let signer = pair.to_sigstore_signer(&SigningScheme::ECDSA_P256_SHA256_ASN1).unwrap();
    let signature = base64::engine::general_purpose::STANDARD.encode(signer.sign(&payload).unwrap());
    let put = |bytes: &[u8]| {
        let hex = sha256_hex(bytes);
        std::fs::write(layout.join("blobs/sha256").join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let (payload_digest, payload_size) = put(&payload);
    let config = serde_json::json!({"architecture": "", "config": {}, "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}], "os": "",
        "rootfs": {"type": "layers", "diff_ids": [payload_digest]}});
    let (config_digest, config_size) = put(&serde_json::to_vec(&config).unwrap());
    let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "digest": payload_digest,
            "size": payload_size, "annotations": {"dev.cosignproject.cosign/signature": signature}}]});
    let (manifest_digest, manifest_size) = put(&serde_json::to_vec(&manifest).unwrap());
    let index_path = layout.join("index.json");
    let mut index: serde_json::Value = serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    index["manifests"].as_array_mut().unwrap().push(serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": manifest_size,
        "annotations": {"org.opencontainers.image.ref.name": format!("sha256-{}.sig", &digest[7..])}}));
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();

    let out = sandbox
        .cmd()
        .args(["verify", "oci:out:latest", "--key", "theirs.pub", "--identity", "localhost/hello"])
        .output()
        .unwrap();
    assert_success(&out);
    sigstore_keys(sandbox.path(), "mine");
    let wrong = sandbox.cmd().args(["verify", "oci:out:latest", "--key", "mine.pub"]).output().unwrap();
    assert_eq!(wrong.status.code(), Some(1));
}

fn sha256_hex(bytes: &[u8]) -> String {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), bytes).unwrap();
    let out = common::run(std::process::Command::new("sha256sum").arg(file.path()));
    out.split_whitespace().next().unwrap().to_owned()
}
