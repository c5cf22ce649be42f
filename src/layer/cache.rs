//! Layer cache keys: a digest of everything that determines a layer's
//! bytes: the format version (with the codec version), compression and
//! level, SOURCE_DATE_EPOCH, every entry of the planned tree with its
//! header fields and content hash, and the layer's plugins (source and
//! args) with, for one that reads them, the layers below. Equal keys mean
//! equal blobs.
//!
//! A layer's entry is also filed under its stat key, made from the walk
//! alone, with each host file's stat fingerprint in place of its content:
//! an unchanged rebuild finds its layer without the input index. For a
//! layer without plugins it is [`walk_key`], taken before the layer's tree
//! is built (and so that an unchanged rebuild never builds it); for one
//! whose plugins ran while planning, [`stat_key`] of the planned tree.

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, SystemTime};

use super::{BuildSettings, Compression};
use crate::digest::{ContentHash, Digest, HashingWriter};
use crate::plan::WalkedLayer;
use crate::plan::copy::Walked;
use crate::plan::tree::{FileSource, NodeKind, Tree};
use crate::plan::walk::HostStat;
use crate::recipe::{Copy, EntryKind, ImagePath, Owner};
use crate::store::fingerprint::Fingerprint;

/// Bumped whenever the tar writer, JSON or codec settings change bytes.
pub(crate) const LAYER_FORMAT: u32 = 4;

/// How long after a change a file's fingerprint is trusted for a stat key:
/// within it, a later write could keep the same timestamps (coarse file
/// system clocks), as git's "racily clean" entries.
const RACY: Duration = Duration::from_secs(2);

/// The key of a layer of `tree`; `salt` holds what else determines it
/// (plugins, the layers below a plugin read), one line each.
pub(crate) fn layer_key(tree: &Tree, salt: &[String], settings: &BuildSettings) -> Digest {
    layer_key_with(tree, salt, settings, &[])
}

/// [`layer_key`], with the content hashes of host files the plan did not
/// know taken from `hashed` (as the layer writer found them, by image
/// path). The key's text is hashed as it is made, never held whole.
pub(crate) fn layer_key_with(
    tree: &Tree,
    salt: &[String],
    settings: &BuildSettings,
    hashed: &[(ImagePath, ContentHash)],
) -> Digest {
    // The writer's order is the tree's: looked up by bisection.
    let mut sorted: Vec<&(ImagePath, ContentHash)> = Vec::new();
    if !hashed.is_sorted_by(|a, b| a.0 < b.0) {
        sorted = hashed.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
    }
    let written = |path: &ImagePath| {
        if sorted.is_empty() {
            hashed.binary_search_by(|(p, _)| p.cmp(path)).ok().map(|i| &hashed[i].1)
        } else {
            sorted.binary_search_by(|(p, _)| p.cmp(path)).ok().map(|i| &sorted[i].1)
        }
    };
    let mut key = KeyText { text: header("layer", settings), hasher: HashingWriter::new(std::io::sink()) };
    let mut payload = String::new();
    for (path, node) in tree.iter() {
        payload.clear();
        match &node.kind {
            NodeKind::Dir => payload.push_str("dir"),
            NodeKind::File(FileSource::Host { content, .. }) => {
                let _ = match content.as_ref().or_else(|| written(path)) {
                    Some(hash) => write!(payload, "file {hash}"),
                    None => write!(payload, "file ?"),
                };
            }
            NodeKind::File(FileSource::Inline(bytes)) => {
                let _ = write!(payload, "file {}", ContentHash::of(bytes));
            }
            NodeKind::Symlink(target) => {
                payload.push_str("symlink ");
                push_escaped(&mut payload, target.as_bytes());
            }
            NodeKind::Hardlink(target) => {
                payload.push_str("hardlink ");
                push_escaped(&mut payload, target.as_str().as_bytes());
            }
            NodeKind::Whiteout => payload.push_str("whiteout"),
            NodeKind::OpaqueWhiteout => payload.push_str("opaque"),
        }
        push_escaped(&mut key.text, path.as_str().as_bytes());
        let _ = writeln!(key.text, " {:o} {} {} {payload}", node.mode, node.owner.uid, node.owner.gid);
        key.flush_if_full();
    }
    for line in salt {
        push_escaped(&mut key.text, line.as_bytes());
        key.text.push('\n');
    }
    key.digest()
}

/// The text of a layer key, hashed a buffer at a time.
struct KeyText {
    text: String,
    hasher: HashingWriter<std::io::Sink>,
}

impl KeyText {
    const BUFFER: usize = 64 << 10;

    fn flush_if_full(&mut self) {
        if self.text.len() >= Self::BUFFER {
            let _ = self.hasher.write_all(self.text.as_bytes());
            self.text.clear();
        }
    }

    fn digest(mut self) -> Digest {
        let _ = self.hasher.write_all(self.text.as_bytes());
        self.hasher.finish().1
    }
}

/// The stat key of a layer of `tree`, whose inputs were walked after
/// `walked_since`; none if one of them changed too recently to be trusted.
pub(crate) fn stat_key(
    tree: &Tree,
    salt: &[String],
    settings: &BuildSettings,
    walked_since: SystemTime,
) -> Option<Digest> {
    let mut key = KeyBytes::new("stat", settings, walked_since)?;
    key.number(tree.len() as u64);
    for (path, node) in tree.iter() {
        key.field(path.as_str().as_bytes());
        key.numbers([node.mode, node.owner.uid, node.owner.gid].map(u64::from));
        match &node.kind {
            NodeKind::Dir => key.tag(b'd'),
            NodeKind::File(FileSource::Host { path: host, fingerprint, .. }) => {
                key.tag(b'f');
                key.field(host.as_os_str().as_bytes());
                key.fingerprint(fingerprint)?;
            }
            NodeKind::File(FileSource::Inline(bytes)) => {
                key.tag(b'i');
                key.field(bytes);
            }
            NodeKind::Symlink(target) => {
                key.tag(b's');
                key.field(target.as_bytes());
            }
            NodeKind::Hardlink(target) => {
                key.tag(b'h');
                key.field(target.as_str().as_bytes());
            }
            NodeKind::Whiteout => key.tag(b'w'),
            NodeKind::OpaqueWhiteout => key.tag(b'o'),
        }
    }
    key.number(salt.len() as u64);
    for line in salt {
        key.field(line.as_bytes());
    }
    Some(key.digest())
}

/// The stat key of a layer without plugins, from its recipe entries and
/// the metadata its walk found (the tree is a function of those); none if
/// an input changed too recently to be trusted.
pub(crate) fn walk_key(layer: &WalkedLayer, settings: &BuildSettings, walked_since: SystemTime) -> Option<Digest> {
    let mut key = KeyBytes::new("walk", settings, walked_since)?;
    // Whether undeclared directories are left out of the layer.
    key.number(u64::from(layer.has_lower()));
    // What the walk left out, beyond what it found.
    key.field(layer.ignore_text().unwrap_or("").as_bytes());
    for (entry, walked) in layer.entries() {
        match (&entry.kind, walked) {
            (EntryKind::Copy(copy), Some(walked)) => {
                key.copy(copy);
                key.walked(walked)?;
            }
            (EntryKind::Copy(_), None) | (EntryKind::Plugin(_), _) => return None,
            (EntryKind::File { path, content, mode, owner }, _) => {
                key.tag(b'f');
                key.field(path.as_str().as_bytes());
                key.field(content);
                key.number(u64::from(*mode));
                key.owner(*owner);
            }
            (EntryKind::Dir { path, mode, owner }, _) => {
                key.tag(b'd');
                key.field(path.as_str().as_bytes());
                key.number(u64::from(*mode));
                key.owner(*owner);
            }
            (EntryKind::Symlink { path, target, owner }, _) => {
                key.tag(b's');
                key.field(path.as_str().as_bytes());
                key.field(target.as_bytes());
                key.owner(*owner);
            }
            (EntryKind::Hardlink { path, target }, _) => {
                key.tag(b'h');
                key.field(path.as_str().as_bytes());
                key.field(target.as_str().as_bytes());
            }
            (EntryKind::Remove { path, opaque }, _) => {
                key.tag(if *opaque { b'o' } else { b'w' });
                key.field(path.as_str().as_bytes());
            }
        }
    }
    Some(key.digest())
}

/// The encoding of stat keys: length-prefixed fields and little-endian
/// numbers. Only compared, never shown, and cheap: an unchanged rebuild
/// computes little else. The encoding (megabytes for a large tree) is
/// hashed with BLAKE3, and the key named by the sha256 of that hash, as
/// every cache entry is.
struct KeyBytes {
    bytes: Vec<u8>,
    /// Inputs changed at or after this (seconds, nanoseconds) are not trusted.
    racy: (i64, i64),
}

impl KeyBytes {
    fn new(kind: &str, settings: &BuildSettings, walked_since: SystemTime) -> Option<KeyBytes> {
        let bound = walked_since.checked_sub(RACY)?.duration_since(SystemTime::UNIX_EPOCH).ok()?;
        let racy = (i64::try_from(bound.as_secs()).ok()?, i64::from(bound.subsec_nanos()));
        Some(KeyBytes { bytes: header(kind, settings).into_bytes(), racy })
    }

    fn tag(&mut self, tag: u8) {
        self.bytes.push(tag);
    }

    fn number(&mut self, number: u64) {
        self.bytes.extend_from_slice(&number.to_le_bytes());
    }

    fn numbers<const N: usize>(&mut self, numbers: [u64; N]) {
        for number in numbers {
            self.number(number);
        }
    }

    fn field(&mut self, bytes: &[u8]) {
        self.number(bytes.len() as u64);
        self.bytes.extend_from_slice(bytes);
    }

    fn owner(&mut self, owner: Owner) {
        self.numbers([owner.uid, owner.gid].map(u64::from));
    }

    fn fingerprint(&mut self, f: &Fingerprint) -> Option<()> {
        if f.mtime >= self.racy || f.ctime >= self.racy {
            return None;
        }
        let Fingerprint { size, mtime, ctime, ino, dev } = *f;
        for time in [mtime.0, mtime.1, ctime.0, ctime.1] {
            self.bytes.extend_from_slice(&time.to_le_bytes());
        }
        self.numbers([size, ino, dev]);
        Some(())
    }

    fn copy(&mut self, copy: &Copy) {
        // `src` is in the walk, expanded for the platform.
        let Copy { src: _, dest, dest_is_dir, include, exclude, mode, dir_mode, owner, from } = copy;
        self.tag(b'c');
        self.field(dest.as_str().as_bytes());
        self.tag(u8::from(*dest_is_dir));
        for globs in [include, exclude] {
            self.number(globs.patterns.len() as u64);
            for pattern in &globs.patterns {
                self.field(pattern.as_bytes());
            }
        }
        self.numbers([mode.map_or(u64::MAX, u64::from), u64::from(*dir_mode)]);
        self.owner(*owner);
        // The image's digest is in the walk; whether its owners are kept is here.
        self.tag(from.as_ref().map_or(0, |from| 1 + u8::from(from.owner_given)));
    }

    fn walked(&mut self, walked: &Walked) -> Option<()> {
        // Files from an image: its digest says what their metadata is.
        self.field(walked.image().map_or("", |image| image.digest.as_str()).as_bytes());
        match walked {
            Walked::File { src, stat, .. } => {
                self.tag(b'F');
                self.field(src.as_os_str().as_bytes());
                self.host_entry(Some(stat))
            }
            Walked::Dir { src, found, .. } => {
                self.tag(b'D');
                self.field(src.as_os_str().as_bytes());
                self.number(found.len() as u64);
                for entry in found {
                    self.field(entry.rel.as_os_str().as_bytes());
                    self.host_entry(entry.stat.as_ref())?;
                }
                Some(())
            }
        }
    }

    /// What a copied host entry brings to its layer: for a directory (none)
    /// only that it is one, else its type and mode bits, whether it has
    /// other links, and its fingerprint for its content.
    fn host_entry(&mut self, stat: Option<&HostStat>) -> Option<()> {
        let Some(stat) = stat else {
            self.tag(b'd');
            return Some(());
        };
        self.tag(b'e');
        self.number(u64::from(stat.mode));
        self.tag(u8::from(stat.linked));
        self.fingerprint(&stat.fingerprint)
    }

    fn digest(self) -> Digest {
        Digest::of(ContentHash::of(&self.bytes).hex().to_string().as_bytes())
    }
}

/// The first lines of a key: what it is, and the settings that change bytes.
fn header(kind: &str, settings: &BuildSettings) -> String {
    let compression = match settings.compression {
        Compression::Zstd { level } => format!("zstd {level}"),
        Compression::Gzip { level } => format!("gzip {level}"),
        Compression::None => "none".to_owned(),
    };
    format!(
        "compose-img {kind} v{LAYER_FORMAT}\nzstd {}\nflate2 zlib-rs\nepoch {}\ncompression {compression}\n",
        zstd::zstd_safe::version_string(),
        settings.source_date_epoch
    )
}

/// `bytes` with every byte but printable ASCII other than `\` written as
/// `\xNN`, so no name can forge a field separator (space) or a line.
fn push_escaped(text: &mut String, bytes: &[u8]) {
    let plain = |b: u8| b.is_ascii_graphic() && b != b'\\';
    if bytes.iter().all(|&b| plain(b))
        && let Ok(ascii) = std::str::from_utf8(bytes)
    {
        text.push_str(ascii);
        return;
    }
    for &b in bytes {
        if plain(b) {
            text.push(char::from(b));
        } else {
            let _ = write!(text, "\\x{b:02x}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{BuildSettings, Compression, layer_key, layer_key_with, push_escaped};
    use crate::digest::ContentHash;
    use crate::plan::tree::{FileSource, Node, NodeKind, Origin, Tree};
    use crate::recipe::{ImagePath, Loc, Owner, SourceFile};
    use crate::store::fingerprint::Fingerprint;

    /// A tree of `n` host files with long names (a key text of several of
    /// its buffers), their contents known or not.
    fn tree(n: usize, known: bool) -> (Tree, Vec<(ImagePath, ContentHash)>) {
        let file = Arc::new(SourceFile { name: "r.toml".into(), text: Arc::from("#") });
        let (mut tree, mut hashed) = (Tree::default(), Vec::new());
        let fingerprint = Fingerprint { size: 1, mtime: (0, 0), ctime: (0, 0), ino: 1, dev: 1 };
        for i in 0..n {
            let path = ImagePath::parse(&format!("/d/{}-{i:05}", "long-name".repeat(8))).unwrap();
            let content = ContentHash::of(format!("{i}").as_bytes());
            let source = FileSource::Host {
                path: format!("/host/{i}").into(),
                fingerprint,
                linked: false,
                content: known.then_some(content),
            };
            let node = Node {
                kind: NodeKind::File(source),
                mode: 0o644,
                owner: Owner::default(),
                loc: Loc { file: Arc::clone(&file), span: 0..1 },
                origin: Origin::Copied,
            };
            tree.insert(path.clone(), node).unwrap();
            hashed.push((path, content));
        }
        (tree, hashed)
    }

    #[test]
    fn the_writers_hashes_give_the_plans_key_in_any_order() {
        let settings = BuildSettings { source_date_epoch: 0, compression: Compression::Zstd { level: 3 }, jobs: 1 };
        let (known, _) = tree(2000, true);
        let (unknown, mut hashed) = tree(2000, false);
        let key = layer_key(&known, &[], &settings);
        assert_eq!(layer_key_with(&unknown, &[], &settings, &hashed), key);
        hashed.reverse();
        assert_eq!(layer_key_with(&unknown, &[], &settings, &hashed), key);
        assert_ne!(layer_key(&unknown, &[], &settings), key, "a file of unknown content keys apart");
        hashed.pop();
        assert_ne!(layer_key_with(&unknown, &[], &settings, &hashed), key);
    }

    #[test]
    fn escaping_leaves_no_separator_or_line_break() {
        let mut text = String::new();
        push_escaped(&mut text, "a b\\c\nd\u{e9}".as_bytes());
        assert_eq!(text, "a\\x20b\\x5cc\\x0ad\\xc3\\xa9");
    }
}
