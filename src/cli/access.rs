//! Where the store is and how registries are reached, from flags and
//! environment.

use std::path::PathBuf;
use std::time::Duration;

use super::args::{AccessArgs, RegistryArgs};
use crate::Error;
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
