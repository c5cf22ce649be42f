//! The merged file system below a layer, as the `*_lower` functions of
//! `ctx` see it: the layers below (the parent's, then the recipe's earlier
//! ones) merged once by [`crate::oci::layerfs`] into a sorted index of
//! metadata. Paths resolve like a process inside the image resolves them:
//! symlinks in the middle of a path are followed (an absolute target from
//! the image's root), at most [`MAX_SYMLINKS`] of them, and never out of the
//! root. A read takes the file's bytes at its offset in its layer's tar: an
//! uncompressed layer is read in place, a compressed one is decompressed
//! once, on its first read, into an unnamed temporary file beside its blob.
//!
//! A plugin of a layer sees what the entries above it in its own layer
//! wrote laid over the layers below ([`LowerFs::with_pending`]): the
//! pending entries are one more layer of the index, whose files are read
//! from the recipe's inline content or the host file a `copy` names.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use thiserror::Error;

use crate::digest::Digest;
use crate::oci::layerfs::{self, Change, Entry, Kind, MAX_SYMLINKS, Merged};

/// What a plugin cannot have from the layers below. The cause is part of
/// the message (a script sees one line).
#[derive(Debug, Error)]
pub(crate) enum LowerError {
    #[error("cannot read lower layer {}: {error}", layer.display())]
    Layer { layer: PathBuf, error: io::Error },
    #[error("/{0} is not a directory in the layers below")]
    NotADirectory(String),
    #[error("/{0} does not exist in the layers below")]
    Missing(String),
    #[error("/{0} is not a regular file in the layers below")]
    NotAFile(String),
    #[error("/{0} is not a symlink in the layers below")]
    NotASymlink(String),
    #[error("/{0}: more than {MAX_SYMLINKS} symlinks in the layers below (a loop?)", MAX_SYMLINKS = MAX_SYMLINKS)]
    Loop(String),
    #[error("/{path} is {size} bytes, over the {limit}-byte limit of {what}")]
    TooLarge { path: String, size: u64, limit: u64, what: &'static str },
    #[error("cannot read /{path} from {}: {error}", layer.display())]
    Read { path: String, layer: PathBuf, error: io::Error },
    #[error("`{pattern}` is not a glob pattern: {error}")]
    Pattern { pattern: String, error: globset::Error },
    #[error(
        "more than {limit} paths below /{dir} match `{pattern}` (the array limit): walk a narrower directory or pattern"
    )]
    TooMany { dir: String, pattern: String, limit: usize },
}

/// An entry of the index, with its key and the layer it comes from.
type Found<'a> = (String, &'a (Entry, usize));

/// A layer blob: its file and media type.
pub(crate) struct LowerLayer {
    pub path: PathBuf,
    pub media_type: &'static str,
    /// What the image's config says the uncompressed layer hashes to.
    pub diff_id: Digest,
}

/// What `stat_lower` tells: the entry itself (a symlink is not followed),
/// a hard link as the file it names.
#[derive(Clone, Debug)]
pub(crate) struct Stat {
    pub kind: &'static str,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    /// A symlink's target; empty for anything else.
    pub target: String,
}

/// A layer's uncompressed tar, or why it could not be made.
type Opened = Result<File, Arc<io::Error>>;

pub(crate) struct LowerFs {
    layers: Arc<[LowerLayer]>,
    /// Each layer's uncompressed tar, opened on its first read (or why it
    /// could not be, for every later read).
    plain: Arc<[OnceLock<Opened>]>,
    merged: Merged,
    /// The content of the pending layer's files (index `layers.len()`), by
    /// the offset its entries record.
    pending: Vec<Pending>,
}

/// Where a file written by an earlier entry of the same layer comes from.
#[derive(Clone, Debug)]
pub(crate) enum Pending {
    Inline(Arc<[u8]>),
    Host(PathBuf),
}

/// One entry written by an earlier entry of the same layer.
#[derive(Clone, Debug)]
pub(crate) enum PendingEntry {
    /// A file, directory, symlink or hard link (path without a leading
    /// `/`); `content` for a regular file.
    Add { entry: Entry, content: Option<Pending> },
    /// The path and all below it are gone.
    Whiteout(String),
    /// What the layers below hold in this directory is gone.
    Opaque(String),
}

impl LowerFs {
    pub(crate) fn open(layers: Vec<LowerLayer>) -> Result<LowerFs, LowerError> {
        let mut merged = Merged::default();
        for (index, layer) in layers.iter().enumerate() {
            let changes = layerfs::read_layer(&layer.path, layer.media_type, false, Some(&layer.diff_id))
                .map_err(|error| LowerError::Layer { layer: layer.path.clone(), error })?;
            merged.apply(index, changes);
        }
        let plain = layers.iter().map(|_| OnceLock::new()).collect();
        Ok(LowerFs { layers: layers.into(), plain, merged, pending: Vec::new() })
    }

    /// No layers: every path is missing (`plugin test` without `--lower`).
    pub(crate) fn empty() -> LowerFs {
        LowerFs { layers: Arc::new([]), plain: Arc::new([]), merged: Merged::default(), pending: Vec::new() }
    }

    /// These layers with `entries` laid over them: what a plugin sees when
    /// earlier entries of its layer wrote them. The tars opened so far are
    /// shared; the index is copied.
    pub(crate) fn with_pending(&self, entries: Vec<PendingEntry>) -> LowerFs {
        let mut pending = Vec::new();
        let changes = entries
            .into_iter()
            .map(|entry| match entry {
                PendingEntry::Add { mut entry, content } => {
                    if let Some(content) = content {
                        entry.offset = pending.len() as u64;
                        pending.push(content);
                    }
                    Change::Add(entry)
                }
                PendingEntry::Whiteout(path) => Change::Whiteout(path),
                PendingEntry::Opaque(dir) => Change::Opaque(dir),
            })
            .collect();
        let mut merged = self.merged.clone();
        merged.apply(self.layers.len(), changes);
        LowerFs { layers: Arc::clone(&self.layers), plain: Arc::clone(&self.plain), merged, pending }
    }

    /// `path` with every symlink followed; the last component too when
    /// `follow_last`. `None` when a component does not exist.
    fn resolve(&self, path: &str, follow_last: bool) -> Result<Option<String>, LowerError> {
        let path = layerfs::normalise(path);
        match self.merged.follow_links(&path, follow_last) {
            Some(followed) => Ok(followed.exists.then_some(followed.path)),
            None => Err(LowerError::Loop(path)),
        }
    }

    /// The entry at `path` (hard links followed to their file), with its
    /// path; `Missing` when there is none. The root is `None`.
    fn entry(&self, path: &str, follow_last: bool) -> Result<Option<Found<'_>>, LowerError> {
        let Some(key) = self.resolve(path, follow_last)? else {
            return Err(LowerError::Missing(layerfs::normalise(path)));
        };
        if key.is_empty() {
            return Ok(None);
        }
        let found = self.merged.resolve(&key).ok_or_else(|| LowerError::Missing(layerfs::normalise(path)))?;
        Ok(Some((key, found)))
    }

    /// Whether `path` exists (a symlink at its end counts, followed or not).
    pub(crate) fn exists(&self, path: &str) -> Result<bool, LowerError> {
        Ok(self.resolve(path, false)?.is_some())
    }

    /// The names directly inside `dir`, sorted.
    pub(crate) fn list(&self, dir: &str) -> Result<Vec<String>, LowerError> {
        let key = self.dir_key(dir)?;
        Ok(self.merged.children(&key))
    }

    /// The key of the directory `dir` (symlinks followed).
    fn dir_key(&self, dir: &str) -> Result<String, LowerError> {
        match self.entry(dir, true)? {
            None => Ok(String::new()),
            Some((key, (entry, _))) if entry.kind == Kind::Dir => Ok(key),
            Some(_) => Err(LowerError::NotADirectory(layerfs::normalise(dir))),
        }
    }

    /// The entry at `path`, the symlink itself when it ends in one.
    pub(crate) fn stat(&self, path: &str) -> Result<Stat, LowerError> {
        let Some((_, (entry, _))) = self.entry(path, false)? else {
            return Ok(Stat { kind: "dir", mode: 0o755, uid: 0, gid: 0, size: 0, target: String::new() });
        };
        let (kind, target) = match &entry.kind {
            Kind::File | Kind::Hardlink(_) => ("file", String::new()),
            Kind::Dir => ("dir", String::new()),
            Kind::Symlink(target) => ("symlink", target.clone()),
            Kind::Device => ("device", String::new()),
            Kind::Fifo => ("fifo", String::new()),
        };
        let size = if kind == "file" { entry.size } else { 0 };
        Ok(Stat { kind, mode: entry.mode, uid: entry.uid, gid: entry.gid, size, target })
    }

    /// The entry at `path` with symlinks followed: its key and what
    /// `stat` tells of it; `None` for the root.
    pub(crate) fn stat_followed(&self, path: &str) -> Result<Option<(String, Stat)>, LowerError> {
        match self.resolve(path, true)? {
            None => Err(LowerError::Missing(layerfs::normalise(path))),
            Some(key) if key.is_empty() => Ok(None),
            Some(key) => Ok(Some((key.clone(), self.stat(&key)?))),
        }
    }

    /// The target of the symlink at `path`, as written.
    pub(crate) fn readlink(&self, path: &str) -> Result<String, LowerError> {
        match self.entry(path, false)? {
            Some((_, (Entry { kind: Kind::Symlink(target), .. }, _))) => Ok(target.clone()),
            _ => Err(LowerError::NotASymlink(layerfs::normalise(path))),
        }
    }

    /// The paths (absolute, under `dir` as named, sorted) strictly inside `dir` whose path
    /// relative to `dir` matches the glob `pattern` (`*` stays inside one
    /// component, `**` crosses them; `""` matches everything). Symlinks
    /// inside are listed, not followed.
    pub(crate) fn walk(&self, dir: &str, pattern: &str, limit: usize) -> Result<Vec<String>, LowerError> {
        let key = self.dir_key(dir)?;
        let glob = glob(if pattern.is_empty() { "**" } else { pattern })?;
        let prefix = if key.is_empty() { String::new() } else { format!("{key}/") };
        let named = layerfs::normalise(dir);
        let shown = if named.is_empty() { "/".to_owned() } else { format!("/{named}/") };
        let mut found = Vec::new();
        for (path, _) in self.merged.entries.range(prefix.clone()..).take_while(|(p, _)| p.starts_with(&prefix)) {
            if glob.is_match(&path[prefix.len()..]) {
                if found.len() == limit {
                    return Err(LowerError::TooMany { dir: key, pattern: pattern.to_owned(), limit });
                }
                found.push(format!("{shown}{}", &path[prefix.len()..]));
            }
        }
        Ok(found)
    }

    /// The regular file at `path` (symlinks and hard links followed): its
    /// key and entry.
    pub(crate) fn file(&self, path: &str) -> Result<Found<'_>, LowerError> {
        match self.entry(path, true)? {
            Some((key, found)) if found.0.kind == Kind::File => Ok((key, found)),
            _ => Err(LowerError::NotAFile(layerfs::normalise(path))),
        }
    }

    /// The content of the regular file at `path`, of at most `limit` bytes.
    pub(crate) fn read(&self, path: &str, limit: u64, what: &'static str) -> Result<Vec<u8>, LowerError> {
        let (key, (entry, layer)) = self.file(path)?;
        if entry.size > limit {
            return Err(LowerError::TooLarge { path: key, size: entry.size, limit, what });
        }
        let mut bytes = vec![0; usize::try_from(entry.size).unwrap_or(usize::MAX)];
        let read = match self.pending_content(*layer, entry) {
            Some(Pending::Inline(content)) => {
                bytes = content.to_vec();
                Ok(())
            }
            Some(Pending::Host(host)) => File::open(host).and_then(|file| file.read_exact_at(&mut bytes, 0)),
            None => self.plain(*layer).and_then(|file| file.read_exact_at(&mut bytes, entry.offset)),
        };
        read.map_err(|error| LowerError::Read { path: key, layer: self.source(*layer, entry), error })?;
        Ok(bytes)
    }

    /// The content of a file of the pending layer; `None` for a layer below.
    fn pending_content(&self, layer: usize, entry: &Entry) -> Option<&Pending> {
        if layer < self.layers.len() {
            return None;
        }
        usize::try_from(entry.offset).ok().and_then(|at| self.pending.get(at))
    }

    /// What an error reading `entry` of `layer` names: the layer's blob, or
    /// the host file of a pending copy.
    fn source(&self, layer: usize, entry: &Entry) -> PathBuf {
        match self.pending_content(layer, entry) {
            Some(Pending::Host(host)) => host.clone(),
            Some(Pending::Inline(_)) => PathBuf::from("the recipe"),
            None => self.layers[layer].path.clone(),
        }
    }

    /// The SHA-256 of the regular file at `path`, read in pieces.
    pub(crate) fn sha256(&self, path: &str) -> Result<Digest, LowerError> {
        let (key, (entry, layer)) = self.file(path)?;
        let read = || -> io::Result<Digest> {
            let (digest, size) = match self.pending_content(*layer, entry) {
                Some(Pending::Inline(content)) => Digest::of_reader(&content[..])?,
                Some(Pending::Host(host)) => Digest::of_reader(io::Read::take(File::open(host)?, entry.size))?,
                None => {
                    let reader = PositionedReader { file: self.plain(*layer)?, at: entry.offset };
                    Digest::of_reader(io::Read::take(reader, entry.size))?
                }
            };
            if size == entry.size { Ok(digest) } else { Err(io::ErrorKind::UnexpectedEof.into()) }
        };
        read().map_err(|error| LowerError::Read { path: key, layer: self.source(*layer, entry), error })
    }

    /// Layer `index`'s uncompressed tar.
    fn plain(&self, index: usize) -> io::Result<&File> {
        let layer = &self.layers[index];
        let opened =
            self.plain[index].get_or_init(|| layerfs::seekable(&layer.path, layer.media_type).map_err(Arc::new));
        opened.as_ref().map_err(|e| io::Error::new(e.kind(), Arc::clone(e)))
    }
}

/// Reads a file from an offset on, without moving a shared cursor.
struct PositionedReader<'a> {
    file: &'a File,
    at: u64,
}

impl io::Read for PositionedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

/// `pattern` as a glob over image paths: `*`, `?` and `[…]` stay inside one
/// component, `**` crosses them.
pub(crate) fn glob(pattern: &str) -> Result<globset::GlobMatcher, LowerError> {
    globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|error| LowerError::Pattern { pattern: pattern.to_owned(), error })
}

#[cfg(test)]
#[path = "lower_tests.rs"]
mod tests;
