//! Layer cache keys: a digest of everything that determines a layer's
//! bytes: the format version (with the codec version), compression and
//! level, SOURCE_DATE_EPOCH, every entry of the planned tree with its
//! header fields and content hash, and the layer's plugins (source and
//! args) with, for one that reads them, the layers below. Equal keys mean
//! equal blobs.
//!
//! A layer's entry is also filed under its stat key, the same digest with
//! each host file's stat fingerprint in place of its content: an unchanged
//! rebuild finds its layer from the walk alone, without the input index.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, SystemTime};

use super::{BuildSettings, Compression};
use crate::digest::{ContentHash, Digest};
use crate::plan::tree::{FileSource, NodeKind, Tree};
use crate::recipe::ImagePath;
use crate::store::fingerprint::Fingerprint;

/// Bumped whenever the tar writer, JSON or codec settings change bytes.
const LAYER_FORMAT: u32 = 2;

/// How long after a change a file's fingerprint is trusted for a stat key:
/// within it, a later write could keep the same timestamps (coarse file
/// system clocks), as git's "racily clean" entries.
const RACY: Duration = Duration::from_secs(2);

/// The key of a layer of `tree`; `salt` holds what else determines it
/// (plugins, the layers below a plugin read), one line each.
pub fn layer_key(tree: &Tree, salt: &[String], settings: &BuildSettings) -> Digest {
    layer_key_with(tree, salt, settings, &BTreeMap::new())
}

/// [`layer_key`], with the content hashes of host files the plan did not
/// know taken from `hashed` (as the layer writer found them).
pub fn layer_key_with(
    tree: &Tree,
    salt: &[String],
    settings: &BuildSettings,
    hashed: &BTreeMap<&ImagePath, &ContentHash>,
) -> Digest {
    render(tree, salt, settings, "layer", |path, content, _, _| {
        let hash = content.as_ref().or_else(|| hashed.get(path).copied());
        hash.map_or_else(|| "file ?".to_owned(), |hash| format!("file {hash}"))
    })
}

/// The stat key of a layer of `tree`, whose inputs were walked after
/// `walked_since`; none if one of them changed too recently to be trusted.
pub fn stat_key(tree: &Tree, salt: &[String], settings: &BuildSettings, walked_since: SystemTime) -> Option<Digest> {
    let bound = walked_since.checked_sub(RACY)?.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    let bound = (i64::try_from(bound.as_secs()).ok()?, i64::from(bound.subsec_nanos()));
    let mut racy = false;
    let key = render(tree, salt, settings, "stat", |_, _, host, f: &Fingerprint| {
        racy |= f.mtime >= bound || f.ctime >= bound;
        let mut payload = String::from("stat ");
        push_escaped(&mut payload, host.as_os_str().as_bytes());
        let _ =
            write!(payload, " {} {}.{} {}.{} {} {}", f.size, f.mtime.0, f.mtime.1, f.ctime.0, f.ctime.1, f.ino, f.dev);
        payload
    });
    (!racy).then_some(key)
}

/// The key text, one line per entry, with `host_file` giving the payload
/// of a host file (image path, known content, host path, fingerprint).
fn render(
    tree: &Tree,
    salt: &[String],
    settings: &BuildSettings,
    kind: &str,
    mut host_file: impl FnMut(&ImagePath, &Option<ContentHash>, &std::path::Path, &Fingerprint) -> String,
) -> Digest {
    let mut text = format!(
        "compose-img {kind} v{LAYER_FORMAT}\nzstd {}\nflate2 zlib-rs\nepoch {}\n",
        zstd::zstd_safe::version_string(),
        settings.source_date_epoch
    );
    let _ = match settings.compression {
        Compression::Zstd { level } => writeln!(text, "compression zstd {level}"),
        Compression::Gzip { level } => writeln!(text, "compression gzip {level}"),
        Compression::None => writeln!(text, "compression none"),
    };
    let mut payload = String::new();
    for (path, node) in tree.iter() {
        payload.clear();
        match &node.kind {
            NodeKind::Dir => payload.push_str("dir"),
            NodeKind::File(FileSource::Host { content, path: host, fingerprint, .. }) => {
                payload.push_str(&host_file(path, content, host, fingerprint));
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
        push_escaped(&mut text, path.as_str().as_bytes());
        let _ = writeln!(text, " {:o} {} {} {payload}", node.mode, node.owner.uid, node.owner.gid);
    }
    for line in salt {
        push_escaped(&mut text, line.as_bytes());
        text.push('\n');
    }
    Digest::of(text.as_bytes())
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
    use super::push_escaped;

    #[test]
    fn escaping_leaves_no_separator_or_line_break() {
        let mut text = String::new();
        push_escaped(&mut text, "a b\\c\nd\u{e9}".as_bytes());
        assert_eq!(text, "a\\x20b\\x5cc\\x0ad\\xc3\\xa9");
    }
}
