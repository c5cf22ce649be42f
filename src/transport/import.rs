//! Importing an image from any [`Source`] into the store: the manifest or
//! index the reference names, the manifests of the wanted platforms, their
//! configs and layers. Every document and blob is checked against the
//! digest and size its parent names before it is used; documents over
//! 4 MiB are refused.

use rayon::prelude::*;
use std::io::{self, Read};

use oci_spec::image::ImageConfiguration;

use super::{TransportError, Want, diff_id};
use crate::digest::Digest;
use crate::oci::image::BuiltImage;
use crate::oci::image::BuiltLayer;
use crate::oci::manifest::{self, Desc, IndexEntry, Parsed};
use crate::oci::media;
use crate::oci::platform::Platform;
use crate::oci::tagged::{Extra, Tagged};
use crate::registry::Reference;
use crate::store::{Store, WrittenBlob};

pub(crate) const MAX_DOCUMENT: u64 = 4 << 20;

/// Where an image's documents and blobs are read from.
pub(crate) trait Source: Sync {
    /// How errors and `base.name` name the image.
    fn name(&self) -> String;
    /// The manifest or index the reference names.
    fn root(&self) -> Result<Root, TransportError>;
    /// A child manifest of an index.
    fn manifest(&self, desc: &Desc) -> Result<Vec<u8>, TransportError> {
        read_document(self.blob(desc)?, desc, &self.name())
    }
    /// A reader of blob `desc`, unchecked (the importer checks).
    fn blob(&self, desc: &Desc) -> Result<Box<dyn Read + '_>, TransportError>;
    /// The registry repository the blobs come from, if any.
    fn origin(&self) -> Option<Reference> {
        None
    }
    /// Whether the images' layer blobs are fetched; without them (only a
    /// registry source, see [`Documents`]) they stay in the repository of
    /// [`Source::origin`], recorded there for a push to mount.
    fn layers_wanted(&self) -> bool {
        true
    }
}

/// A source read for its documents (manifests, configs, the blobs of
/// artifacts), its image layer blobs left where they are.
pub(crate) struct Documents<'a> {
    source: &'a dyn Source,
    layers_wanted: bool,
}

impl<'a> Documents<'a> {
    /// A registry source's layers stay in its repository (any other
    /// source's are read as usual).
    pub(crate) fn of_registry(source: &'a dyn Source) -> Documents<'a> {
        Documents { source, layers_wanted: source.origin().is_none() }
    }

    /// The layers of an OCI layout or `dir:` pushed straight from its
    /// files ([`super::outside`]) stay in them.
    pub(crate) fn of_files(source: &'a dyn Source) -> Documents<'a> {
        Documents { source, layers_wanted: false }
    }
}

impl Source for Documents<'_> {
    fn name(&self) -> String {
        self.source.name()
    }

    fn root(&self) -> Result<Root, TransportError> {
        self.source.root()
    }

    fn manifest(&self, desc: &Desc) -> Result<Vec<u8>, TransportError> {
        self.source.manifest(desc)
    }

    fn blob(&self, desc: &Desc) -> Result<Box<dyn Read + '_>, TransportError> {
        self.source.blob(desc)
    }

    fn origin(&self) -> Option<Reference> {
        self.source.origin()
    }

    fn layers_wanted(&self) -> bool {
        self.layers_wanted
    }
}

/// The document a reference names.
pub(crate) struct Root {
    pub bytes: Vec<u8>,
    /// Its media type, if the transport knows it.
    pub media_type: Option<String>,
    /// The digest it must have, if the reference pins one.
    pub pinned: Option<Digest>,
    /// Whether `media_type` is what a descriptor (a layout's `index.json`)
    /// declares, which the document must then be; a registry's
    /// `Content-Type` is only a hint.
    pub declared: bool,
}

/// Reads a whole document of at most 4 MiB and checks it against `desc`.
pub(crate) fn read_document(reader: impl Read, desc: &Desc, name: &str) -> Result<Vec<u8>, TransportError> {
    if desc.size > MAX_DOCUMENT {
        return Err(TransportError::image(
            name,
            format!("{} is {} bytes: over the 4 MiB limit", desc.digest, desc.size),
        ));
    }
    let mut bytes = Vec::new();
    reader
        .take(MAX_DOCUMENT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| TransportError::image(name, format!("cannot read {}: {e}", desc.digest)))?;
    check(&Digest::of(&bytes), bytes.len() as u64, desc, name)?;
    Ok(bytes)
}

pub(super) fn check(actual: &Digest, size: u64, desc: &Desc, name: &str) -> Result<(), TransportError> {
    if *actual != desc.digest {
        return Err(TransportError::image(
            name,
            format!("blob {} does not match its digest: its content has digest {actual}", desc.digest),
        ));
    }
    if size != desc.size {
        return Err(TransportError::image(
            name,
            format!("blob {} is {size} bytes, but its descriptor says {}", desc.digest, desc.size),
        ));
    }
    Ok(())
}

/// Imports what `want` asks for from `source` into `store`.
pub(crate) fn import(source: &dyn Source, want: &Want, store: &Store) -> Result<Tagged, TransportError> {
    let name = source.name();
    let (bytes, media_type, parsed) = read_root(source)?;
    let root = store.write_blob(&bytes)?;
    let desc = Desc { media_type: media_type.clone(), digest: root.digest.clone(), size: root.size };
    match parsed {
        Parsed::Manifest { config, layers } => {
            if let Some(why) = not_an_image_manifest(&config, &layers) {
                if let Want::Platform(platform) = want {
                    return Err(TransportError::image(&name, format!("not an image for {platform}: {why}")));
                }
                // An artifact (a Helm chart, an SBOM): copied byte for
                // byte, its raw documents shown, never opened.
                for blob in [&config].into_iter().chain(&layers) {
                    fetch_blob(source, blob, store, None)?;
                }
                let blobs = [&config].into_iter().chain(&layers).cloned().collect();
                let extras = vec![Extra { manifest: desc, blobs }];
                return Ok(Tagged { media_type, root, images: Vec::new(), extras });
            }
            let image = import_image(source, &desc, config, layers, store)?;
            if let Want::Platform(platform) = want
                && !platform_matches(platform, &image.platform)
            {
                return Err(TransportError::image(
                    &name,
                    format!("the image is for {}, not {platform}", image.platform),
                ));
            }
            Ok(Tagged { media_type, root, images: vec![image], extras: Vec::new() })
        }
        Parsed::Index(entries) => {
            let chosen = choose(entries, want, &name)?;
            let unlabelled = chosen.iter().all(|e| e.platform.is_none());
            let (images, extras) = import_entries(source, chosen, want, store)?;
            if let Want::Platform(platform) = want {
                let Some(image) = images.into_iter().next() else {
                    return Err(TransportError::image(&name, format!("the index has no image for {platform}")));
                };
                if unlabelled && !platform_matches(platform, &image.platform) {
                    return Err(TransportError::image(
                        &name,
                        format!("the index's one image is for {}, not {platform}", image.platform),
                    ));
                }
                return Ok(Tagged::single(image));
            }
            Ok(Tagged { media_type, root, images, extras })
        }
    }
}

/// The document `source`'s reference names, checked against the digest
/// it pins (if any) and parsed: its bytes, media type and content.
pub(super) fn read_root(source: &dyn Source) -> Result<(Vec<u8>, String, Parsed), TransportError> {
    let name = source.name();
    let Root { bytes, media_type: hint, pinned, declared } = source.root()?;
    if bytes.len() as u64 > MAX_DOCUMENT {
        return Err(TransportError::image(&name, "the manifest is over the 4 MiB limit"));
    }
    let root_digest = Digest::of(&bytes);
    if let Some(pinned) = &pinned
        && *pinned != root_digest
    {
        return Err(TransportError::image(&name, format!("the manifest has digest {root_digest}, not {pinned}")));
    }
    let (media_type, parsed) = match hint.as_deref() {
        Some(declared_type) if declared => manifest::parse_declared(&bytes, declared_type)
            .map_err(|e| TransportError::image(&name, format!("{root_digest}: {e}")))?,
        hint => manifest::parse(&bytes, hint).map_err(|e| TransportError::image(&name, e.to_string()))?,
    };
    Ok((bytes, media_type, parsed))
}

/// The entries of an index that `want` asks for: every one (each must be a
/// manifest), or the first manifest for the platform.
pub(super) fn choose(entries: Vec<IndexEntry>, want: &Want, name: &str) -> Result<Vec<IndexEntry>, TransportError> {
    match want {
        Want::All => {
            if let Some(other) = entries.iter().find(|e| !is_manifest(&e.desc)) {
                return Err(TransportError::image(
                    name,
                    format!("index entry {} is a {}, not an image manifest", other.desc.digest, other.desc.media_type),
                ));
            }
            Ok(entries)
        }
        Want::Platform(platform) => {
            let matching = entries.iter().find(|e| e.platform.as_ref().is_some_and(|p| platform_matches(platform, p)));
            if let Some(found) = matching {
                if !is_manifest(&found.desc) {
                    return Err(TransportError::image(
                        name,
                        format!(
                            "index entry {} for {platform} is a {}, not an image manifest",
                            found.desc.digest, found.desc.media_type
                        ),
                    ));
                }
                return Ok(vec![found.clone()]);
            }
            // `platform` is optional in an index: its one image entry
            // without one is the image, for every command (as skopeo and
            // podman take it); its config must then be for the platform.
            let unlabelled: Vec<&IndexEntry> =
                entries.iter().filter(|e| e.platform.is_none() && is_manifest(&e.desc)).collect();
            if let [only] = unlabelled[..]
                && entries.iter().all(|e| e.platform.as_ref().is_none_or(|p| p.os == "unknown"))
            {
                return Ok(vec![only.clone()]);
            }
            let offered: Vec<String> = entries
                .iter()
                .map(|e| e.platform.as_ref().map_or("no platform".to_owned(), |p| p.to_string()))
                .collect();
            Err(TransportError::image(
                name,
                format!("the index has no manifest for {platform} (it has: {})", offered.join(", ")),
            ))
        }
    }
}

/// Imports the chosen manifests of an index: the images, and the other
/// manifests (attestations) kept byte for byte with their blobs.
fn import_entries(
    source: &dyn Source,
    chosen: Vec<IndexEntry>,
    want: &Want,
    store: &Store,
) -> Result<(Vec<BuiltImage>, Vec<Extra>), TransportError> {
    let name = source.name();
    let (mut images, mut extras) = (Vec::new(), Vec::new());
    for entry in chosen {
        let child = &entry.desc;
        let bytes = source.manifest(child)?;
        let (_, parsed) = manifest::parse_declared(&bytes, &child.media_type)
            .map_err(|e| TransportError::image(&name, format!("index entry {}: {e}", child.digest)))?;
        let Parsed::Manifest { config, layers } = parsed else {
            return Err(TransportError::image(&name, format!("{} is a nested index", child.digest)));
        };
        store.write_blob(&bytes)?;
        if is_attachment(&entry, &config, &layers) {
            if let Want::Platform(platform) = want {
                // The one manifest asked for is not an image compose-img
                // can build on.
                return Err(TransportError::image(&name, not_an_image(child, platform, &entry, &layers)));
            }
            // Kept byte for byte, never used as an image.
            for blob in [&config].into_iter().chain(&layers) {
                fetch_blob(source, blob, store, None)?;
            }
            let blobs = [&config].into_iter().chain(&layers).cloned().collect();
            extras.push(Extra { manifest: child.clone(), blobs });
            continue;
        }
        images.push(import_image(source, child, config, layers, store)?);
    }
    Ok((images, extras))
}

/// An index entry that is not an image of a platform but something
/// attached to one (BuildKit's attestations: platform `unknown/unknown`,
/// in-toto layers): copied verbatim, never opened.
fn is_attachment(entry: &IndexEntry, config: &Desc, layers: &[Desc]) -> bool {
    entry.platform.as_ref().is_some_and(|p| p.os == "unknown") || not_an_image_manifest(config, layers).is_some()
}

/// Why a manifest is an artifact rather than an image: its config is not
/// an image config, or a layer is not one compose-img reads.
fn not_an_image_manifest(config: &Desc, layers: &[Desc]) -> Option<String> {
    if config.media_type != media::CONFIG && config.media_type != media::DOCKER_CONFIG {
        return Some(format!("its config has media type {}", config.media_type));
    }
    let layer = layers.iter().find(|l| media::readable_layer(&l.media_type).is_none())?;
    Some(format!("layer {} has media type {}, which compose-img cannot use", layer.digest, layer.media_type))
}

/// Why the manifest `child` chosen for `platform` cannot be used as an image.
fn not_an_image(child: &Desc, platform: &Platform, entry: &IndexEntry, layers: &[Desc]) -> String {
    let why = match layers.iter().find(|l| media::readable_layer(&l.media_type).is_none()) {
        Some(layer) => {
            format!("layer {} has media type {}, which compose-img cannot use", layer.digest, layer.media_type)
        }
        None => format!("its platform is {}", entry.platform.as_ref().map_or("none".to_owned(), Platform::to_string)),
    };
    format!("the index's manifest {} for {platform} is not an image compose-img can use: {why}", child.digest)
}

fn is_manifest(desc: &Desc) -> bool {
    desc.media_type == media::MANIFEST || desc.media_type == media::DOCKER_MANIFEST
}

/// A wanted platform without a variant matches any variant.
fn platform_matches(wanted: &Platform, offered: &Platform) -> bool {
    wanted.os == offered.os
        && wanted.architecture == offered.architecture
        && (wanted.variant.is_none() || wanted.variant == offered.variant)
}

fn import_image(
    source: &dyn Source,
    manifest: &Desc,
    config: Desc,
    layers: Vec<Desc>,
    store: &Store,
) -> Result<BuiltImage, TransportError> {
    let name = source.name();
    let config_bytes = read_document(source.blob(&config)?, &config, &name)?;
    let config_json: ImageConfiguration = serde_json::from_slice(&config_bytes)
        .map_err(|e| TransportError::image(&name, format!("config {} is not an image config: {e}", config.digest)))?;
    let config_blob = store.write_blob(&config_bytes)?;
    let diff_ids = config_json.rootfs().diff_ids();
    if diff_ids.len() != layers.len() {
        return Err(TransportError::image(
            &name,
            format!("the manifest has {} layers but its config {} diff_ids", layers.len(), diff_ids.len()),
        ));
    }
    let mut built = Vec::new();
    for (layer, diff_id) in layers.iter().zip(diff_ids) {
        let media_type = media::readable_layer(&layer.media_type).ok_or_else(|| {
            TransportError::image(
                &name,
                format!("layer {} has media type {}, which compose-img cannot use", layer.digest, layer.media_type),
            )
        })?;
        let diff_id = Digest::parse(diff_id).map_err(|e| TransportError::image(&name, format!("config: {e}")))?;
        built.push(BuiltLayer {
            reused: true,
            name: String::new(),
            digest: layer.digest.clone(),
            size: layer.size,
            diff_id,
            media_type,
        });
    }
    // Downloads in parallel, on the pool of the command (`--jobs` for a
    // build), each layer's diff_id checked from the bytes as they arrive.
    if source.layers_wanted() {
        let fetched: Vec<Result<(), TransportError>> = layers
            .par_iter()
            .zip(&built)
            .enumerate()
            .map(|(index, (desc, layer))| fetch_blob(source, desc, store, Some(LayerCheck { index, layer })))
            .collect();
        // The first failure in the image's order is the one named.
        fetched.into_iter().collect::<Result<(), _>>()?;
    }
    if let Some(origin) = source.origin() {
        for layer in &layers {
            // A hint for pushes to mount from; failing to write it fails nothing.
            let _ = store.record_origin(&layer.digest, &origin.registry, &origin.repository);
        }
    }
    let platform = Platform {
        os: config_json.os().to_string(),
        architecture: config_json.architecture().to_string(),
        variant: config_json.variant().clone(),
    };
    Ok(BuiltImage {
        name,
        manifest: WrittenBlob { digest: manifest.digest.clone(), size: manifest.size },
        media_type: manifest.media_type.clone(),
        platform,
        origin: source.origin(),
        config: config_blob,
        config_json,
        layers: built,
        log: Vec::new(),
    })
}

/// A layer blob fetched: its place in the image and what it must
/// uncompress to.
#[derive(Clone, Copy)]
struct LayerCheck<'a> {
    index: usize,
    layer: &'a BuiltLayer,
}

/// Copies blob `desc` into the store unless it is there, checking it: its
/// digest and size, and for a layer, in the same pass, its diff_id (the
/// verdict kept in the store). A blob refused is never visible.
fn fetch_blob(
    source: &dyn Source,
    desc: &Desc,
    store: &Store,
    layer: Option<LayerCheck<'_>>,
) -> Result<(), TransportError> {
    if store.has_blob(&desc.digest) {
        return Ok(());
    }
    let name = source.name();
    // One byte past the descriptor's size is enough to refuse the blob: an
    // endless or oversized source never fills the store's tmp.
    let mut reader = source.blob(desc)?.take(desc.size.saturating_add(1));
    let mut writer = store.blob_writer()?;
    let (copied, found) = match layer {
        Some(check) => {
            let (copied, found) = diff_id::copy_decoding(&mut reader, &mut writer, check.layer.media_type);
            (copied, Some((check, found)))
        }
        None => (io::copy(&mut reader, &mut writer), None),
    };
    copied.map_err(|e| TransportError::image(&name, format!("cannot read blob {}: {e}", desc.digest)))?;
    let checked = found.as_ref().map(|(check, _)| check.layer);
    writer.complete_if(|digest, size| {
        check(digest, size, desc, &name)?;
        match found {
            Some((check, found)) => diff_id::verdict(found, &check.layer.diff_id)
                .map_err(|why| layer_error(&name, check.index, &desc.digest, &why)),
            None => Ok(()),
        }
    })?;
    if let Some(layer) = checked {
        store.mark_verified(&desc.digest, &layer.diff_id)?;
    }
    Ok(())
}

/// Layer `index` (blob `digest`) of image `name` is not what its
/// descriptor and config say, for reason `why`.
pub(crate) fn layer_error(name: &str, index: usize, digest: &Digest, why: &dyn std::fmt::Display) -> TransportError {
    TransportError::image(name, format!("layer {index} ({digest}): {why}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::sources::Stored;
    use super::*;

    /// A layer type compose-img cannot open.
    const ENCRYPTED: &str = "application/vnd.oci.image.layer.v1.tar+gzip+encrypted";

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    /// `bytes` as a blob of `media_type` in the store.
    fn blob(store: &Store, media_type: &str, bytes: &[u8]) -> Desc {
        let written = store.write_blob(bytes).unwrap();
        Desc { media_type: media_type.to_owned(), digest: written.digest, size: written.size }
    }

    fn descriptor(desc: &Desc, platform: Option<&str>) -> serde_json::Value {
        let mut value = json!({ "mediaType": desc.media_type, "digest": desc.digest.as_str(), "size": desc.size });
        if let Some(platform) = platform {
            let p = crate::oci::platform::parse_platform(platform).unwrap();
            value["platform"] = json!({ "os": p.os, "architecture": p.architecture });
            if let Some(variant) = p.variant {
                value["platform"]["variant"] = json!(variant);
            }
        }
        value
    }

    /// An image manifest for `platform` with one layer of `layer_type`
    /// (its content names the platform, so every image's blobs differ).
    fn image(store: &Store, platform: &str, layer_type: &str) -> Desc {
        let layer = blob(store, layer_type, format!("layer of {platform}").as_bytes());
        let p = crate::oci::platform::parse_platform(platform).unwrap();
        let config = json!({
            "os": p.os,
            "architecture": p.architecture,
            "variant": p.variant,
            "rootfs": { "type": "layers", "diff_ids": [layer.digest.as_str()] },
        });
        let config = blob(store, media::CONFIG, &serde_json::to_vec(&config).unwrap());
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": media::MANIFEST,
            "config": descriptor(&config, None),
            "layers": [descriptor(&layer, None)],
        });
        blob(store, media::MANIFEST, &serde_json::to_vec(&manifest).unwrap())
    }

    /// An index of `entries` (manifest, platform).
    fn index(entries: &[(&Desc, Option<&str>)]) -> Vec<u8> {
        let manifests: Vec<_> = entries.iter().map(|(desc, platform)| descriptor(desc, *platform)).collect();
        serde_json::to_vec(&json!({ "schemaVersion": 2, "mediaType": media::INDEX, "manifests": manifests })).unwrap()
    }

    fn import_root(store: &Store, root: Vec<u8>, want: &Want) -> Result<Tagged, TransportError> {
        import(&Stored::new(store, "test".into(), root, None), want, store)
    }

    fn platform(text: &str) -> Want {
        Want::Platform(crate::oci::platform::parse_platform(text).unwrap())
    }

    #[test]
    fn a_platform_whose_manifest_has_only_encrypted_layers_is_an_error_not_a_panic() {
        let (_dir, store) = store();
        let windows = image(&store, "linux/amd64", ENCRYPTED);
        let arm = image(&store, "linux/arm64", media::LAYER_TAR);
        let root = index(&[(&windows, Some("linux/amd64")), (&arm, Some("linux/arm64"))]);
        let error = import_root(&store, root, &platform("linux/amd64")).unwrap_err().to_string();
        let layer = Digest::of(b"layer of linux/amd64");
        assert_eq!(
            error,
            format!(
                "test: the index's manifest {} for linux/amd64 is not an image compose-img can use: \
                 layer {layer} has media type {ENCRYPTED}, which compose-img cannot use",
                windows.digest
            )
        );
    }

    #[test]
    fn a_platform_whose_entry_is_an_attachment_is_an_error() {
        let (_dir, store) = store();
        let attestation = image(&store, "unknown/unknown", media::LAYER_TAR);
        let root = index(&[(&attestation, Some("unknown/unknown"))]);
        let error = import_root(&store, root, &platform("unknown/unknown")).unwrap_err().to_string();
        assert!(error.ends_with("its platform is unknown/unknown"), "{error}");
    }

    #[test]
    fn picks_the_platform_asked_for() {
        let (_dir, store) = store();
        let amd = image(&store, "linux/amd64", media::LAYER_TAR);
        let arm = image(&store, "linux/arm64/v8", media::LAYER_GZIP);
        let root = index(&[(&amd, Some("linux/amd64")), (&arm, Some("linux/arm64/v8"))]);

        // Without a variant, any variant matches; the result is the one image.
        let tagged = import_root(&store, root.clone(), &platform("linux/arm64")).unwrap();
        assert_eq!(tagged.images.len(), 1);
        assert!(!tagged.is_index());
        assert_eq!(tagged.root.digest, arm.digest);
        assert_eq!(tagged.images[0].platform.to_string(), "linux/arm64/v8");
        assert_eq!(tagged.images[0].layers[0].media_type, media::LAYER_GZIP);

        let tagged = import_root(&store, root.clone(), &platform("linux/amd64")).unwrap();
        assert_eq!(tagged.images[0].manifest.digest, amd.digest);

        let error = import_root(&store, root.clone(), &platform("linux/arm64/v7")).unwrap_err().to_string();
        assert_eq!(error, "test: the index has no manifest for linux/arm64/v7 (it has: linux/amd64, linux/arm64/v8)");

        // Every platform: the index itself, each image in its order.
        let tagged = import_root(&store, root, &Want::All).unwrap();
        assert!(tagged.is_index());
        let platforms: Vec<String> = tagged.images.iter().map(|i| i.platform.to_string()).collect();
        assert_eq!(platforms, ["linux/amd64", "linux/arm64/v8"]);
    }

    #[test]
    fn a_plain_manifest_must_be_for_the_platform_asked_for() {
        let (_dir, store) = store();
        let amd = image(&store, "linux/amd64", media::LAYER_TAR);
        let root = std::fs::read(store.blob_path(&amd.digest)).unwrap();
        let tagged = import_root(&store, root.clone(), &platform("linux/amd64")).unwrap();
        assert_eq!(tagged.root.digest, amd.digest);
        let error = import_root(&store, root, &platform("linux/s390x")).unwrap_err().to_string();
        assert_eq!(error, "test: the image is for linux/amd64, not linux/s390x");
    }

    #[test]
    fn entries_that_are_not_platform_images_are_carried_as_extras() {
        let (_dir, store) = store();
        let amd = image(&store, "linux/amd64", media::LAYER_TAR);
        let attestation = image(&store, "unknown/unknown", media::LAYER_TAR);
        let foreign = image(&store, "windows/amd64", ENCRYPTED);
        let root = index(&[
            (&amd, Some("linux/amd64")),
            (&attestation, Some("unknown/unknown")),
            (&foreign, Some("windows/amd64")),
        ]);
        let tagged = import_root(&store, root, &Want::All).unwrap();
        assert_eq!(tagged.images.len(), 1);
        assert_eq!(tagged.images[0].manifest.digest, amd.digest);
        let extras: Vec<&Digest> = tagged.extras.iter().map(|e| &e.manifest.digest).collect();
        assert_eq!(extras, [&attestation.digest, &foreign.digest]);
        for extra in &tagged.extras {
            // The config and the layer, byte for byte in the store.
            assert_eq!(extra.blobs.len(), 2);
            assert!(extra.blobs.iter().all(|b| store.has_blob(&b.digest)));
        }
        // Every blob of the extras goes wherever the image goes.
        let blobs = tagged.blobs();
        assert!(
            tagged.extras.iter().flat_map(|e| e.blobs.iter().chain([&e.manifest])).all(|d| blobs.contains(&&d.digest))
        );
    }

    #[test]
    fn foreign_and_non_distributable_layers_are_read_when_their_blob_is_there() {
        let (_dir, store) = store();
        for (declared, kept) in [
            (media::DOCKER_FOREIGN_GZIP, media::NONDIST_GZIP),
            (media::NONDIST_TAR, media::NONDIST_TAR),
            (media::NONDIST_ZSTD, media::NONDIST_ZSTD),
        ] {
            let windows = image(&store, "windows/amd64", declared);
            let root = index(&[(&windows, Some("windows/amd64"))]);
            let tagged = import_root(&store, root.clone(), &platform("windows/amd64")).unwrap();
            assert_eq!(tagged.images[0].layers[0].media_type, kept);
            let tagged = import_root(&store, root, &Want::All).unwrap();
            assert_eq!((tagged.images.len(), tagged.extras.len()), (1, 0));
        }
    }

    #[test]
    fn an_index_entry_without_platform_is_the_image_for_every_command() {
        let (_dir, store) = store();
        let amd = image(&store, "linux/amd64", media::LAYER_TAR);
        let attestation = image(&store, "unknown/unknown", media::LAYER_TAR);
        let root = index(&[(&amd, None), (&attestation, Some("unknown/unknown"))]);
        let tagged = import_root(&store, root.clone(), &platform("linux/amd64")).unwrap();
        assert_eq!(tagged.images[0].manifest.digest, amd.digest);
        // Its config must still be for the platform built.
        let error = import_root(&store, root, &platform("linux/arm64")).unwrap_err().to_string();
        assert_eq!(error, "test: the index's one image is for linux/amd64, not linux/arm64");
        // Two entries without a platform: which one is not for us to guess.
        let arm = image(&store, "linux/arm64", media::LAYER_TAR);
        let error = import_root(&store, index(&[(&amd, None), (&arm, None)]), &platform("linux/amd64"))
            .unwrap_err()
            .to_string();
        assert_eq!(error, "test: the index has no manifest for linux/amd64 (it has: no platform, no platform)");
    }

    #[test]
    fn an_index_entry_whose_type_disagrees_with_its_manifest_is_refused() {
        let (_dir, store) = store();
        let amd = image(&store, "linux/amd64", media::LAYER_TAR);
        let mut docker = amd.clone();
        docker.media_type = media::DOCKER_MANIFEST.to_owned();
        let error = import_root(&store, index(&[(&docker, Some("linux/amd64"))]), &Want::All).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "test: index entry {}: its descriptor says {}, but the document is {}",
                amd.digest,
                media::DOCKER_MANIFEST,
                media::MANIFEST
            )
        );
        let mut config = amd.clone();
        config.media_type = media::CONFIG.to_owned();
        let error = import_root(&store, index(&[(&config, Some("linux/amd64"))]), &platform("linux/amd64"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            format!("test: index entry {} for linux/amd64 is a {}, not an image manifest", amd.digest, media::CONFIG)
        );
    }

    #[test]
    fn every_platform_refuses_an_index_entry_that_is_not_a_manifest() {
        let (_dir, store) = store();
        let amd = image(&store, "linux/amd64", media::LAYER_TAR);
        let nested = blob(&store, media::INDEX, &index(&[(&amd, Some("linux/amd64"))]));
        let root = index(&[(&amd, Some("linux/amd64")), (&nested, None)]);
        let error = import_root(&store, root, &Want::All).unwrap_err().to_string();
        assert_eq!(error, format!("test: index entry {} is a {}, not an image manifest", nested.digest, media::INDEX));
    }
}
