//! Lock files: the digest of every image a recipe names, so that a build
//! fetches by digest, never by a tag that may have moved (docs/lock.md).
//!
//! A recipe's lock file sits beside it (`app.toml` → `app.toml.lock`):
//! for each image reference exactly as the recipe writes it, the digest of
//! what it names (an index or a manifest) and, for each platform the
//! recipe builds, the digest of the manifest a build uses.
//!
//! - [`file`](mod@file): the text, parsed with located errors and written one way;
//! - [`Lock`]: one recipe's lock file: [`Lock::pin`] is what to fetch for a
//!   reference and platform, [`Lock::resolve`] fills in what the file
//!   lacks through a [`Resolver`];
//! - [`Resolver`]: every remote (or local) lookup of a run, once per
//!   reference (`transport::resolve`).
//!
//! Whoever fetches an image a recipe names goes through here: `compose`
//! pins each unit's `from.image` parent before the build runs (and
//! `--locked` refuses a reference the lock lacks, pointing at the recipe
//! entry); copying files from another image pins its source the same
//! way: `lock.missing(..)` (refuse when locked) or
//! `lock.resolve(.., &mut resolver)`, then `lock.pin(..)` and fetch
//! [`Pin::fetch`], checking the manifest against [`Pin::manifest`].

mod error;
pub(crate) mod file;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) use error::LockError;

use crate::digest::Digest;
use crate::oci::platform::Platform;
use crate::oci::reference::ImageRef;
use crate::recipe::SourceFile;
use crate::registry::ClientOptions;
use crate::store::Store;
use crate::transport::resolve::{Resolved, resolve};

/// The largest lock file read, in bytes.
pub(crate) const MAX_LOCK: u64 = 16 << 20;

/// What a lock file records for one reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Locked {
    /// The document the reference named: an index or a manifest.
    pub digest: Digest,
    /// By platform: the manifest a build for it uses.
    pub platforms: BTreeMap<Platform, Digest>,
}

impl From<Resolved> for Locked {
    fn from(resolved: Resolved) -> Locked {
        Locked { digest: resolved.digest, platforms: resolved.platforms }
    }
}

/// What to fetch for a locked reference and platform.
#[derive(Clone, Debug)]
pub(crate) struct Pin {
    /// A registry reference pinned to the manifest's digest; a local
    /// reference as it is (its manifest is checked after reading).
    pub fetch: ImageRef,
    /// The manifest the image fetched must have.
    pub manifest: Digest,
    /// The lock file, for messages.
    pub lock: String,
}

/// One recipe's lock file, as read (or empty if there is none yet).
#[derive(Debug)]
pub(crate) struct Lock {
    path: PathBuf,
    /// As messages name it: the recipe as named, with `.lock`.
    pub name: String,
    entries: BTreeMap<String, Locked>,
}

impl Lock {
    /// The lock file of the recipe at `recipe` (its canonical path), named
    /// `shown` in messages; empty if there is no such file.
    pub(crate) fn beside(recipe: &Path, shown: &str) -> Result<Lock, LockError> {
        let mut path = recipe.as_os_str().to_owned();
        path.push(".lock");
        let path = PathBuf::from(path);
        let name = format!("{shown}.lock");
        let io = |action, source| LockError::Io { action, path: path.clone(), source };
        let bytes = match crate::files::read_bounded(&path, MAX_LOCK) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Lock { path, name, entries: BTreeMap::new() });
            }
            Err(e) => return Err(io("read", e)),
        };
        let text = String::from_utf8(bytes)
            .map_err(|_| io("read", std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text")))?;
        let file = Arc::new(SourceFile { name: name.clone(), text: text.into() });
        let entries = file::parse(&file).map_err(|mut errors| {
            errors.sort_by_key(|e| e.first_offset());
            LockError::Invalid { file: name.clone(), errors }
        })?;
        Ok(Lock { path, name, entries })
    }

    /// What the file records for `written`, if it is still what `reference`
    /// names: a reference pinned to a digest must be locked at that digest.
    pub(crate) fn get(&self, written: &str, reference: &ImageRef) -> Option<&Locked> {
        let locked = self.entries.get(written)?;
        match reference {
            ImageRef::Docker(r) if r.digest.as_ref().is_some_and(|d| *d != locked.digest) => None,
            _ => Some(locked),
        }
    }

    /// The platforms of `platforms` the file does not lock for `written`.
    pub(crate) fn missing(&self, written: &str, reference: &ImageRef, platforms: &[Platform]) -> Vec<Platform> {
        let locked = self.get(written, reference);
        platforms.iter().filter(|p| !locked.is_some_and(|l| l.platforms.contains_key(*p))).cloned().collect()
    }

    /// What to fetch for `written` (`reference`) on `platform`, if locked.
    pub(crate) fn pin(&self, written: &str, reference: &ImageRef, platform: &Platform) -> Option<Pin> {
        let manifest = self.get(written, reference)?.platforms.get(platform)?.clone();
        let fetch = match reference {
            ImageRef::Docker(r) => {
                ImageRef::Docker(crate::registry::Reference { digest: Some(manifest.clone()), ..r.clone() })
            }
            local => local.clone(),
        };
        Some(Pin { fetch, manifest, lock: self.name.clone() })
    }

    /// Locks what the file lacks of `written` (`reference`) on `platforms`,
    /// returning what it records now if that changed. A reference already
    /// locked keeps its digest: a registry's new platforms are looked up
    /// under it; a local image must still be what was locked.
    pub(crate) fn resolve(
        &mut self,
        written: &str,
        reference: &ImageRef,
        platforms: &[Platform],
        resolver: &mut Resolver,
    ) -> Result<Option<Locked>, LockError> {
        if self.missing(written, reference, platforms).is_empty() {
            return Ok(None);
        }
        let locked = match self.get(written, reference).cloned() {
            None => Locked::from(resolver.resolve(reference, platforms)?),
            Some(mut old) => {
                let at = match reference {
                    ImageRef::Docker(r) => {
                        ImageRef::Docker(crate::registry::Reference { digest: Some(old.digest.clone()), ..r.clone() })
                    }
                    local => local.clone(),
                };
                let now = resolver.resolve(&at, platforms)?;
                if now.digest != old.digest {
                    return Err(self.changed(written, "the image", &old.digest, &now.digest));
                }
                old.platforms.extend(now.platforms);
                old
            }
        };
        self.entries.insert(written.to_owned(), locked.clone());
        Ok(Some(locked))
    }

    /// The error for a `written` image that is no longer what is locked.
    pub(crate) fn changed(&self, written: &str, what: &str, locked: &Digest, found: &Digest) -> LockError {
        LockError::Changed {
            reference: written.to_owned(),
            lock: self.name.clone(),
            what: what.to_owned(),
            locked: locked.to_string(),
            found: found.to_string(),
        }
    }

    /// Records `locked` for `written`, returning what was recorded before.
    pub(crate) fn set(&mut self, written: &str, locked: Locked) -> Option<Locked> {
        self.entries.insert(written.to_owned(), locked)
    }

    /// Every reference recorded, as written.
    pub(crate) fn references(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Drops every reference `keep` refuses, returning them.
    pub(crate) fn retain(&mut self, keep: impl Fn(&str) -> bool) -> Vec<String> {
        let dropped: Vec<String> = self.entries.keys().filter(|r| !keep(r)).cloned().collect();
        self.entries.retain(|r, _| keep(r));
        dropped
    }

    /// The file's text.
    pub(crate) fn text(&self) -> String {
        file::render(&self.entries)
    }

    /// Writes the file (through a temporary file beside it) unless it
    /// already holds exactly this; says whether it wrote.
    pub(crate) fn save(&self) -> Result<bool, LockError> {
        let text = self.text();
        if self.entries.is_empty() && !self.path.exists() {
            return Ok(false);
        }
        if std::fs::read(&self.path).is_ok_and(|old| old == text.as_bytes()) {
            return Ok(false);
        }
        let io = |action, source| LockError::Io { action, path: self.path.clone(), source };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| io("write", e))?;
        std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(|e| io("write", e))?;
        tmp.as_file().sync_all().map_err(|e| io("write", e))?;
        tmp.persist(&self.path).map_err(|e| io("write", e.error))?;
        Ok(true)
    }
}

/// Every lookup of one run, each reference looked up once (with every
/// platform asked for so far), so that recipes naming the same reference
/// lock the same digest.
pub(crate) struct Resolver<'a> {
    store: &'a Store,
    options: &'a ClientOptions,
    seen: BTreeMap<String, Resolved>,
}

impl<'a> Resolver<'a> {
    pub(crate) fn new(store: &'a Store, options: &'a ClientOptions) -> Resolver<'a> {
        Resolver { store, options, seen: BTreeMap::new() }
    }

    /// What `reference` names now, for `platforms`.
    pub(crate) fn resolve(&mut self, reference: &ImageRef, platforms: &[Platform]) -> Result<Resolved, LockError> {
        let key = reference.to_string();
        let known = self.seen.get(&key);
        if let Some(known) = known
            && platforms.iter().all(|p| known.platforms.contains_key(p))
        {
            return Ok(only(known, platforms));
        }
        let mut all: Vec<Platform> = known.map(|k| k.platforms.keys().cloned().collect()).unwrap_or_default();
        all.extend(platforms.iter().cloned());
        all.sort();
        all.dedup();
        let resolved = resolve(reference, &all, self.store, self.options)
            .map_err(|source| LockError::Resolve { reference: key.clone(), source })?;
        let answer = only(&resolved, platforms);
        self.seen.insert(key, resolved);
        Ok(answer)
    }
}

/// `resolved` narrowed to `platforms`.
fn only(resolved: &Resolved, platforms: &[Platform]) -> Resolved {
    let platforms = resolved.platforms.iter().filter(|(p, _)| platforms.contains(p));
    Resolved { digest: resolved.digest.clone(), platforms: platforms.map(|(p, d)| (p.clone(), d.clone())).collect() }
}
