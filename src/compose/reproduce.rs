//! `compose-img reproduce`: the recipe rebuilt in a scratch store, with the
//! epoch, compression, variables and platforms the published image's
//! provenance records (when it has one), and compared with the published
//! image: the first layer that differs and its files, and which inputs the
//! provenance names have changed since.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::attest::{self, attached};
use crate::digest::Digest;
use crate::layer::BuildSettings;
use crate::layer::progress::Silent;
use crate::oci::compress::Compression;
use crate::oci::image::{BuiltImage, BuiltLayer};
use crate::oci::layerfs::{self, Change, Entry};
use crate::oci::platform::Platform;
use crate::oci::reference::ImageRef;
use crate::recipe::vars::Given;
use crate::registry::ClientOptions;
use crate::store::Store;
use crate::transport::{self, Want};

use super::{BuildRequest, ComposeError, build};

/// What `reproduce` is asked.
pub(crate) struct ReproduceRequest {
    pub recipe: PathBuf,
    pub against: ImageRef,
    /// From the flags; the provenance's values replace them.
    pub settings: BuildSettings,
    pub vars: Given,
    pub registry: ClientOptions,
}

/// What the rebuild found.
pub(crate) struct Reproduced {
    pub published: Digest,
    pub rebuilt: Digest,
    /// What was taken from the provenance (empty without one).
    pub taken: Vec<String>,
    /// Why the digests differ (empty when they match).
    pub differences: Vec<String>,
}

/// Rebuilds and compares.
pub(crate) fn reproduce(request: &ReproduceRequest) -> Result<Reproduced, ComposeError> {
    let scratch = tempfile::tempdir().map_err(|source| ComposeError::Scratch { source })?;
    let store_dir = scratch.path().join("store");
    let store = Store::open(&store_dir)?;
    let against = request.against.to_string();
    let fetch_failed = |source| ComposeError::Against { reference: against.clone(), source };
    let published = transport::fetch(&request.against, &Want::All, &store, &request.registry).map_err(fetch_failed)?;
    let provenance = provenance(&request.against, &store, &request.registry)?;
    let mut settings = request.settings;
    let mut vars = request.vars.clone();
    let mut taken = Vec::new();
    if let Some(predicate) = &provenance {
        take(predicate, &mut settings, &mut vars, &mut taken);
    }
    let platforms: Vec<Platform> = published.images.iter().map(|i| i.platform.clone()).collect();
    let output = ImageRef::Oci { dir: scratch.path().join("out"), tag: Some("reproduce".into()) };
    let rebuild = BuildRequest {
        recipes: vec![request.recipe.clone()],
        outputs: vec![output.clone()],
        store: store_dir,
        settings,
        reuse: true,
        registry: request.registry.clone(),
        platforms,
        vars,
        deny_warnings: false,
        sign_key: None,
        sbom: Some(Vec::new()),
        locked: true,
        // A rebuild from the recipe's inputs, never from a shared cache.
        cache: super::CacheOptions::default(),
        stages: Vec::new(),
    };
    build(&rebuild, &Silent)?;
    let rebuilt = transport::fetch(&output, &Want::All, &store, &request.registry)
        .map_err(|source| ComposeError::Output { output: "the rebuild".into(), source })?;
    let mut differences = Vec::new();
    if rebuilt.root.digest != published.root.digest {
        for image in &published.images {
            match rebuilt.images.iter().find(|r| r.platform == image.platform) {
                Some(mine) if mine.manifest.digest == image.manifest.digest => {}
                Some(mine) => differences.extend(compare(image, mine, &store)?),
                None => differences.push(format!("{}: the rebuild has no image for this platform", image.platform)),
            }
        }
        if differences.is_empty() {
            differences.push("every image is the same; the index differs".into());
        }
        if let Some(predicate) = &provenance {
            differences.extend(changed_inputs(predicate, &request.recipe));
        }
    }
    Ok(Reproduced { published: published.root.digest, rebuilt: rebuilt.root.digest, taken, differences })
}

/// The provenance predicate attached to `reference`, if any.
fn provenance(reference: &ImageRef, store: &Store, options: &ClientOptions) -> Result<Option<Value>, ComposeError> {
    let found = match attached::list(reference, store, options) {
        Ok(found) => found,
        Err(attest::AttestError::NoAttestations { .. }) => return Ok(None),
        Err(source) => return Err(ComposeError::Attest { recipe: reference.to_string(), source }),
    };
    let Some(envelope) = found.iter().find(|f| f.predicate_type == attest::PROVENANCE_PREDICATE) else {
        return Ok(None);
    };
    Ok(attached::statement(envelope).ok().map(|s| s.predicate))
}

/// Takes the epoch, compression and variables a provenance records.
fn take(predicate: &Value, settings: &mut BuildSettings, vars: &mut Given, taken: &mut Vec<String>) {
    let parameters = &predicate["buildDefinition"]["externalParameters"];
    if let Some(epoch) = parameters["sourceDateEpoch"].as_u64() {
        settings.source_date_epoch = epoch;
        taken.push(format!("source date epoch {epoch}"));
    }
    let level = parameters["level"].as_i64();
    let compression = match (parameters["compression"].as_str(), level) {
        (Some("zstd"), Some(level)) => i32::try_from(level).ok().map(|level| Compression::Zstd { level }),
        (Some("gzip"), Some(level)) => u32::try_from(level).ok().map(|level| Compression::Gzip { level }),
        (Some("none"), _) => Some(Compression::None),
        _ => None,
    };
    if let Some(compression) = compression {
        settings.compression = compression;
        let level = level.map(|l| format!(" level {l}")).unwrap_or_default();
        taken.push(format!("compression {}{level}", parameters["compression"].as_str().unwrap_or_default()));
    }
    if let Some(variables) = parameters["variables"].as_object() {
        for (name, value) in variables {
            if let Some(value) = value.as_str() {
                vars.values.insert(name.clone(), value.to_owned());
                taken.push(format!("variable {name}={value}"));
            }
        }
    }
}

/// Why `mine` (rebuilt) is not `theirs` (published): the first layer
/// that differs and its files, or the config.
fn compare(theirs: &BuiltImage, mine: &BuiltImage, store: &Store) -> Result<Vec<String>, ComposeError> {
    let platform = &theirs.platform;
    let mut out =
        vec![format!("{platform}: published manifest {}, rebuilt {}", theirs.manifest.digest, mine.manifest.digest)];
    let count = theirs.layers.len().max(mine.layers.len());
    let first =
        (0..count).find(|&i| theirs.layers.get(i).map(|l| &l.diff_id) != mine.layers.get(i).map(|l| &l.diff_id));
    let Some(index) = first else {
        out.push(format!(
            "  every layer is the same; the config differs ({} published, {} rebuilt)",
            theirs.config.digest, mine.config.digest
        ));
        return Ok(out);
    };
    let (a, b) = (theirs.layers.get(index), mine.layers.get(index));
    let name =
        b.or(a).map(|l| l.name.as_str()).filter(|n| !n.is_empty()).map(|n| format!(" `{n}`")).unwrap_or_default();
    match (a, b) {
        (Some(a), Some(b)) => {
            out.push(format!(
                "  first differing layer: {index}{name} (published diff_id {}, rebuilt {})",
                a.diff_id, b.diff_id
            ));
            let changes = file_changes(&entries(a, store)?, &entries(b, store)?);
            if changes.is_empty() {
                out.push("    same files; the tar bytes differ".into());
            }
            out.extend(changes.into_iter().map(|(what, path)| format!("    {what}: /{path}")));
        }
        (Some(_), None) => out.push(format!("  layer {index} is only in the published image")),
        _ => out.push(format!("  layer {index}{name} is only in the rebuild")),
    }
    Ok(out)
}

/// A layer's entries by path (whiteouts as entries of their own).
fn entries(layer: &BuiltLayer, store: &Store) -> Result<BTreeMap<String, Option<Entry>>, ComposeError> {
    let changes = layerfs::read_layer(&store.blob_path(&layer.digest), layer.media_type, true, None)
        .map_err(|source| ComposeError::Compare { digest: layer.digest.clone(), source })?;
    Ok(changes
        .into_iter()
        .map(|change| match change {
            Change::Add(entry) => (entry.path.clone(), Some(entry)),
            Change::Whiteout(path) => (format!("{path} (whiteout)"), None),
            Change::Opaque(path) => (format!("{path}/ (opaque whiteout)"), None),
        })
        .collect())
}

/// What differs between the published layer's entries and the rebuilt
/// one's, by path: `added` (only rebuilt), `removed` (only published),
/// else `content`, `mode`, `owner`, `kind`.
fn file_changes(
    theirs: &BTreeMap<String, Option<Entry>>,
    mine: &BTreeMap<String, Option<Entry>>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, entry) in theirs {
        let Some(other) = mine.get(path) else {
            out.push(("removed".to_owned(), path.clone()));
            continue;
        };
        let (Some(a), Some(b)) = (entry, other) else { continue };
        let mut what = Vec::new();
        if a.kind != b.kind {
            what.push("kind");
        } else if a.size != b.size || a.content.map(|c| c.hex().to_string()) != b.content.map(|c| c.hex().to_string()) {
            what.push("content");
        }
        if a.mode != b.mode {
            what.push("mode");
        }
        if (a.uid, a.gid) != (b.uid, b.gid) {
            what.push("owner");
        }
        if !what.is_empty() {
            out.push((what.join(", "), path.clone()));
        }
    }
    out.extend(mine.keys().filter(|p| !theirs.contains_key(*p)).map(|p| ("added".to_owned(), p.clone())));
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

/// The recipe files and plugin scripts the provenance names whose content
/// is not what it was (named relative to the recipe's directory).
fn changed_inputs(predicate: &Value, recipe: &Path) -> Vec<String> {
    let dir = recipe.parent().unwrap_or(Path::new(""));
    let dependencies = predicate["buildDefinition"]["resolvedDependencies"].as_array().cloned().unwrap_or_default();
    let mut out = Vec::new();
    for dependency in dependencies {
        let kind = dependency["annotations"]["kind"].as_str().unwrap_or_default();
        let (Some(uri), Some(recorded)) = (dependency["uri"].as_str(), dependency["digest"]["sha256"].as_str()) else {
            continue;
        };
        if !matches!(kind, "recipe" | "plugin") {
            continue;
        }
        let now = crate::files::read_bounded(&dir.join(uri), 16 << 20).map(|bytes| Digest::of(&bytes));
        match now {
            Ok(now) if now.hex() == recorded => {}
            Ok(now) => out.push(format!("input changed: {uri} ({kind}) was sha256:{recorded}, is now {now}")),
            Err(e) => out.push(format!("input changed: {uri} ({kind}) was sha256:{recorded}, cannot be read now: {e}")),
        }
    }
    out
}
