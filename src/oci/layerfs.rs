//! Reading layers back: the changes one layer makes (entries, whiteouts,
//! opaque whiteouts) and the merged file system of a stack of layers, each
//! entry tagged with the layer it comes from. Used by the `*_lower` reads
//! of plugins and by the inspection commands.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use crate::digest::{ContentHash, Digest, HashingReader};
use crate::oci::compress::{compressed, decoder};
use crate::oci::tar_entries::{applied, each_entry};

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";
/// aufs metadata (`.wh..wh.plnk/…`, `.wh..wh.aufs`): no applier writes it.
const AUFS_META: &str = ".wh..wh.";
/// Symlinks followed in one path before giving up (Linux's bound).
pub(crate) const MAX_SYMLINKS: usize = 40;

/// Where a path leads in a merged tree ([`Merged::follow_links`]).
pub(crate) struct Followed {
    /// The path reached, normalised.
    pub path: String,
    /// Whether every component on the way is in the tree.
    pub exists: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Dir,
    Symlink(String),
    /// A hard link to another path of the image (no leading `/`).
    Hardlink(String),
    Device,
    Fifo,
}

#[derive(Clone, Debug)]
pub(crate) struct Entry {
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
pub(crate) enum Change {
    Add(Entry),
    /// `.wh.NAME`: the path (and all below it) of the layers below is gone.
    Whiteout(String),
    /// `.wh..wh..opq` in a directory: its content of the layers below is gone.
    Opaque(String),
}

/// `/a/b/`, `./a/b`, `a//./b`, `a/b` → `a/b`; `.` and `./` (the root, as
/// umoci and GNU tar write it) → `""`.
pub(crate) fn normalise(path: &str) -> String {
    let mut normal = String::with_capacity(path.len());
    for part in path.split('/').filter(|part| !matches!(*part, "" | ".")) {
        if !normal.is_empty() {
            normal.push('/');
        }
        normal.push_str(part);
    }
    normal
}

/// Whether `path` is strictly inside `dir` (`""` is the root).
pub(crate) fn inside(path: &str, dir: &str) -> bool {
    dir.is_empty() || path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
}

/// A whiteout entry that hides no name: `.wh.`, `.wh..` or `.wh...`.
#[derive(Debug, thiserror::Error)]
#[error("malformed whiteout `{path}`: it hides no name")]
pub(crate) struct MalformedWhiteout {
    /// The entry's path in the layer.
    pub path: String,
}

/// What a layer entry named `dir/name` is when its name is a whiteout:
/// `None` for an ordinary entry, `Some(None)` for aufs metadata that
/// appliers skip (`.wh..wh.plnk` and what is inside it, `.wh..wh.aufs`),
/// else the change. A
/// whiteout that names nothing (`.wh.`), or `.` or `..`, is refused, the
/// entry named: every reader (ls, diff, unpack, plugins, commit) takes
/// whiteouts from here.
pub(crate) fn whiteout(dir: &str, name: &str) -> Result<Option<Option<Change>>, MalformedWhiteout> {
    if dir.split('/').any(|part| part.starts_with(AUFS_META)) {
        return Ok(Some(None));
    }
    if name == OPAQUE {
        return Ok(Some(Some(Change::Opaque(dir.to_owned()))));
    }
    let Some(hidden) = name.strip_prefix(WHITEOUT) else { return Ok(None) };
    if name.starts_with(AUFS_META) {
        return Ok(Some(None));
    }
    if matches!(hidden, "" | "." | "..") {
        let path = if dir.is_empty() { name.to_owned() } else { format!("{dir}/{name}") };
        return Err(MalformedWhiteout { path });
    }
    Ok(Some(Some(Change::Whiteout(if dir.is_empty() { hidden.to_owned() } else { format!("{dir}/{hidden}") }))))
}

/// What one layer blob holds, in archive order; with `hash`, the content
/// digest of every regular file.
///
/// With `diff_id`, the uncompressed layer must have that digest (the one
/// its image's config gives it): a layer that differs is refused, whatever
/// it holds.
pub(crate) fn read_layer(
    blob: &Path,
    media_type: &str,
    hash: bool,
    diff_id: Option<&Digest>,
) -> io::Result<Vec<Change>> {
    let stream = HashingReader::new(decoder(media_type, BufReader::new(File::open(blob)?))?);
    let mut changes = Vec::new();
    let stream = each_entry(
        stream,
        |e| e,
        |entry| {
            let path = normalise(&entry.path()?.to_string_lossy());
            let (dir, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
            match whiteout(dir, name).map_err(|why| io::Error::new(io::ErrorKind::InvalidData, why))? {
                Some(Some(change)) => {
                    changes.push(change);
                    return Ok(());
                }
                Some(None) => return Ok(()),
                None => {}
            }
            if path.is_empty() || !applied(entry)? {
                return Ok(());
            }
            let header = entry.header();
            let link =
                || entry.link_name().ok().flatten().map(|l| l.to_string_lossy().into_owned()).unwrap_or_default();
            let kind = match header.entry_type() {
                t if t.is_file() => Kind::File,
                t if t.is_dir() => Kind::Dir,
                t if t.is_symlink() => Kind::Symlink(link()),
                t if t.is_hard_link() => Kind::Hardlink(normalise(&link())),
                t if t.is_fifo() => Kind::Fifo,
                _ => Kind::Device,
            };
            let (mode, uid, gid, size) = (header.mode()?, header.uid()?, header.gid()?, header.size()?);
            let offset = entry.raw_file_position();
            let content = if hash && kind == Kind::File { Some(ContentHash::of_reader(&mut *entry)?.0) } else { None };
            changes.push(Change::Add(Entry { path, kind, mode: mode & 0o7777, uid, gid, size, offset, content }));
            Ok(())
        },
    )?;
    let actual = stream.finish()?;
    check_diff_id(&actual, diff_id)?;
    Ok(changes)
}

/// The merged file system of layers applied in order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Merged {
    /// Each path with its entry and the index of the layer it comes from.
    pub entries: BTreeMap<String, (Entry, usize)>,
}

impl Merged {
    /// Applies layer `index`: its whiteouts hide what the layers below had,
    /// then its entries replace or add. Each change costs O(log n) plus
    /// what it removes, so a whole image merges in O(n log n).
    pub(crate) fn apply(&mut self, index: usize, changes: Vec<Change>) {
        let mut added = Vec::new();
        for change in changes {
            match change {
                Change::Opaque(dir) => {
                    let dir = self.followed(&dir, true).unwrap_or(dir);
                    self.remove_below(&dir, |(_, layer)| *layer != index);
                }
                Change::Whiteout(hidden) => {
                    let hidden = self.followed(&hidden, false).unwrap_or(hidden);
                    self.entries.remove(&hidden);
                    self.remove_below(&hidden, |_| true);
                }
                Change::Add(entry) => added.push(entry),
            }
        }
        let added = sorted_if_unique(added);
        if self.entries.is_empty() && added.windows(2).all(|w| w[0].path < w[1].path) && !below_a_symlink(&added) {
            // The first layer: built in one pass instead of one search per
            // entry.
            self.entries = added.into_iter().map(|entry| (entry.path.clone(), (entry, index))).collect();
            let paths: Vec<String> = self.entries.keys().cloned().collect();
            let mut known = String::new();
            for path in &paths {
                self.add_missing_parents(path, index, &mut known);
            }
            return;
        }
        // A directory known to be in the map: siblings come together, so
        // most entries find their parent without a search.
        let mut known = String::new();
        for mut entry in added {
            if let Some(path) = self.followed(&entry.path, false) {
                entry.path = path;
            }
            if let Kind::Hardlink(target) = &mut entry.kind
                && let Some(followed) = self.followed(target, false)
            {
                *target = followed;
            }
            let path = entry.path.clone();
            let replaces_dirs = entry.kind != Kind::Dir;
            self.add_missing_parents(&path, index, &mut known);
            let old = self.entries.insert(path.clone(), (entry, index));
            if replaces_dirs && old.is_some_and(|(old, _)| old.kind == Kind::Dir) {
                // A non-directory replaces a directory with all below it.
                self.remove_below(&path, |_| true);
                if known == path || inside(&known, &path) {
                    known.clear();
                }
            }
        }
    }

    /// `path` as a runtime reaches it, when that differs: each symlink
    /// among its parents (and with `last`, itself) followed, as runtimes
    /// write a layer's `lib/x` over a lower `lib -> usr/lib` into
    /// `usr/lib/x`. A path whose parent is a directory of the map is as it
    /// is: no entry is ever put below a symlink.
    fn followed(&self, path: &str, last: bool) -> Option<String> {
        let parent = path.rsplit_once('/').map_or("", |(parent, _)| parent);
        if !last && (parent.is_empty() || self.entries.get(parent).is_some_and(|(e, _)| e.kind == Kind::Dir)) {
            return None;
        }
        let reached = self.follow_links(path, last)?.path;
        (reached != path).then_some(reached)
    }

    /// Where `path` leads with each symlink among its components followed
    /// inside the root (`..` stops at the root, an absolute target starts
    /// from it), the last component too when `last`; `None` past
    /// [`MAX_SYMLINKS`] links (a loop).
    pub(crate) fn follow_links(&self, path: &str, last: bool) -> Option<Followed> {
        let mut pending: Vec<String> = path.split('/').rev().map(str::to_owned).collect();
        let (mut reached, mut hops, mut exists) = (String::new(), 0, true);
        while let Some(part) = pending.pop() {
            match part.as_str() {
                "" | "." => continue,
                ".." => {
                    reached.truncate(reached.rfind('/').unwrap_or(0));
                    continue;
                }
                _ => {}
            }
            let above = reached.len();
            if !reached.is_empty() {
                reached.push('/');
            }
            reached.push_str(&part);
            match self.entries.get(&reached) {
                None => exists = false,
                Some((Entry { kind: Kind::Symlink(target), .. }, _)) if last || !pending.is_empty() => {
                    hops += 1;
                    if hops > MAX_SYMLINKS {
                        return None;
                    }
                    reached.truncate(if target.starts_with('/') { 0 } else { above });
                    pending.extend(target.split('/').rev().map(str::to_owned));
                }
                Some(_) => {}
            }
        }
        Some(Followed { path: reached, exists })
    }

    /// The directories above `path` that no layer has, as every applier
    /// creates them: 0755, owned by 0:0 (a layer stacked on others leaves
    /// out the directories it only writes into). Every entry's parent is
    /// in the map, so the walk up stops at the first one found.
    fn add_missing_parents(&mut self, path: &str, index: usize, known: &mut String) {
        let Some((parent, _)) = path.rsplit_once('/') else { return };
        if parent == known.as_str() {
            return;
        }
        let mut missing = Vec::new();
        let mut cursor = path;
        while let Some((parent, _)) = cursor.rsplit_once('/') {
            if self.entries.contains_key(parent) {
                break;
            }
            missing.push(parent.to_owned());
            cursor = parent;
        }
        parent.clone_into(known);
        for dir in missing {
            let entry = Entry {
                path: dir.clone(),
                kind: Kind::Dir,
                mode: 0o755,
                uid: 0,
                gid: 0,
                size: 0,
                offset: 0,
                content: None,
            };
            self.entries.insert(dir, (entry, index));
        }
    }

    /// Removes the entries strictly inside `dir` (`""`: the root) that
    /// `remove` picks: they are one range of the sorted map.
    fn remove_below(&mut self, dir: &str, remove: impl Fn(&(Entry, usize)) -> bool) {
        let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
        let doomed: Vec<String> = self
            .entries
            .range::<str, _>((std::ops::Bound::Included(prefix.as_str()), std::ops::Bound::Unbounded))
            .take_while(|(path, _)| path.starts_with(&prefix))
            .filter(|(_, value)| remove(value))
            .map(|(path, _)| path.clone())
            .collect();
        for path in doomed {
            self.entries.remove(&path);
        }
    }

    /// The entry at `path`, following hard links to their file.
    pub(crate) fn resolve(&self, path: &str) -> Option<&(Entry, usize)> {
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
    pub(crate) fn children(&self, dir: &str) -> Vec<String> {
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

/// Whether an entry (or a hard link's target) of one layer is below a
/// symlink of the same layer.
fn below_a_symlink(added: &[Entry]) -> bool {
    let links: std::collections::BTreeSet<&str> =
        added.iter().filter(|e| matches!(e.kind, Kind::Symlink(_))).map(|e| e.path.as_str()).collect();
    let below = |path: &str| path.match_indices('/').any(|(at, _)| links.contains(&path[..at]));
    !links.is_empty()
        && added.iter().any(|e| below(&e.path) || matches!(&e.kind, Kind::Hardlink(target) if below(target)))
}

/// A layer's added entries sorted by path when no path comes twice: then
/// their order changes nothing (but for a layer that puts entries below
/// one of its own files, which no applier can apply), and sorted entries
/// go into the map in one pass, each finding its parent at once. With a
/// path twice, archive order decides which one stays: kept as it is.
fn sorted_if_unique(added: Vec<Entry>) -> Vec<Entry> {
    let mut order: Vec<usize> = (0..added.len()).collect();
    order.sort_by(|&a, &b| added[a].path.cmp(&added[b].path));
    if order.windows(2).any(|w| added[w[0]].path == added[w[1]].path) {
        return added;
    }
    let mut slots: Vec<Option<Entry>> = added.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// The uncompressed tar of a layer blob as a file that can be read at any
/// offset: an uncompressed blob itself, else its content decompressed once
/// into an unnamed temporary file beside the blob (gone when dropped).
pub(crate) fn seekable(blob: &Path, media_type: &str) -> io::Result<File> {
    if compressed(media_type) {
        let dir = blob.parent().unwrap_or(Path::new("."));
        let mut plain = tempfile::tempfile_in(dir)?;
        io::copy(&mut decoder(media_type, BufReader::new(File::open(blob)?))?, &mut plain)?;
        Ok(plain)
    } else {
        File::open(blob)
    }
}

/// `size` bytes at `offset` of the uncompressed layer blob.
pub(crate) fn read_content(blob: &Path, media_type: &str, offset: u64, size: u64) -> io::Result<Vec<u8>> {
    let mut stream = decoder(media_type, BufReader::new(File::open(blob)?))?;
    io::copy(&mut (&mut stream).take(offset), &mut io::sink())?;
    let mut bytes = Vec::with_capacity(size.min(1 << 24) as usize);
    stream.take(size).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// An error unless a layer whose content hashes to `actual` has the
/// `expected` diff_id (when one is given).
fn check_diff_id(actual: &Digest, expected: Option<&Digest>) -> io::Result<()> {
    match expected {
        Some(expected) if actual != expected => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("its content has diff_id {actual}, not {expected} as the image's config says"),
        )),
        _ => Ok(()),
    }
}

/// The size of a layer blob uncompressed; with `diff_id`, the layer must
/// have it (as in [`read_layer`]).
pub(crate) fn uncompressed_size(blob: &Path, media_type: &str, diff_id: Option<&Digest>) -> io::Result<u64> {
    let mut stream = HashingReader::new(decoder(media_type, BufReader::new(File::open(blob)?))?);
    let size = io::copy(&mut stream, &mut io::sink())?;
    let actual = stream.finish()?;
    check_diff_id(&actual, diff_id)?;
    Ok(size)
}

#[cfg(test)]
mod merge_rules {
    use super::*;

    fn entry(path: &str, kind: Kind) -> Change {
        Change::Add(Entry { path: path.into(), kind, mode: 0o644, uid: 0, gid: 0, size: 0, offset: 0, content: None })
    }

    #[test]
    fn directories_no_layer_has_are_made_as_appliers_make_them() {
        let mut merged = Merged::default();
        merged.apply(0, vec![entry("tmp", Kind::Dir)]);
        merged.apply(1, vec![entry("tmp/x", Kind::File), entry("usr/share/doc/f", Kind::File)]);
        let dirs: Vec<(&str, u32, usize)> = merged
            .entries
            .iter()
            .filter(|(_, (e, _))| e.kind == Kind::Dir)
            .map(|(p, (e, layer))| (p.as_str(), e.mode, *layer))
            .collect();
        assert_eq!(dirs, [("tmp", 0o644, 0), ("usr", 0o755, 1), ("usr/share", 0o755, 1), ("usr/share/doc", 0o755, 1)]);
        assert_eq!(merged.children("usr/share"), ["doc"]);
    }

    #[test]
    fn malformed_whiteouts_are_refused_and_aufs_metadata_skipped() {
        for (dir, name) in [("", ".wh."), ("a", ".wh."), ("a", ".wh.."), ("", ".wh..")] {
            let error = whiteout(dir, name).unwrap_err().to_string();
            assert!(error.contains("malformed whiteout") && error.contains(name), "{error}");
        }
        assert!(matches!(whiteout("", ".wh..wh.plnk"), Ok(Some(None))));
        assert!(matches!(whiteout("a", ".wh..wh..opq"), Ok(Some(Some(Change::Opaque(d)))) if d == "a"));
        assert!(matches!(whiteout("a", ".wh.b"), Ok(Some(Some(Change::Whiteout(p)))) if p == "a/b"));
        assert!(matches!(whiteout("a", "b.wh.c"), Ok(None)));
    }

    #[test]
    fn whiteouts_and_replacements_remove_exactly_the_subtree() {
        let mut merged = Merged::default();
        let below = ["a", "a/b", "a/b/c", "a-b", "a0", "ab", "z"];
        merged.apply(0, below.iter().map(|p| entry(p, if p.len() < 4 { Kind::Dir } else { Kind::File })).collect());
        merged.apply(1, vec![Change::Whiteout("a/b".into()), entry("a/x", Kind::File)]);
        let paths: Vec<&str> = merged.entries.keys().map(String::as_str).collect();
        assert_eq!(paths, ["a", "a-b", "a/x", "a0", "ab", "z"]);
        merged.apply(2, vec![Change::Opaque("a".into()), entry("a/y", Kind::File)]);
        let paths: Vec<&str> = merged.entries.keys().map(String::as_str).collect();
        assert_eq!(paths, ["a", "a-b", "a/y", "a0", "ab", "z"]);
        merged.apply(3, vec![entry("a", Kind::File)]);
        let paths: Vec<&str> = merged.entries.keys().map(String::as_str).collect();
        assert_eq!(paths, ["a", "a-b", "a0", "ab", "z"]);
    }

    fn link(path: &str, target: &str) -> Change {
        entry(path, Kind::Symlink(target.into()))
    }

    fn paths(merged: &Merged) -> Vec<&str> {
        merged.entries.keys().map(String::as_str).collect()
    }

    #[test]
    fn paths_below_a_symlink_land_where_it_points_as_runtimes_apply_them() {
        let mut merged = Merged::default();
        merged.apply(
            0,
            vec![
                entry("usr/lib/a", Kind::File),
                entry("usr/lib/gone", Kind::File),
                link("lib", "usr/lib"),
                link("abs", "/usr/./lib"),
                link("up", "../../usr"),
                link("loop", "loop/x"),
                entry("lib/same-layer", Kind::File),
            ],
        );
        assert_eq!(
            paths(&merged),
            ["abs", "lib", "loop", "up", "usr", "usr/lib", "usr/lib/a", "usr/lib/gone", "usr/lib/same-layer"]
        );
        merged.apply(
            1,
            vec![
                Change::Whiteout("abs/gone".into()),
                entry("lib/b", Kind::File),
                entry("abs/c/d", Kind::File),
                entry("up/lib/e", Kind::Hardlink("lib/b".into())),
                entry("loop/f", Kind::File),
            ],
        );
        assert_eq!(merged.entries["usr/lib/e"].0.kind, Kind::Hardlink("usr/lib/b".into()));
        assert_eq!(
            paths(&merged),
            [
                "abs",
                "lib",
                "loop",
                "loop/f",
                "up",
                "usr",
                "usr/lib",
                "usr/lib/a",
                "usr/lib/b",
                "usr/lib/c",
                "usr/lib/c/d",
                "usr/lib/e",
                "usr/lib/same-layer"
            ]
        );
        merged.apply(2, vec![Change::Opaque("lib".into()), entry("lib/z", Kind::File)]);
        assert_eq!(paths(&merged), ["abs", "lib", "loop", "loop/f", "up", "usr", "usr/lib", "usr/lib/z"]);
    }

    /// 90,000 entries over three layers with whiteouts: quadratic merging
    /// (one pass over the map per entry) would not end in any test run.
    #[test]
    fn a_large_image_merges_in_n_log_n() {
        let mut merged = Merged::default();
        let files = |layer: usize| (0..30_000).map(move |i| entry(&format!("d{}/f{layer}-{i}", i % 100), Kind::File));
        merged.apply(0, (0..100).map(|d| entry(&format!("d{d}"), Kind::Dir)).chain(files(0)).collect());
        merged.apply(1, files(1).chain((0..50).map(|d| Change::Whiteout(format!("d{d}")))).collect());
        merged.apply(2, files(2).chain([Change::Opaque("d99".into())]).collect());
        // Half the directories whited out with their files, layer 1's files
        // added (their directories made again), d99 emptied of layers 0 and
        // 1, layer 2's files added.
        assert_eq!(merged.entries.len(), 50 + 15_000 + 50 + 30_000 - 600 + 30_000);
    }
}

#[cfg(test)]
#[path = "layerfs_tests.rs"]
mod tests;
