//! Reading layers back: the changes one layer makes (entries, whiteouts,
//! opaque whiteouts) and the merged file system of a stack of layers, each
//! entry tagged with the layer it comes from. Used by the `*_lower` reads
//! of plugins and by the inspection commands.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use crate::digest::ContentHash;
use crate::oci::compress::decoder;

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink(String),
    /// A hard link to another path of the image (no leading `/`).
    Hardlink(String),
    Device,
    Fifo,
}

#[derive(Clone, Debug)]
pub struct Entry {
    /// Without a leading `/`; the root itself is never an entry.
    pub path: String,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    /// Where the content starts in the uncompressed layer.
    pub offset: u64,
    /// The content's hash, when the layer was read with hashing.
    pub content: Option<ContentHash>,
}

#[derive(Clone, Debug)]
pub enum Change {
    Add(Entry),
    /// `.wh.NAME`: the path (and all below it) of the layers below is gone.
    Whiteout(String),
    /// `.wh..wh..opq` in a directory: its content of the layers below is gone.
    Opaque(String),
}

/// `/a/b/`, `./a/b`, `a/b` → `a/b`.
pub fn normalise(path: &str) -> String {
    path.trim_start_matches("./").trim_matches('/').to_owned()
}

/// Whether `path` is strictly inside `dir` (`""` is the root).
pub fn inside(path: &str, dir: &str) -> bool {
    dir.is_empty() || path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
}

/// What one layer blob holds, in archive order; with `hash`, the content
/// digest of every regular file.
pub fn read_layer(blob: &Path, media_type: &str, hash: bool) -> io::Result<Vec<Change>> {
    let mut archive = tar::Archive::new(decoder(media_type, BufReader::new(File::open(blob)?))?);
    let mut changes = Vec::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = normalise(&entry.path()?.to_string_lossy());
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
        if name == OPAQUE {
            changes.push(Change::Opaque(dir.to_owned()));
            continue;
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT) {
            changes.push(Change::Whiteout(if dir.is_empty() { hidden.to_owned() } else { format!("{dir}/{hidden}") }));
            continue;
        }
        if path.is_empty() {
            continue;
        }
        let header = entry.header();
        let link = || entry.link_name().ok().flatten().map(|l| l.to_string_lossy().into_owned()).unwrap_or_default();
        let kind = match header.entry_type() {
            t if t.is_file() => Kind::File,
            t if t.is_dir() => Kind::Dir,
            t if t.is_symlink() => Kind::Symlink(link()),
            t if t.is_hard_link() => Kind::Hardlink(normalise(&link())),
            t if t.is_fifo() => Kind::Fifo,
            t if t.is_character_special() || t.is_block_special() => Kind::Device,
            _ => continue,
        };
        let (mode, uid, gid, size) = (header.mode()?, header.uid()?, header.gid()?, header.size()?);
        let offset = entry.raw_file_position();
        let content = if hash && kind == Kind::File { Some(ContentHash::of_reader(&mut entry)?.0) } else { None };
        changes.push(Change::Add(Entry { path, kind, mode: mode & 0o7777, uid, gid, size, offset, content }));
    }
    Ok(changes)
}

/// The merged file system of layers applied in order.
#[derive(Debug, Default)]
pub struct Merged {
    /// Each path with its entry and the index of the layer it comes from.
    pub entries: BTreeMap<String, (Entry, usize)>,
}

impl Merged {
    /// Applies layer `index`: its whiteouts hide what the layers below had,
    /// then its entries replace or add.
    pub fn apply(&mut self, index: usize, changes: Vec<Change>) {
        let mut added = Vec::new();
        for change in changes {
            match change {
                Change::Opaque(dir) => self.entries.retain(|path, (_, layer)| *layer == index || !inside(path, &dir)),
                Change::Whiteout(hidden) => {
                    self.entries.retain(|path, _| *path != hidden && !inside(path, &hidden));
                }
                Change::Add(entry) => added.push(entry),
            }
        }
        for entry in added {
            if entry.kind != Kind::Dir {
                // A non-directory replaces a directory with all below it.
                let path = entry.path.clone();
                self.entries.retain(|p, _| !inside(p, &path));
            }
            self.entries.insert(entry.path.clone(), (entry, index));
        }
    }

    /// The entry at `path`, following hard links to their file.
    pub fn resolve(&self, path: &str) -> Option<&(Entry, usize)> {
        let mut path = normalise(path);
        for _ in 0..8 {
            let found = self.entries.get(&path)?;
            match &found.0.kind {
                Kind::Hardlink(target) => path = target.clone(),
                _ => return Some(found),
            }
        }
        None
    }

    /// The names directly inside `dir`, sorted.
    pub fn children(&self, dir: &str) -> Vec<String> {
        let dir = normalise(dir);
        let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
        self.entries
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter_map(|(p, _)| {
                let rest = &p[prefix.len()..];
                (!rest.is_empty() && !rest.contains('/')).then(|| rest.to_owned())
            })
            .collect()
    }
}

/// `size` bytes at `offset` of the uncompressed layer blob.
pub fn read_content(blob: &Path, media_type: &str, offset: u64, size: u64) -> io::Result<Vec<u8>> {
    let mut stream = decoder(media_type, BufReader::new(File::open(blob)?))?;
    io::copy(&mut (&mut stream).take(offset), &mut io::sink())?;
    let mut bytes = Vec::with_capacity(size.min(1 << 24) as usize);
    stream.take(size).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The size of a layer blob uncompressed.
pub fn uncompressed_size(blob: &Path, media_type: &str) -> io::Result<u64> {
    io::copy(&mut decoder(media_type, BufReader::new(File::open(blob)?))?, &mut io::sink())
}
