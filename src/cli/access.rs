//! Where the store is and how registries are reached, from flags and
//! environment.

use std::path::PathBuf;
use std::time::Duration;

use super::args::{AccessArgs, CacheArgs, RegistryArgs};
use crate::Error;
use crate::compose::CacheOptions;
use crate::oci::reference::ImageRef;
use crate::registry::Reference;
use crate::registry::{ClientOptions, Timeouts};
use crate::store::Store;

impl AccessArgs {
    /// The store named by `--store` or the environment, opened.
    pub(super) fn open_store(&self) -> Result<Store, Error> {
        Ok(Store::open(&store_dir(self.store.as_ref())?)?)
    }

    pub(super) fn registry(&self) -> ClientOptions {
        registry_options(&self.registry)
    }
}

pub(super) fn registry_options(args: &RegistryArgs) -> ClientOptions {
    ClientOptions {
        tls_verify: args.tls_verify,
        timeouts: Timeouts::with_idle(Duration::from_secs(args.timeout)),
        ..ClientOptions::default()
    }
}

pub(super) fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `--store`, else `$COMPOSE_IMG_STORE`, else `$XDG_CACHE_HOME/compose-img`,
/// else `~/.cache/compose-img`.
pub(super) fn store_dir(flag: Option<&PathBuf>) -> Result<PathBuf, Error> {
    if let Some(dir) = flag {
        return Ok(dir.clone());
    }
    if let Some(dir) = non_empty_env("COMPOSE_IMG_STORE") {
        return Ok(dir.into());
    }
    if let Some(dir) = non_empty_env("XDG_CACHE_HOME") {
        return Ok(PathBuf::from(dir).join("compose-img"));
    }
    match non_empty_env("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".cache").join("compose-img")),
        None => Err(Error::Usage("no store: set --store, $COMPOSE_IMG_STORE, $XDG_CACHE_HOME or $HOME".into())),
    }
}

/// `--cache` (else `$COMPOSE_IMG_CACHE`), `--cache-from` and
/// `--cache-required`; each a `docker://HOST/REPO` without tag or digest.
pub(super) fn cache_options(args: &CacheArgs) -> Result<CacheOptions, Error> {
    let write = match &args.cache {
        Some(text) => Some(cache_repository("--cache", text)?),
        None => {
            non_empty_env("COMPOSE_IMG_CACHE").map(|text| cache_repository("$COMPOSE_IMG_CACHE", &text)).transpose()?
        }
    };
    let read = args.cache_from.iter().map(|text| cache_repository("--cache-from", text)).collect::<Result<_, _>>()?;
    let options = CacheOptions { write, read, required: args.cache_required };
    if options.required && !options.is_set() {
        return Err(Error::Usage("--cache-required needs --cache, --cache-from or $COMPOSE_IMG_CACHE".into()));
    }
    Ok(options)
}

/// A cache repository: `docker://HOST/REPO`, no tag, no digest.
fn cache_repository(flag: &str, text: &str) -> Result<Reference, Error> {
    let shown = crate::text::escape(text);
    let usage = |why: String| Error::Usage(format!("{flag} `{shown}`: {why}"));
    if !text.starts_with("docker://") {
        return Err(usage("a shared cache is a registry repository: write docker://HOST/REPO".into()));
    }
    let rest = &text["docker://".len()..];
    let host = rest.split_once('/').map(|(host, _)| host);
    if !host.is_some_and(|h| h.contains(['.', ':']) || h == "localhost") {
        return Err(usage(
            "names no registry host: write docker://HOST/REPO (localhost:5000/cache, registry.example.com/team/cache)"
                .into(),
        ));
    }
    let reference = match ImageRef::parse_output(text) {
        Ok(ImageRef::Docker(reference)) => reference,
        Ok(_) => return Err(usage("a shared cache is a registry repository: write docker://HOST/REPO".into())),
        Err(e) => return Err(usage(e.to_string())),
    };
    if let Some(tag) = &reference.tag {
        return Err(usage(format!("a cache is a whole repository, its entries are tagged by key: drop `:{tag}`")));
    }
    if let Some(digest) = &reference.digest {
        return Err(usage(format!("a cache is a whole repository: drop `@{digest}`")));
    }
    Ok(reference)
}
