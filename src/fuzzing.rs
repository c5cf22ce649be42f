//! Entry points for the fuzz targets (`fuzz/`, run by `scripts/fuzz`): each
//! takes arbitrary bytes, runs the real parser of one kind of untrusted
//! input and drops what it returns. An error is a correct answer; a panic,
//! a hang or an unbounded allocation is a bug.
//!
//! The library keeps its items to itself; this module is the one door the
//! fuzz package goes through, so it holds nothing but thin calls.

use std::path::{Path, PathBuf};

use miette::{GraphicalReportHandler, GraphicalTheme};

use crate::oci::layerfs::{self, Change, Merged};
use crate::oci::manifest;
use crate::oci::media;
use crate::oci::platform::Platform;
use crate::oci::reference::ImageRef;
use crate::oci::registry_reference::Reference;
use crate::recipe::{self, LocatedError, RecipeError};
use crate::registry::ClientOptions;
use crate::registry::auth::parse_challenge;
use crate::sign::keys;
use crate::store::Store;
use crate::transport::{self, Want};

/// The password the cosign key seeds are encrypted with (`scripts/fuzz`).
pub const KEY_PASSWORD: &str = "fuzz";

/// A recipe file: loaded and validated; every located error rendered as
/// the CLI renders it, and on success every location a later stage may
/// point at.
pub fn recipe(data: &[u8]) {
    let dir = scratch();
    let Some(path) = write_file(dir.path(), "recipe.toml", data) else { return };
    match recipe::load(&path, &Default::default(), None) {
        Ok(recipe) => {
            let locs = recipe
                .layers
                .iter()
                .flat_map(|layer| std::iter::once(&layer.loc).chain(layer.entries.iter().map(|entry| &entry.loc)))
                .chain(recipe.plugins.iter().map(|plugin| &plugin.loc));
            for loc in locs {
                render(&loc.error("fuzz", "here"));
                let _ = loc.position();
            }
        }
        Err(RecipeError::Invalid { errors, .. }) => errors.iter().for_each(render),
        Err(RecipeError::Read { .. } | RecipeError::Undeclared { .. }) => {}
    }
}

fn render(error: &LocatedError) {
    let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor()).with_width(100);
    let mut out = String::new();
    let _ = handler.render_report(&mut out, error);
    let _ = error.first_offset();
}

/// A lock file: parsed, every located error rendered; what parses must
/// write as text that parses to the same entries, and write the same way
/// again.
pub fn lock(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let file = std::sync::Arc::new(recipe::SourceFile { name: "app.toml.lock".into(), text: text.into() });
    match crate::lock::file::parse(&file) {
        Ok(entries) => {
            let written = crate::lock::file::render(&entries);
            let again = std::sync::Arc::new(recipe::SourceFile { name: "again".into(), text: written.as_str().into() });
            let reparsed = crate::lock::file::parse(&again)
                .unwrap_or_else(|_| panic!("written lock file does not parse:\n{written}"));
            assert!(reparsed == entries, "the lock file changed on a round trip:\n{written}");
            assert_eq!(crate::lock::file::render(&reparsed), written);
        }
        Err(errors) => errors.iter().for_each(render),
    }
}

/// An image reference in the transport syntax, and as a registry
/// reference; what parses must print as text that parses to the same.
pub fn reference(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(parsed) = ImageRef::parse(text) {
        let shown = parsed.to_string();
        assert_eq!(ImageRef::parse(&shown).as_ref(), Ok(&parsed), "{text:?} is shown as {shown:?}");
        let _ = (parsed.tag().map(str::len), parsed.with_tag("t").to_string());
        let _ = parsed.relative_to(Path::new("d")).to_string();
    }
    if let Ok(parsed) = Reference::parse(text) {
        let shown = parsed.to_string();
        assert_eq!(Reference::parse(&shown).as_ref(), Ok(&parsed), "{text:?} is shown as {shown:?}");
        let _ = (parsed.manifest_ref(), parsed.repo_name(), parsed.with_tag("t").to_string());
    }
}

/// A manifest or index under every media type a transport may announce,
/// as a layout's `index.json`, and as an image config.
pub fn manifest(data: &[u8]) {
    let hints =
        [None, Some(""), Some("application/json"), Some(media::MANIFEST), Some(media::INDEX), Some(media::DOCKER_LIST)];
    for hint in hints {
        let _ = manifest::parse(data, hint);
    }
    for tag in [None, Some("latest")] {
        let _ = crate::oci::layout::find_in_index(data, tag, Path::new("index.json"));
    }
    if let Ok(config) = serde_json::from_slice::<oci_spec::image::ImageConfiguration>(data) {
        for diff_id in config.rootfs().diff_ids() {
            let _ = crate::digest::Digest::parse(diff_id);
        }
        let _ = (config.os().to_string(), config.architecture().to_string(), config.variant());
    }
}

/// A layer blob read as each compression media type, merged over itself
/// (every entry's parent must be there), and its files' content read back.
pub fn layer(data: &[u8]) {
    let dir = scratch();
    let Some(blob) = write_file(dir.path(), "layer", data) else { return };
    for media_type in [media::LAYER_TAR, media::LAYER_GZIP, media::LAYER_ZSTD] {
        let Ok(changes) = layerfs::read_layer(&blob, media_type, true, None) else { continue };
        let files: Vec<(u64, u64)> = changes
            .iter()
            .filter_map(|change| match change {
                Change::Add(entry) if entry.kind == layerfs::Kind::File => Some((entry.offset, entry.size)),
                _ => None,
            })
            .take(4)
            .collect();
        for (offset, size) in files {
            let _ = layerfs::read_content(&blob, media_type, offset, size);
        }
        let mut merged = Merged::default();
        merged.apply(0, changes.clone());
        merged.apply(1, changes);
        for path in merged.entries.keys() {
            // `Merged::add_missing_parents` stops at the first parent found.
            let parent = path.rsplit_once('/').map(|(parent, _)| parent);
            assert!(parent.is_none_or(|p| merged.entries.contains_key(p)), "{path:?} has no parent entry");
        }
        let paths: Vec<String> = merged.entries.keys().take(64).cloned().collect();
        for path in paths {
            let _ = (merged.resolve(&path), merged.children(&path));
        }
        let _ = merged.children("");
        let _ = layerfs::uncompressed_size(&blob, media_type, None);
    }
}

/// A `docker-archive:` file read into a fresh store as `copy` and a parent
/// image read it.
pub fn docker_archive(data: &[u8]) {
    archive(data, |file| ImageRef::DockerArchive { file, image: None });
}

/// An `oci-archive:` file read into a fresh store as `copy` and a parent
/// image read it.
pub fn oci_archive(data: &[u8]) {
    archive(data, |file| ImageRef::OciArchive { file, tag: None });
}

fn archive(data: &[u8], reference: impl FnOnce(PathBuf) -> ImageRef) {
    let dir = scratch();
    let Some(file) = write_file(dir.path(), "image.tar", data) else { return };
    let Ok(store) = Store::open(&dir.path().join("store")) else { return };
    let reference = reference(file);
    let options = ClientOptions { credential_files: Vec::new(), ..ClientOptions::default() };
    let linux = Platform { os: "linux".into(), architecture: "amd64".into(), variant: None };
    for want in [Want::All, Want::Platform(linux)] {
        let _ = transport::fetch(&reference, &want, &store, &options);
    }
}

/// A `WWW-Authenticate` header of a registry's 401 answer.
pub fn www_authenticate(data: &[u8]) {
    if let Ok(header) = std::str::from_utf8(data) {
        let _ = parse_challenge(header);
    }
}

/// An encrypted cosign private key, decrypted with [`KEY_PASSWORD`].
pub fn cosign_key(data: &[u8]) {
    let _ = keys::decrypt(data, KEY_PASSWORD.as_bytes(), Path::new("fuzz.key"));
}

/// A fresh directory for one input: in `/dev/shm` when there is one, where
/// the store's fsyncs cost nothing.
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() { shm.to_owned() } else { std::env::temp_dir() };
    tempfile::Builder::new()
        .prefix("compose-img-fuzz-")
        .tempdir_in(base)
        .or_else(|_| tempfile::tempdir())
        .expect("a temporary directory")
}

fn write_file(dir: &Path, name: &str, data: &[u8]) -> Option<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, data).ok()?;
    Some(path)
}
