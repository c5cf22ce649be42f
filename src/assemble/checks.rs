//! Checks that need the image's files, made once the layers exist: a
//! `remove` of a path no layer below has, and a `config.user` naming an
//! account the image's `/etc/passwd` (or a group its `/etc/group`) does
//! not have, are warnings: each builds an image that does not do what the
//! recipe says. The layers are read (metadata, and the two files) only for
//! a recipe that has such entries, and what was found is kept in the store
//! under a key of the layers and entries, so an unchanged rebuild reads
//! nothing.

use crate::digest::Digest;
use crate::oci::image::BuiltLayer;
use crate::oci::layerfs::{self, Kind, Merged};
use crate::recipe::{EntryKind, LocatedError, Recipe};
use crate::store::Store;

/// The warnings about `recipe`, whose layers are the last of `layers`.
pub(super) fn check(recipe: &Recipe, layers: &[BuiltLayer], store: &Store) -> Vec<LocatedError> {
    let below = layers.len().saturating_sub(recipe.layers.len());
    let removes: Vec<(usize, &crate::recipe::Entry, String, bool)> = recipe
        .layers
        .iter()
        .enumerate()
        .flat_map(|(index, layer)| layer.entries.iter().map(move |entry| (below + index, entry)))
        .filter_map(|(index, entry)| match &entry.kind {
            EntryKind::Remove { path, opaque } => Some((index, entry, layerfs::normalise(path.as_str()), *opaque)),
            _ => None,
        })
        .collect();
    let account = recipe.config.user.as_deref().map(named_parts).filter(|(u, g)| u.is_some() || g.is_some());
    if removes.is_empty() && account.is_none() {
        return Vec::new();
    }
    let key = key(layers, &removes, recipe.config.user.as_deref());
    let found = match store.check_result(&key).and_then(|bytes| serde_json::from_slice::<Vec<String>>(&bytes).ok()) {
        Some(found) => found,
        None => {
            let Ok(found) = read(layers, &removes, account, store) else { return Vec::new() };
            if let Ok(bytes) = serde_json::to_vec(&found) {
                let _ = store.record_check(&key, &bytes);
            }
            found
        }
    };
    let mut warnings = Vec::new();
    for (index, entry, path, opaque) in &removes {
        if found.contains(&format!("remove {index} {path}")) {
            let message = if *opaque {
                format!("`remove` of /{path}/* hides nothing: the layers below have nothing in /{path}")
            } else {
                format!("`remove` of /{path}, which no layer below has: the whiteout hides nothing")
            };
            warnings.push(entry.loc.error(message, "removes nothing").into_warning());
        }
    }
    for (what, file) in [("user", "/etc/passwd"), ("group", "/etc/group")] {
        if let Some(name) = found.iter().find_map(|f| f.strip_prefix(&format!("{what} "))) {
            let message = format!("config.user names {what} `{name}`, which the image's {file} does not have");
            if let Some(loc) = &recipe.config.user_loc {
                warnings.push(loc.error(message, "the container would fail to start").into_warning());
            }
        }
    }
    warnings
}

/// The user and group of `user:group` that are names, not numbers.
fn named_parts(user: &str) -> (Option<&str>, Option<&str>) {
    let (name, group) = user.split_once(':').map_or((user, None), |(u, g)| (u, Some(g)));
    (named(name), group.and_then(named))
}

fn named(part: &str) -> Option<&str> {
    (!part.is_empty() && !part.bytes().all(|b| b.is_ascii_digit())).then_some(part)
}

fn key(layers: &[BuiltLayer], removes: &[(usize, &crate::recipe::Entry, String, bool)], user: Option<&str>) -> Digest {
    let mut text = String::from("image checks v1\n");
    for layer in layers {
        text += &format!("layer {}\n", layer.diff_id);
    }
    for (index, _, path, opaque) in removes {
        text += &format!("remove {index} {opaque} {path:?}\n");
    }
    text += &format!("user {user:?}\n");
    Digest::of(text.as_bytes())
}

/// Reads the layers' metadata in order, checking each remove against what
/// is below its layer, then the account files of the whole image.
fn read(
    layers: &[BuiltLayer],
    removes: &[(usize, &crate::recipe::Entry, String, bool)],
    account: Option<(Option<&str>, Option<&str>)>,
    store: &Store,
) -> std::io::Result<Vec<String>> {
    let mut found = Vec::new();
    let mut merged = Merged::default();
    for (index, layer) in layers.iter().enumerate() {
        for (_, _, path, opaque) in removes.iter().filter(|r| r.0 == index) {
            let there = match merged.entries.get(path.as_str()) {
                Some((entry, _)) => !*opaque || entry.kind == Kind::Dir,
                None => path.is_empty() && *opaque,
            };
            if !there || (*opaque && merged.children(path).is_empty()) {
                found.push(format!("remove {index} {path}"));
            }
        }
        let changes = layerfs::read_layer(&store.blob_path(&layer.digest), layer.media_type, false, None)?;
        merged.apply(index, changes);
    }
    let Some((user, group)) = account else { return Ok(found) };
    for (what, name, file) in [("user", user, "etc/passwd"), ("group", group, "etc/group")] {
        let Some(name) = name else { continue };
        let Some((entry, layer)) = merged.resolve(file) else { continue };
        if entry.kind != Kind::File || entry.size > 16 << 20 {
            continue;
        }
        let layer = &layers[*layer];
        let text = layerfs::read_content(&store.blob_path(&layer.digest), layer.media_type, entry.offset, entry.size)?;
        let prefix = format!("{name}:");
        if !String::from_utf8_lossy(&text).lines().any(|line| line.starts_with(&prefix)) {
            found.push(format!("{what} {name}"));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::named_parts;

    #[test]
    fn only_names_are_looked_up() {
        assert_eq!(named_parts("app"), (Some("app"), None));
        assert_eq!(named_parts("65532:65532"), (None, None));
        assert_eq!(named_parts("1000:staff"), (None, Some("staff")));
        assert_eq!(named_parts("app:"), (Some("app"), None));
    }
}
