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
    let mut text = header("layer", settings);
    let mut payload = String::new();
    for (path, node) in tree.iter() {
        payload.clear();
        match &node.kind {
            NodeKind::Dir => payload.push_str("dir"),
            NodeKind::File(FileSource::Host { content, .. }) => {
                let _ = match content.as_ref().or_else(|| hashed.get(path).copied()) {
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
        push_escaped(&mut text, path.as_str().as_bytes());
        let _ = writeln!(text, " {:o} {} {} {payload}", node.mode, node.owner.uid, node.owner.gid);
    }
    for line in salt {
        push_escaped(&mut text, line.as_bytes());
        text.push('\n');
    }
    Digest::of(text.as_bytes())
}

/// The stat key of a layer of `tree`, whose inputs were walked after
/// `walked_since`; none if one of them changed too recently to be trusted.
/// Only compared, never shown: a compact binary encoding, as an unchanged
/// rebuild computes little else.
pub fn stat_key(tree: &Tree, salt: &[String], settings: &BuildSettings, walked_since: SystemTime) -> Option<Digest> {
    let bound = walked_since.checked_sub(RACY)?.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    let bound = (i64::try_from(bound.as_secs()).ok()?, i64::from(bound.subsec_nanos()));
    let mut out = header("stat", settings).into_bytes();
    let field = |out: &mut Vec<u8>, bytes: &[u8]| {
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        out.extend_from_slice(bytes);
    };
    out.extend_from_slice(&(tree.len() as u64).to_le_bytes());
    for (path, node) in tree.iter() {
        field(&mut out, path.as_str().as_bytes());
        for number in [node.mode, node.owner.uid, node.owner.gid] {
            out.extend_from_slice(&number.to_le_bytes());
        }
        match &node.kind {
            NodeKind::Dir => out.push(b'd'),
            NodeKind::File(FileSource::Host { path: host, fingerprint: f, .. }) => {
                if f.mtime >= bound || f.ctime >= bound {
                    return None;
                }
                out.push(b'f');
                field(&mut out, host.as_os_str().as_bytes());
                for number in [f.mtime.0, f.mtime.1, f.ctime.0, f.ctime.1] {
                    out.extend_from_slice(&number.to_le_bytes());
                }
                for number in [f.size, f.ino, f.dev] {
                    out.extend_from_slice(&number.to_le_bytes());
                }
            }
            NodeKind::File(FileSource::Inline(bytes)) => {
                out.push(b'i');
                field(&mut out, ContentHash::of(bytes).hex().to_string().as_bytes());
            }
            NodeKind::Symlink(target) => {
                out.push(b's');
                field(&mut out, target.as_bytes());
            }
            NodeKind::Hardlink(target) => {
                out.push(b'h');
                field(&mut out, target.as_str().as_bytes());
            }
            NodeKind::Whiteout => out.push(b'w'),
            NodeKind::OpaqueWhiteout => out.push(b'o'),
        }
    }
    out.extend_from_slice(&(salt.len() as u64).to_le_bytes());
    for line in salt {
        field(&mut out, line.as_bytes());
    }
    Some(Digest::of(&out))
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
    use super::push_escaped;

    #[test]
    fn escaping_leaves_no_separator_or_line_break() {
        let mut text = String::new();
        push_escaped(&mut text, "a b\\c\nd\u{e9}".as_bytes());
        assert_eq!(text, "a\\x20b\\x5cc\\x0ad\\xc3\\xa9");
    }
}
