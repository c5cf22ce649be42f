//! Importing an image from any [`Source`] into the store: the manifest or
//! index the reference names, the manifests of the wanted platforms, their
//! configs and layers. Every document and blob is checked against the
//! digest and size its parent names before it is used; documents over
//! 4 MiB are refused.

use std::io::{self, Read};

use oci_spec::image::ImageConfiguration;

use super::{TransportError, Want};
use crate::digest::Digest;
use crate::oci::image::BuiltImage;
use crate::oci::image::BuiltLayer;
use crate::oci::manifest::{self, Desc, IndexEntry, Parsed};
use crate::oci::media;
use crate::oci::platform::Platform;
use crate::oci::tagged::{Extra, Tagged};
use crate::registry::Reference;
use crate::store::{Store, WrittenBlob};

pub const MAX_DOCUMENT: u64 = 4 << 20;

/// Where an image's documents and blobs are read from.
pub trait Source {
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
}

/// The document a reference names.
pub struct Root {
    pub bytes: Vec<u8>,
    /// Its media type, if the transport knows it.
    pub media_type: Option<String>,
    /// The digest it must have, if the reference pins one.
    pub pinned: Option<Digest>,
}

/// Reads a whole document of at most 4 MiB and checks it against `desc`.
pub fn read_document(reader: impl Read, desc: &Desc, name: &str) -> Result<Vec<u8>, TransportError> {
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

fn check(actual: &Digest, size: u64, desc: &Desc, name: &str) -> Result<(), TransportError> {
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
pub fn import(source: &dyn Source, want: &Want, store: &Store) -> Result<Tagged, TransportError> {
    let name = source.name();
    let Root { bytes, media_type: hint, pinned } = source.root()?;
    if bytes.len() as u64 > MAX_DOCUMENT {
        return Err(TransportError::image(&name, "the manifest is over the 4 MiB limit"));
    }
    let root_digest = Digest::of(&bytes);
    if let Some(pinned) = &pinned
        && *pinned != root_digest
    {
        return Err(TransportError::image(&name, format!("the manifest has digest {root_digest}, not {pinned}")));
    }
    let (media_type, parsed) = manifest::parse(&bytes, hint.as_deref()).map_err(|e| TransportError::image(&name, e))?;
    let root = store.write_blob(&bytes)?;
    let desc = Desc { media_type: media_type.clone(), digest: root.digest.clone(), size: root.size };
    let mut extras = Vec::new();
    let images = match parsed {
        Parsed::Manifest { config, layers } => {
            let image = import_image(source, &desc, config, layers, store)?;
            if let Want::Platform(platform) = want
                && !platform_matches(platform, &image.platform)
            {
                return Err(TransportError::image(
                    &name,
                    format!("the image is for {}, not {platform}", image.platform),
                ));
            }
            vec![image]
        }
        Parsed::Index(entries) => {
            let chosen: Vec<IndexEntry> = match want {
                Want::All => {
                    if let Some(other) = entries.iter().find(|e| !is_manifest(&e.desc)) {
                        return Err(TransportError::image(
                            &name,
                            format!(
                                "index entry {} is a {}, not an image manifest",
                                other.desc.digest, other.desc.media_type
                            ),
                        ));
                    }
                    entries
                }
                Want::Platform(platform) => {
                    let found = entries.iter().find(|e| {
                        is_manifest(&e.desc) && e.platform.as_ref().is_some_and(|p| platform_matches(platform, p))
                    });
                    let Some(found) = found else {
                        let offered: Vec<String> =
                            entries.iter().filter_map(|e| e.platform.as_ref()).map(|p| p.to_string()).collect();
                        return Err(TransportError::image(
                            &name,
                            format!("the index has no manifest for {platform} (it has: {})", offered.join(", ")),
                        ));
                    };
                    vec![found.clone()]
                }
            };
            let mut images = Vec::new();
            for entry in chosen {
                let child = &entry.desc;
                let bytes = source.manifest(child)?;
                let (_, parsed) = manifest::parse(&bytes, Some(&child.media_type))
                    .map_err(|e| TransportError::image(&name, format!("manifest {}: {e}", child.digest)))?;
                let Parsed::Manifest { config, layers } = parsed else {
                    return Err(TransportError::image(&name, format!("{} is a nested index", child.digest)));
                };
                store.write_blob(&bytes)?;
                if is_attachment(&entry, &layers) {
                    // Kept byte for byte (attestations and the like), never
                    // used as an image.
                    for blob in [&config].into_iter().chain(&layers) {
                        fetch_blob(source, blob, store)?;
                    }
                    let blobs = [&config].into_iter().chain(&layers).cloned().collect();
                    extras.push(Extra { manifest: child.clone(), blobs });
                    continue;
                }
                images.push(import_image(source, child, config, layers, store)?);
            }
            if let Want::Platform(_) = want {
                return Ok(Tagged::single(images.remove(0)));
            }
            images
        }
    };
    Ok(Tagged { media_type, root, images, extras })
}

/// An index entry that is not an image of a platform but something
/// attached to one (BuildKit's attestations: platform `unknown/unknown`,
/// in-toto layers): copied verbatim, never opened.
fn is_attachment(entry: &IndexEntry, layers: &[Desc]) -> bool {
    entry.platform.as_ref().is_some_and(|p| p.os == "unknown")
        || layers.iter().any(|l| media::readable_layer(&l.media_type).is_none())
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
        fetch_blob(source, layer, store)?;
        built.push(BuiltLayer {
            reused: true,
            name: String::new(),
            digest: layer.digest.clone(),
            size: layer.size,
            diff_id,
            media_type,
        });
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

/// Copies blob `desc` into the store unless it is there, checking it.
fn fetch_blob(source: &dyn Source, desc: &Desc, store: &Store) -> Result<(), TransportError> {
    if store.has_blob(&desc.digest) {
        return Ok(());
    }
    let name = source.name();
    let mut reader = source.blob(desc)?;
    let mut writer = store.blob_writer()?;
    io::copy(&mut reader, &mut writer)
        .map_err(|e| TransportError::image(&name, format!("cannot read blob {}: {e}", desc.digest)))?;
    writer.complete_if(|digest, size| check(digest, size, desc, &name))?;
    Ok(())
}
