//! The shared layer cache in a registry (`--cache`, `--cache-from`;
//! docs/cache.md): entries are OCI artifacts in one repository, tagged
//! `layer-<hex of the content key>`: a manifest whose config is a small
//! JSON ([`EntryJson`]: the key, its format, the layer's diff_id) and whose
//! one layer is the layer blob. The key is the layer's content key
//! ([`crate::layer::cache::layer_key`]), never a stat key: it means the
//! same on every machine.
//!
//! [`SharedCache::look_up`] asks for every key of a build in parallel
//! before any layer is built; a registry that cannot be reached or refuses
//! the credentials is a warning (an error with `--cache-required`), and the
//! build goes on locally. A hit is fetched into the store and checked
//! (digest, size and diff_id) before use ([`SharedCache::fetch`]), or, when
//! nothing of the build needs its bytes, only recorded as seen in the
//! cache's repository so a push mounts it from there. A miss built locally
//! is published afterwards ([`SharedCache::publish`]); failing to write is
//! a warning. A blob without its manifest is never a hit: the tag is what
//! is looked up, and a registry accepts a manifest only once its blobs are
//! there.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::layer::cache::LAYER_FORMAT;
use crate::oci::image::BuiltLayer;
use crate::oci::manifest::{self, Parsed};
use crate::oci::media;
use crate::registry::{Client, ClientOptions, Reference, RegistryError};
use crate::store::layer_cache::CachedLayer;
use crate::store::{Store, StoreError};
use crate::transport::diff_id::{self, NotTheLayer};

/// The media type of an entry's config and its artifact type.
pub(crate) const ENTRY_TYPE: &str = "application/vnd.compose-img.layer-cache.v1+json";
/// The version of [`EntryJson`] and of the tag scheme.
const ENTRY_VERSION: u32 = 1;
/// An entry's JSON is refused beyond this size.
const MAX_ENTRY_JSON: u64 = 4096;

/// Where the shared cache is (`--cache`, `--cache-from`).
#[derive(Clone, Debug, Default)]
pub(crate) struct CacheOptions {
    /// Read and written (`--cache`, `$COMPOSE_IMG_CACHE`).
    pub write: Option<Reference>,
    /// Only read (`--cache-from`, repeatable), after `write`.
    pub read: Vec<Reference>,
    /// `--cache-required`: a cache that cannot be reached fails the build.
    pub required: bool,
}

impl CacheOptions {
    pub(crate) fn is_set(&self) -> bool {
        self.write.is_some() || !self.read.is_empty()
    }

    fn repositories(&self) -> impl Iterator<Item = &Reference> {
        self.write.iter().chain(&self.read)
    }
}

/// The config blob of an entry.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct EntryJson {
    version: u32,
    /// `LAYER_FORMAT` of the key.
    layer_format: u32,
    key: String,
    diff_id: String,
}

/// A layer the shared cache has.
#[derive(Clone, Debug)]
pub(crate) struct Hit {
    /// The repository it was found in.
    pub repository: Reference,
    pub layer: BuiltLayer,
}

/// A cache that could not be reached or refused us, or an entry that could
/// not be used: `--cache-required` makes the first an error.
#[derive(Debug, thiserror::Error)]
#[error("shared cache docker://{reference}: {source}")]
pub(crate) struct CacheError {
    pub reference: String,
    #[source]
    pub source: RegistryError,
}

/// The shared cache of one build: what the lookups found, and what to
/// publish once layers are built.
pub(crate) struct SharedCache {
    options: CacheOptions,
    registry: ClientOptions,
    /// By content key: where the layer was found (before building, and
    /// for layers keyed only once built on the layers below).
    hits: Mutex<BTreeMap<Digest, Hit>>,
    /// Keys looked up in the writable cache and not found there.
    misses: Mutex<BTreeSet<Digest>>,
    /// Whether the writable cache answered the lookups.
    writable: bool,
    /// Repositories that could not be asked: not asked again.
    unreachable: Mutex<BTreeSet<String>>,
    warnings: Mutex<Vec<String>>,
}

impl SharedCache {
    /// A cache that is not used.
    pub(crate) fn off() -> SharedCache {
        SharedCache {
            options: CacheOptions::default(),
            registry: ClientOptions::default(),
            hits: Mutex::new(BTreeMap::new()),
            misses: Mutex::new(BTreeSet::new()),
            writable: false,
            unreachable: Mutex::new(BTreeSet::new()),
            warnings: Mutex::new(Vec::new()),
        }
    }

    /// Looks up every one of `keys` in every cache repository, in parallel
    /// (on the current pool). A repository that fails is a warning, or with
    /// `--cache-required` the error returned.
    pub(crate) fn look_up(
        options: &CacheOptions,
        registry: &ClientOptions,
        keys: &BTreeSet<Digest>,
    ) -> Result<SharedCache, CacheError> {
        let cache = SharedCache { options: options.clone(), registry: registry.clone(), ..SharedCache::off() };
        let (mut hits, mut misses, mut writable) = (BTreeMap::new(), BTreeSet::new(), false);
        for (index, repository) in options.repositories().enumerate() {
            let wanted: Vec<&Digest> = keys.iter().filter(|k| !hits.contains_key(*k)).collect();
            let found = match look_up_in(repository, registry, &wanted) {
                Ok(found) => found,
                Err(error) if options.required => return Err(error),
                Err(error) => {
                    cache.warn(format!("{error}; building without it"));
                    lock(&cache.unreachable).insert(repository.to_string());
                    continue;
                }
            };
            for (key, lookup) in found {
                match lookup {
                    Lookup::Found(layer) => {
                        hits.insert(key.clone(), Hit { repository: repository.clone(), layer });
                    }
                    Lookup::Absent if index == 0 && options.write.is_some() => {
                        misses.insert(key.clone());
                    }
                    Lookup::Absent => {}
                    Lookup::Unusable(why) => {
                        cache.warn(format!("docker://{repository}: entry for {key} unusable: {why}"))
                    }
                }
            }
            writable |= index == 0 && options.write.is_some();
        }
        misses.retain(|key| !hits.contains_key(key));
        Ok(SharedCache { hits: Mutex::new(hits), misses: Mutex::new(misses), writable, ..cache })
    }

    /// Looks up one key once the build knows it (a layer whose plugin read
    /// the layers below is keyed only then), in each repository in turn. A
    /// repository that fails is a warning (once), even with
    /// `--cache-required`: the build is under way; it is not asked again.
    pub(crate) fn look_up_late(&self, key: &Digest) {
        if !self.options.is_set() || self.hit(key).is_some() {
            return;
        }
        for (index, repository) in self.options.repositories().enumerate() {
            if lock(&self.unreachable).contains(&repository.to_string()) {
                continue;
            }
            match look_up_in(repository, &self.registry, &[key]) {
                Ok(found) => match found.into_iter().next().map(|(_, lookup)| lookup) {
                    Some(Lookup::Found(layer)) => {
                        let hit = Hit { repository: repository.clone(), layer };
                        lock(&self.hits).insert(key.clone(), hit);
                        lock(&self.misses).remove(key);
                        return;
                    }
                    Some(Lookup::Absent) if index == 0 && self.writable => {
                        lock(&self.misses).insert(key.clone());
                    }
                    Some(Lookup::Unusable(why)) => {
                        self.warn(format!("docker://{repository}: entry for {key} unusable: {why}"));
                    }
                    Some(Lookup::Absent) | None => {}
                },
                Err(error) => {
                    // Said once: the other layers keyed late skip it.
                    if lock(&self.unreachable).insert(repository.to_string()) {
                        self.warn(format!("{error}; building without it"));
                    }
                }
            }
        }
    }

    pub(crate) fn hit(&self, key: &Digest) -> Option<Hit> {
        lock(&self.hits).get(key).cloned()
    }

    /// Whether `key` was looked up and not found (in the writable cache).
    pub(crate) fn missed(&self, key: &Digest) -> bool {
        lock(&self.misses).contains(key)
    }

    pub(crate) fn warn(&self, message: String) {
        lock(&self.warnings).push(message);
    }

    pub(crate) fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.warnings))
    }

    /// Fetches the layer of `hit` into the store, checked against its
    /// digest, size and diff_id, and files it in the local layer cache
    /// under `keys`. A blob already in the store is checked, not fetched.
    pub(crate) fn fetch(&self, hit: &Hit, keys: &[&Digest], store: &Store) -> Result<BuiltLayer, CacheError> {
        let layer = &hit.layer;
        let fail = |message: String| CacheError {
            reference: hit.repository.to_string(),
            source: RegistryError::new(&format!("{}@{}", hit.repository.repo_name(), layer.digest), message),
        };
        if !store.has_blob(&layer.digest) {
            let client = self
                .registry
                .client(&hit.repository)
                .map_err(|source| CacheError { reference: hit.repository.to_string(), source })?;
            let body = client
                .get_blob(&hit.repository.repository, &layer.digest, layer.size)
                .map_err(|source| CacheError { reference: hit.repository.to_string(), source })?;
            // The diff_id checked while the bytes arrive: the blob is read once.
            let mut writer = store.blob_writer().map_err(|e| fail(e.to_string()))?;
            let (copied, found) =
                diff_id::copy_decoding(&mut body.take(layer.size.saturating_add(1)), &mut writer, layer.media_type);
            copied.map_err(|e| fail(format!("cannot download: {e}")))?;
            writer
                .complete_if(|digest, size| {
                    if *digest != layer.digest || size != layer.size {
                        return Err(Refusal::Sent(format!(
                            "refused: the registry sent {size} bytes with digest {digest}"
                        )));
                    }
                    diff_id::verdict(found, &layer.diff_id).map_err(|why| Refusal::Sent(refused(&why)))
                })
                .map_err(|refusal| match refusal {
                    Refusal::Sent(message) => fail(message),
                    Refusal::Store(e) => fail(e.to_string()),
                })?;
            store.mark_verified(&layer.digest, &layer.diff_id).map_err(|e| fail(e.to_string()))?;
        } else if !store.is_verified(&layer.digest, &layer.diff_id) {
            let file = std::fs::File::open(store.blob_path(&layer.digest)).map_err(|e| fail(e.to_string()))?;
            let found = diff_id::uncompressed_digest(layer.media_type, io::BufReader::new(file));
            diff_id::verdict(found, &layer.diff_id).map_err(|why| fail(refused(&why)))?;
            store.mark_verified(&layer.digest, &layer.diff_id).map_err(|e| fail(e.to_string()))?;
        }
        let _ = store.record_origin(&layer.digest, &hit.repository.registry, &hit.repository.repository);
        if let (Some(stamp), Some(key)) = (store.blob_stamp(&layer.digest), keys.first()) {
            let entry = CachedLayer {
                key: key.to_string(),
                digest: layer.digest.to_string(),
                size: layer.size,
                diff_id: layer.diff_id.to_string(),
                media_type: layer.media_type.to_owned(),
                stamp,
                entries: None,
            };
            for key in keys {
                store.put_cached_layer(key, &entry).map_err(|e| fail(e.to_string()))?;
            }
        }
        Ok(layer.clone())
    }

    /// Records that the layer of `hit` is in its repository, for a push to
    /// the same registry to mount it: its bytes are never fetched.
    pub(crate) fn mount_later(&self, hit: &Hit, store: &Store) -> BuiltLayer {
        let (registry, repository) = (&hit.repository.registry, &hit.repository.repository);
        if let Err(e) = store.record_origin(&hit.layer.digest, registry, repository) {
            self.warn(format!("cannot record where {} is: {e}", hit.layer.digest));
        }
        hit.layer.clone()
    }

    /// Publishes the `built` layers (by content key) that the writable cache
    /// missed, in parallel (on the current pool); every failure a warning.
    /// Returns how many entries were written.
    pub(crate) fn publish(&self, built: &BTreeMap<Digest, BuiltLayer>, store: &Store) -> usize {
        let Some(repository) = self.options.write.as_ref().filter(|_| self.writable) else { return 0 };
        let todo: Vec<(&Digest, &BuiltLayer)> =
            built.iter().filter(|(key, layer)| self.missed(key) && store.has_blob(&layer.digest)).collect();
        if todo.is_empty() {
            return 0;
        }
        let client = match self.registry.client(repository) {
            Ok(client) => client,
            Err(source) => {
                let error = CacheError { reference: repository.to_string(), source };
                self.warn(format!("{error}; no entry written"));
                return 0;
            }
        };
        let written: Vec<bool> = todo
            .par_iter()
            .map(|(key, layer)| match publish_one(&client, repository, key, layer, store) {
                Ok(()) => true,
                Err(source) => {
                    let error = CacheError { reference: repository.to_string(), source };
                    self.warn(format!("{error}; entry for {key} not written"));
                    false
                }
            })
            .collect();
        written.into_iter().filter(|&w| w).count()
    }
}

/// The data behind `mutex`, also after a panic elsewhere (each update
/// leaves it whole).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Why a fetched blob is not kept.
enum Refusal {
    Store(StoreError),
    /// Not the blob the entry names.
    Sent(String),
}

impl From<StoreError> for Refusal {
    fn from(error: StoreError) -> Refusal {
        Refusal::Store(error)
    }
}

/// The tag of the entry of `key`.
pub(crate) fn entry_tag(key: &Digest) -> String {
    format!("layer-{}", key.hex())
}

/// What a repository says of one key.
#[derive(Debug)]
enum Lookup {
    Found(BuiltLayer),
    /// No entry (404).
    Absent,
    /// An entry that cannot be used: a warning, never an error.
    Unusable(Unusable),
}

/// Why an entry cannot be used.
#[derive(Debug, thiserror::Error)]
enum Unusable {
    #[error("not a compose-img cache entry")]
    NotAnEntry,
    #[error(transparent)]
    Manifest(#[from] manifest::ManifestError),
    #[error("its JSON has {0} bytes")]
    JsonTooLarge(u64),
    #[error("its JSON does not match its digest {0}")]
    JsonDigest(Digest),
    #[error("its JSON is not an entry")]
    NotJson,
    #[error("it is for key {key} (format {version}/{layer_format})")]
    OtherKey { key: String, version: u32, layer_format: u32 },
    #[error("its layer has media type {0}")]
    MediaType(String),
    #[error("its diff_id is not a digest")]
    DiffId,
}

/// Looks up `keys` in `repository`, what it says of each. Connecting or a
/// failed lookup is an error.
fn look_up_in<'k>(
    repository: &Reference,
    registry: &ClientOptions,
    keys: &[&'k Digest],
) -> Result<Vec<(&'k Digest, Lookup)>, CacheError> {
    let error = |source| CacheError { reference: repository.to_string(), source };
    let client = registry.client(repository).map_err(error)?;
    let results: Vec<Result<(&Digest, Lookup), RegistryError>> =
        keys.par_iter().map(|&key| Ok((key, look_up_one(&client, &repository.repository, key)?))).collect();
    results.into_iter().collect::<Result<_, _>>().map_err(error)
}

/// The entry of `key` in `repo`: absent on 404; an entry that is not ours
/// or not for this key is unusable, never an error.
fn look_up_one(client: &Client, repo: &str, key: &Digest) -> Result<Lookup, RegistryError> {
    let (bytes, media_type) = match client.get_manifest(repo, &entry_tag(key)) {
        Ok(found) => found,
        Err(e) if e.not_found => return Ok(Lookup::Absent),
        Err(e) => return Err(e),
    };
    Ok(match read_entry(client, repo, key, &bytes, &media_type)? {
        Ok(layer) => Lookup::Found(layer),
        Err(unusable) => Lookup::Unusable(unusable),
    })
}

/// The layer of the entry of `key` whose manifest is `bytes`, or why it
/// cannot be used; reading its JSON may fail.
fn read_entry(
    client: &Client,
    repo: &str,
    key: &Digest,
    bytes: &[u8],
    media_type: &str,
) -> Result<Result<BuiltLayer, Unusable>, RegistryError> {
    let declared = (!media_type.is_empty()).then_some(media_type);
    let (config, layer) = match manifest::parse(bytes, declared) {
        Ok((_, Parsed::Manifest { config, layers })) if config.media_type == ENTRY_TYPE && layers.len() == 1 => {
            (config, layers.into_iter().next().unwrap_or_else(|| unreachable!("one layer")))
        }
        Ok(_) => return Ok(Err(Unusable::NotAnEntry)),
        Err(e) => return Ok(Err(e.into())),
    };
    if config.size > MAX_ENTRY_JSON {
        return Ok(Err(Unusable::JsonTooLarge(config.size)));
    }
    let mut json = Vec::new();
    client
        .get_blob(repo, &config.digest, config.size)?
        .take(MAX_ENTRY_JSON + 1)
        .read_to_end(&mut json)
        .map_err(|e| RegistryError::new(&format!("{repo}@{}", config.digest), format!("cannot read the entry: {e}")))?;
    if Digest::of(&json) != config.digest {
        return Ok(Err(Unusable::JsonDigest(config.digest)));
    }
    let Ok(entry) = serde_json::from_slice::<EntryJson>(&json) else {
        return Ok(Err(Unusable::NotJson));
    };
    if entry.version != ENTRY_VERSION || entry.layer_format != LAYER_FORMAT || entry.key != key.as_str() {
        let EntryJson { key, version, layer_format, .. } = entry;
        return Ok(Err(Unusable::OtherKey { key, version, layer_format }));
    }
    let media_type = match layer.media_type.as_str() {
        media::LAYER_ZSTD => media::LAYER_ZSTD,
        media::LAYER_GZIP => media::LAYER_GZIP,
        media::LAYER_TAR => media::LAYER_TAR,
        other => return Ok(Err(Unusable::MediaType(other.to_owned()))),
    };
    let Ok(diff_id) = Digest::parse(&entry.diff_id) else { return Ok(Err(Unusable::DiffId)) };
    Ok(Ok(BuiltLayer {
        reused: true,
        name: String::new(),
        digest: layer.digest,
        size: layer.size,
        diff_id,
        media_type,
    }))
}

/// Writes the entry of `key` for `layer` (whose blob is in the store): the
/// layer blob (skipped when there, mounted when seen in another repository
/// of the registry), the JSON, then the manifest under the key's tag. The
/// bytes are a function of the key and the layer alone, so writers of the
/// same key at once write the same documents.
fn publish_one(
    client: &Arc<Client>,
    repository: &Reference,
    key: &Digest,
    layer: &BuiltLayer,
    store: &Store,
) -> Result<(), RegistryError> {
    let repo = repository.repository.as_str();
    let target = repository.to_string();
    let json = serde_json::to_vec(&EntryJson {
        version: ENTRY_VERSION,
        layer_format: LAYER_FORMAT,
        key: key.to_string(),
        diff_id: layer.diff_id.to_string(),
    })
    .map_err(|e| RegistryError::new(&target, e.to_string()))?;
    let json_digest = Digest::of(&json);
    if !client.blob_exists(repo, &layer.digest)? {
        let seen = store.origins(&layer.digest);
        let mut from = seen.iter().filter(|o| o.registry == repository.registry && o.repository != repo);
        let mounted = from.any(|o| matches!(client.mount_blob(repo, &o.repository, &layer.digest), Ok(true)));
        if !mounted {
            client.upload_blob(repo, &layer.digest, &store.blob_path(&layer.digest), layer.size)?;
        }
    }
    let _ = store.record_origin(&layer.digest, &repository.registry, repo);
    if !client.blob_exists(repo, &json_digest)? {
        let file = store.write_blob(&json).map_err(|e| RegistryError::new(&target, e.to_string()))?;
        client.upload_blob(repo, &json_digest, &store.blob_path(&file.digest), file.size)?;
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::MANIFEST,
        "artifactType": ENTRY_TYPE,
        "config": { "mediaType": ENTRY_TYPE, "digest": json_digest.as_str(), "size": json.len() },
        "layers": [{ "mediaType": layer.media_type, "digest": layer.digest.as_str(), "size": layer.size }],
    });
    let bytes = serde_json::to_vec(&manifest).map_err(|e| RegistryError::new(&target, e.to_string()))?;
    client.put_manifest(repo, &entry_tag(key), media::MANIFEST, &bytes)
}

/// Why a fetched layer is refused, as a warning says it.
fn refused(why: &NotTheLayer) -> String {
    match why {
        NotTheLayer::OtherDiffId { actual, diff_id } => {
            format!("refused: it uncompresses to {actual}, not to the diff_id {diff_id}")
        }
        other => format!("refused: {other}"),
    }
}
