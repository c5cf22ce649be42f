//! The CycloneDX 1.6 JSON document of one image: the image as the
//! metadata's component; its parents, layers, the files this build added
//! and the packages the file system declares as components.

use serde_json::{Value, json};

use super::contents::Contents;
use super::{Subject, image_purl, time, uuid_v5};

/// The document (its arrays sorted).
pub(super) fn document(subject: &Subject, contents: &Contents) -> Value {
    let image = subject.image;
    let digest = &image.manifest.digest;
    let mut components = Vec::new();
    let mut parents = Vec::new();
    for (index, parent) in subject.parents.iter().enumerate() {
        let reference = format!("parent-{index}");
        components.push(json!({
            "type": "container",
            "bom-ref": reference,
            "name": parent.name,
            "version": parent.digest.as_str(),
            "hashes": [sha256(parent.digest.hex())],
        }));
        parents.push(reference);
    }
    for (index, layer) in image.layers.iter().enumerate() {
        components.push(json!({
            "type": "file",
            "bom-ref": format!("layer-{index}"),
            "name": format!("layer {index} {}", layer.name).trim_end().to_owned(),
            "version": layer.digest.as_str(),
            "hashes": [sha256(layer.digest.hex())],
            "properties": [
                property("compose-img:diff_id", layer.diff_id.as_str()),
                property("compose-img:media_type", layer.media_type),
            ],
        }));
    }
    for file in &contents.files {
        components.push(json!({
            "type": "file",
            "bom-ref": format!("file:{}", file.path),
            "name": file.path,
            "hashes": [{ "alg": "SHA-1", "content": file.sha1 }, sha256(&file.sha256)],
            "properties": [
                property("compose-img:layer", &file.layer.to_string()),
                property("compose-img:origin", file.origin.kind),
                property("compose-img:origin_detail", &file.origin.detail),
                property("compose-img:size", &file.size.to_string()),
            ],
        }));
    }
    for package in &contents.packages {
        components.push(json!({
            "type": "library",
            "bom-ref": format!("package:{}:{}", package.manager, package.purl),
            "name": package.name,
            "version": package.version,
            "purl": package.purl,
            "properties": [property("compose-img:package_database", package.manager)],
        }));
    }
    let key = |v: &Value| v["bom-ref"].as_str().unwrap_or_default().to_owned();
    components.sort_by_key(key);
    components.dedup_by_key(|c| key(c));
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{}", uuid_v5(&format!("compose-img:cyclonedx:{digest}"))),
        "version": 1,
        "metadata": {
            "timestamp": time(subject.flags.epoch),
            "tools": { "components": [{
                "type": "application",
                "name": "compose-img",
                "version": env!("CARGO_PKG_VERSION"),
            }] },
            "component": {
                "type": "container",
                "bom-ref": "image",
                "name": subject.name,
                "version": digest.as_str(),
                "hashes": [sha256(digest.hex())],
                "purl": image_purl(subject.name, digest),
                "properties": [
                    property("compose-img:config", image.config.digest.as_str()),
                    property("compose-img:platform", &image.platform.to_string()),
                ],
            },
        },
        "components": components,
        "dependencies": [{ "ref": "image", "dependsOn": parents }],
    })
}

fn sha256(hex: &str) -> Value {
    json!({ "alg": "SHA-256", "content": hex })
}

fn property(name: &str, value: &str) -> Value {
    json!({ "name": name, "value": value })
}
