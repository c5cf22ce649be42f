//! The SPDX 2.3 JSON document of one image: the image, its layers and
//! parents as packages, the files this build added (SHA-1 and SHA-256,
//! origin and size in the comment) and the packages the file system
//! declares, tied by relationships.

use serde_json::{Value, json};

use super::contents::Contents;
use super::{Subject, image_purl, time, uuid_v5};
use crate::digest::Digest;

const IMAGE: &str = "SPDXRef-Image";

/// The document (its arrays sorted).
pub(super) fn document(subject: &Subject, contents: &Contents) -> Value {
    let image = subject.image;
    let digest = &image.manifest.digest;
    let mut packages = vec![json!({
        "SPDXID": IMAGE,
        "name": subject.name,
        "versionInfo": digest.as_str(),
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
        "checksums": [checksum("SHA256", digest.hex())],
        "externalRefs": [purl(&image_purl(subject.name, digest))],
        "comment": format!("config {}, platform {}", image.config.digest, image.platform),
    })];
    let mut relationships = vec![relationship("SPDXRef-DOCUMENT", "DESCRIBES", IMAGE)];
    for (index, layer) in image.layers.iter().enumerate() {
        let id = format!("SPDXRef-Layer-{index}");
        let mut package = json!({
            "SPDXID": id,
            "name": format!("layer {index} {}", layer.name).trim_end().to_owned(),
            "versionInfo": layer.digest.as_str(),
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "primaryPackagePurpose": "ARCHIVE",
            "checksums": [checksum("SHA256", layer.digest.hex())],
            "comment": format!("{}, diff_id {}", layer.media_type, layer.diff_id),
        });
        // A layer that holds listed files says so, with the verification
        // code SPDX asks of a package whose files are analysed.
        let sha1s: Vec<&str> = contents.files.iter().filter(|f| f.layer == index).map(|f| f.sha1.as_str()).collect();
        if !sha1s.is_empty() {
            package["filesAnalyzed"] = json!(true);
            package["packageVerificationCode"] = json!({ "packageVerificationCodeValue": verification_code(sha1s) });
        }
        packages.push(package);
        relationships.push(relationship(IMAGE, "CONTAINS", &id));
    }
    for (index, parent) in subject.parents.iter().enumerate() {
        let id = format!("SPDXRef-Parent-{index}");
        packages.push(parent_package(&id, &parent.name, &parent.digest));
        relationships.push(relationship(IMAGE, "DESCENDANT_OF", &id));
    }
    for (index, package) in contents.packages.iter().enumerate() {
        let id = format!("SPDXRef-Package-{}-{index}", package.manager);
        packages.push(json!({
            "SPDXID": id,
            "name": package.name,
            "versionInfo": package.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "externalRefs": [purl(&package.purl)],
            "comment": format!("declared by the {} database", package.manager),
        }));
        relationships.push(relationship(IMAGE, "CONTAINS", &id));
    }
    let mut files = Vec::new();
    for file in &contents.files {
        let id = format!("SPDXRef-File-{}", &Digest::of(file.path.as_bytes()).hex()[..32]);
        files.push(json!({
            "SPDXID": id,
            "fileName": format!(".{}", file.path),
            "checksums": [checksum("SHA1", &file.sha1), checksum("SHA256", &file.sha256)],
            "comment": format!("{} bytes, layer {}, from {}: {}", file.size, file.layer, file.origin.kind, file.origin.detail),
        }));
        relationships.push(relationship(&format!("SPDXRef-Layer-{}", file.layer), "CONTAINS", &id));
    }
    let key = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_owned();
    packages.sort_by_key(|p| key(p, "SPDXID"));
    files.sort_by_key(|f| key(f, "fileName"));
    relationships.sort_by_key(|r| (key(r, "spdxElementId"), key(r, "relationshipType"), key(r, "relatedSpdxElement")));
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{}@{digest}", subject.name),
        "documentNamespace": format!(
            "https://compose-img.invalid/spdx/{}",
            uuid_v5(&format!("compose-img:spdx:{digest}"))
        ),
        "creationInfo": {
            "created": time(subject.flags.epoch),
            "creators": [format!("Tool: compose-img-{}", env!("CARGO_PKG_VERSION"))],
        },
        "packages": packages,
        "files": files,
        "relationships": relationships,
    })
}

fn parent_package(id: &str, name: &str, digest: &Digest) -> Value {
    let repository = name.split(['@']).next().unwrap_or(name);
    let repository = repository.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')).map_or(repository, |(r, _)| r);
    json!({
        "SPDXID": id,
        "name": name,
        "versionInfo": digest.as_str(),
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
        "checksums": [checksum("SHA256", digest.hex())],
        "externalRefs": [purl(&image_purl(repository, digest))],
    })
}

/// SPDX's package verification code: the SHA-1 of the files' SHA-1s
/// (hex), sorted and concatenated.
fn verification_code(mut sha1s: Vec<&str>) -> String {
    use sha1::{Digest as _, Sha1};
    sha1s.sort_unstable();
    super::contents::hex(&Sha1::digest(sha1s.concat().as_bytes()))
}

fn checksum(algorithm: &str, hex: &str) -> Value {
    json!({ "algorithm": algorithm, "checksumValue": hex })
}

fn purl(locator: &str) -> Value {
    json!({ "referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": locator })
}

fn relationship(from: &str, kind: &str, to: &str) -> Value {
    json!({ "spdxElementId": from, "relationshipType": kind, "relatedSpdxElement": to })
}
