//! Files a `copy` takes from another image (`image = "..."`, the
//! multi-stage pattern): before planning, each such image is fetched for
//! the unit's platform (as a `from.image` parent is, its layers verified
//! once per blob) and the part the copy names is extracted from its merged
//! file system into the store, once per image digest and path
//! (`extracted-v1/`). Planning then walks it like a host directory, with
//! the modes and owners the image gives ([`crate::plan::copy`]); a rebuild
//! with the same image finds the extracted files, and so the layer by its
//! walk key, without reading the image's layers.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;
use std::sync::Arc;

use crate::digest::Digest;
use crate::oci::compress::decoder;
use crate::oci::image::BuiltImage;
use crate::oci::layerfs::{self, Kind, Merged};
use crate::oci::tar_entries::each_entry;
use crate::plan::graph::RecipeGraph;
use crate::recipe::{EntryKind, Extracted, ImageSource};
use crate::registry::ClientOptions;
use crate::store::Store;
use crate::transport::{self, TransportError, Want};

use super::ComposeError;
use super::locks::Locks;
use super::units::Units;
use crate::lock::Pin;

/// Fetches and extracts what every image copy of every unit needs.
pub(super) fn extract_all(
    graph: &RecipeGraph,
    units: &Units,
    store: &Store,
    registry: &ClientOptions,
    locks: &mut Locks,
) -> Result<(), ComposeError> {
    locks.resolve(graph, units, &mut crate::lock::Resolver::new(store, registry))?;
    for unit in &units.units {
        let recipe = graph.recipe_for(unit.recipe, &unit.platform);
        let copies = recipe.layers.iter().flat_map(|layer| &layer.entries).filter_map(|entry| match &entry.kind {
            EntryKind::Copy(copy) => copy.from.as_ref().map(|from| (copy, from, entry)),
            _ => None,
        });
        for (copy, from, entry) in copies {
            if from.for_platform(&unit.platform).is_some() {
                continue;
            }
            let fail = |source| ComposeError::CopySource {
                at: entry.loc.position(),
                image: from.name.clone(),
                source: Box::new(source),
            };
            let pin = locks.pin_source(unit.recipe, &from.name, &from.reference, &unit.platform);
            let image = fetch(from, pin.as_ref(), &unit.platform, store, registry).map_err(fail)?;
            let src = layerfs::normalise(&copy.src);
            let extracted =
                extracted(&image, &src, store).map_err(|e| fail(TransportError::image(&from.name, e.to_string())))?;
            from.extracted
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(unit.platform.clone(), Arc::new(extracted));
        }
    }
    Ok(())
}

/// The source image for `platform`: by the digest its lock file records.
fn fetch(
    from: &ImageSource,
    pin: Option<&Pin>,
    platform: &crate::oci::platform::Platform,
    store: &Store,
    registry: &ClientOptions,
) -> Result<BuiltImage, TransportError> {
    let reference = pin.map_or(&from.reference, |pin| &pin.fetch);
    let tagged = transport::fetch(reference, &Want::Platform(platform.clone()), store, registry)?;
    let Some(image) = tagged.images.into_iter().next() else {
        return Err(TransportError::image(&from.name, format!("no image for {platform}")));
    };
    if let Some(pin) = pin
        && image.manifest.digest != pin.manifest
    {
        let message = format!(
            "it is {} for {platform}, but {} records {}: run `compose-img lock --update`",
            image.manifest.digest, pin.lock, pin.manifest
        );
        return Err(TransportError::image(&from.name, message));
    }
    transport::verify_layers(&image, &from.name, store)?;
    Ok(image)
}

/// `src` (normalised) of `image`, extracted into the store, or found there.
fn extracted(image: &BuiltImage, src: &str, store: &Store) -> Result<Extracted, ExtractError> {
    let key = Digest::of(format!("extracted v1\n{}\n{src:?}\n", image.manifest.digest).as_bytes());
    let dir = store.extracted_dir(&key);
    let meta_file = dir.join("meta.json");
    if let Ok(bytes) = crate::files::read_bounded(&meta_file, 256 << 20)
        && let Ok(meta) = serde_json::from_slice(&bytes)
    {
        return Ok(Extracted { digest: image.manifest.digest.clone(), root: dir.join("root"), meta });
    }
    let temp = store.temp_dir().map_err(|e| ExtractError::Io(io::Error::other(e.to_string())))?;
    let meta = extract(image, src, store, &temp.path().join("root"))?;
    fs::write(temp.path().join("meta.json"), serde_json::to_vec(&meta).map_err(io::Error::other)?)?;
    let _ = fs::remove_dir_all(&dir);
    fs::rename(temp.keep(), &dir)?;
    Ok(Extracted { digest: image.manifest.digest.clone(), root: dir.join("root"), meta })
}

#[derive(Debug, thiserror::Error)]
enum ExtractError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("/{0} is a device or fifo: a copy takes files, directories and links (exclude it)")]
    Special(String),
}

/// Writes the entries of `image`'s merged file system at or below `src`
/// under `root` (directories, files, symlinks, hard links between them; a
/// hard link to a file outside `src` becomes a copy of it), streaming each
/// layer once; returns each entry's mode, uid and gid.
fn extract(
    image: &BuiltImage,
    src: &str,
    store: &Store,
    root: &Path,
) -> Result<BTreeMap<String, (u32, u32, u32)>, ExtractError> {
    let mut merged = Merged::default();
    for (index, layer) in image.layers.iter().enumerate() {
        let changes =
            layerfs::read_layer(&store.blob_path(&layer.digest), layer.media_type, false, Some(&layer.diff_id))?;
        merged.apply(index, changes);
    }
    let wanted = |path: &str| src.is_empty() || path == src || layerfs::inside(path, src);
    fs::create_dir_all(root)?;
    let mut meta = BTreeMap::new();
    // By layer: (offset in the layer, where it goes).
    let mut contents: BTreeMap<usize, Vec<(u64, String)>> = BTreeMap::new();
    let mut links = Vec::new();
    for (path, (entry, layer)) in merged.entries.iter().filter(|(path, _)| wanted(path)) {
        if let Some(parent) = Path::new(path.as_str()).parent() {
            fs::create_dir_all(root.join(parent))?;
        }
        let id = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        meta.insert(path.clone(), (entry.mode & 0o7777, id(entry.uid), id(entry.gid)));
        match &entry.kind {
            Kind::Dir => fs::create_dir_all(root.join(path))?,
            Kind::Symlink(target) => std::os::unix::fs::symlink(target, root.join(path))?,
            Kind::File => contents.entry(*layer).or_default().push((entry.offset, path.clone())),
            Kind::Hardlink(target) if wanted(target) => links.push((path.clone(), target.clone())),
            Kind::Hardlink(_) => {
                let Some((file, layer)) = merged.resolve(path) else { continue };
                meta.insert(path.clone(), (file.mode & 0o7777, id(file.uid), id(file.gid)));
                contents.entry(*layer).or_default().push((file.offset, path.clone()));
            }
            Kind::Device | Kind::Fifo => return Err(ExtractError::Special(path.clone())),
        }
    }
    for (layer, mut wanted) in contents {
        wanted.sort();
        let layer = &image.layers[layer];
        let blob = io::BufReader::new(fs::File::open(store.blob_path(&layer.digest))?);
        each_entry(
            decoder(layer.media_type, blob)?,
            |e| e,
            |entry| {
                let offset = entry.raw_file_position();
                let from = wanted.partition_point(|(o, _)| *o < offset);
                let mut targets = wanted[from..].iter().take_while(|(o, _)| *o == offset).map(|(_, path)| path);
                if let Some(first) = targets.next() {
                    io::copy(entry, &mut fs::File::create(root.join(first))?)?;
                    for other in targets {
                        fs::copy(root.join(first), root.join(other))?;
                    }
                }
                Ok(())
            },
        )?;
    }
    for (path, target) in links {
        fs::hard_link(root.join(&target), root.join(&path))?;
    }
    Ok(meta)
}
