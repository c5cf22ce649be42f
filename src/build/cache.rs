//! Layer cache keys: a digest of everything that determines a layer's
//! bytes: the format version (with the codec version), compression and
//! level, SOURCE_DATE_EPOCH, every entry of the planned tree with its
//! header fields and content digest, and the layer's plugins (source and
//! args) with, for one that reads them, the layers below. Equal keys mean
//! equal blobs.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{BuildSettings, Compression};
use crate::digest::Digest;
use crate::plan::tree::{FileSource, NodeKind, Tree};
use crate::recipe::ImagePath;

/// Bumped whenever the tar writer, JSON or codec settings change bytes.
const LAYER_FORMAT: u32 = 1;

/// The key of a layer of `tree`; `salt` holds what else determines it
/// (plugins, the layers below a plugin read), one line each.
pub fn layer_key(tree: &Tree, salt: &[String], settings: &BuildSettings) -> Digest {
    layer_key_with(tree, salt, settings, &BTreeMap::new())
}

/// [`layer_key`], with the content digests of host files the plan did not
/// know taken from `hashed` (as the layer writer found them).
pub fn layer_key_with(
    tree: &Tree,
    salt: &[String],
    settings: &BuildSettings,
    hashed: &BTreeMap<&ImagePath, &Digest>,
) -> Digest {
    let mut text = format!(
        "compose-img layer v{LAYER_FORMAT}\nzstd {}\nflate2 zlib-rs\nepoch {}\n",
        zstd::zstd_safe::version_string(),
        settings.source_date_epoch
    );
    let _ = match settings.compression {
        Compression::Zstd { level } => writeln!(text, "compression zstd {level}"),
        Compression::Gzip { level } => writeln!(text, "compression gzip {level}"),
        Compression::None => writeln!(text, "compression none"),
    };
    for (path, node) in tree.iter() {
        let payload = match &node.kind {
            NodeKind::Dir => "dir".to_owned(),
            NodeKind::File(FileSource::Host { content, .. }) => {
                let digest = content.as_ref().or_else(|| hashed.get(path).copied());
                format!("file {}", digest.map_or("?", |d| d.as_str()))
            }
            NodeKind::File(FileSource::Inline(bytes)) => format!("file {}", Digest::of(bytes)),
            NodeKind::Symlink(target) => format!("symlink {}", target.escape_default()),
            NodeKind::Hardlink(target) => format!("hardlink {}", target.as_str().escape_default()),
            NodeKind::Whiteout => "whiteout".to_owned(),
            NodeKind::OpaqueWhiteout => "opaque".to_owned(),
        };
        let _ = writeln!(
            text,
            "{} {:o} {} {} {payload}",
            path.as_str().escape_default(),
            node.mode,
            node.owner.uid,
            node.owner.gid
        );
    }
    for line in salt {
        let _ = writeln!(text, "{}", line.escape_default());
    }
    Digest::of(text.as_bytes())
}
