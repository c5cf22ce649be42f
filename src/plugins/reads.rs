//! The `ctx` functions over the layers below ([`super::lower`]): reads of
//! text, bytes, metadata, link targets, digests and walks, and `chmod` and
//! `chown` of a path below, which record the entry again with new
//! metadata (a file with its content: a layer cannot change metadata
//! alone).

use std::sync::Arc;

use rhai::{Array, Blob, Dynamic, Engine, Map};

use super::ctx::{LayerCtx, Res, fail, id, image_path, mode};
use super::engine::{MAX_ARRAY, MAX_STRING};
use super::lower::LowerFs;
use crate::recipe::{EntryKind, ImagePath, Owner};

/// The largest file `chmod` or `chown` writes again: what a hook may record
/// in all.
const MAX_REWRITE: u64 = super::ctx::MAX_RECORDED as u64;

fn lower(ctx: &mut LayerCtx) -> Res<Arc<LowerFs>> {
    ctx.lower()
}

fn stat(ctx: &mut LayerCtx, path: &str) -> Res<Map> {
    let stat = lower(ctx)?.stat(path).map_err(fail)?;
    let int = |n: u64| Dynamic::from(rhai::INT::try_from(n).unwrap_or(rhai::INT::MAX));
    Ok(Map::from([
        ("type".into(), stat.kind.into()),
        ("mode".into(), int(u64::from(stat.mode))),
        ("uid".into(), int(stat.uid)),
        ("gid".into(), int(stat.gid)),
        ("size".into(), int(stat.size)),
        ("target".into(), stat.target.into()),
    ]))
}

fn walk(ctx: &mut LayerCtx, dir: &str, pattern: &str) -> Res<Array> {
    let paths = lower(ctx)?.walk(dir, pattern, MAX_ARRAY).map_err(fail)?;
    Ok(paths.into_iter().map(Dynamic::from).collect())
}

/// What `chmod` or `chown` changes.
#[derive(Clone, Copy)]
enum Meta {
    Mode(u32),
    Owner(Owner),
}

/// Records the entry at `path` again with `meta`: the last one this hook
/// recorded there, else the one below (symlinks followed, as `chmod` and
/// `chown` follow them).
fn set_meta(ctx: &mut LayerCtx, path: &str, meta: Meta, what: &'static str) -> Res<()> {
    let named = image_path(path)?;
    if change_recorded(ctx, &named, meta, what)? {
        return Ok(());
    }
    let lower = lower(ctx)?;
    let stat = lower.stat_followed(path).map_err(fail)?;
    let (key, stat) = stat.ok_or_else(|| fail(format!("{what}: `/` itself cannot be an entry")))?;
    let at = ImagePath::parse(&format!("/{key}")).map_err(fail)?;
    let owner = |n: u64| u32::try_from(n).map_err(|_| fail(format!("{what}: /{key} has an id over 4294967295")));
    let (mut mode, mut own) = (stat.mode, Owner { uid: owner(stat.uid)?, gid: owner(stat.gid)? });
    match meta {
        Meta::Mode(m) => mode = m,
        Meta::Owner(o) => own = o,
    }
    let op = match stat.kind {
        "file" => {
            let content = lower.read(path, MAX_REWRITE, what).map_err(fail)?;
            EntryKind::File { path: at, content: content.into(), mode, owner: own }
        }
        "dir" => EntryKind::Dir { path: at, mode, owner: own },
        other => return Err(fail(format!("{what}: /{key} is a {other}, not a file or directory"))),
    };
    ctx.push(op)
}

/// Applies `meta` to what this hook recorded last at `path`, if anything.
fn change_recorded(ctx: &mut LayerCtx, path: &ImagePath, meta: Meta, what: &str) -> Res<bool> {
    let mut state = ctx.state();
    let Some(op) = state.ops.iter_mut().rev().find(|op| recorded_path(op) == Some(path)) else {
        return Ok(false);
    };
    match (op, meta) {
        (EntryKind::File { mode, .. } | EntryKind::Dir { mode, .. }, Meta::Mode(m)) => *mode = m,
        (
            EntryKind::File { owner, .. } | EntryKind::Dir { owner, .. } | EntryKind::Symlink { owner, .. },
            Meta::Owner(o),
        ) => *owner = o,
        _ => return Err(fail(format!("{what}: this plugin made /{} a kind {what} cannot change", path.as_str()))),
    }
    Ok(true)
}

fn recorded_path(op: &EntryKind) -> Option<&ImagePath> {
    match op {
        EntryKind::File { path, .. } | EntryKind::Dir { path, .. } | EntryKind::Symlink { path, .. } => Some(path),
        _ => None,
    }
}

/// Registers the functions over the layers below.
pub(super) fn register(engine: &mut Engine) {
    engine.register_fn("read_lower", |ctx: &mut LayerCtx, path: &str| -> Res<String> {
        let bytes = lower(ctx)?.read(path, MAX_STRING as u64, "read_lower").map_err(fail)?;
        String::from_utf8(bytes)
            .map_err(|_| fail(format!("`{path}` in the layers below is not UTF-8 text (read it with read_lower_blob)")))
    });
    engine.register_fn("read_lower_blob", |ctx: &mut LayerCtx, path: &str| -> Res<Blob> {
        lower(ctx)?.read(path, MAX_ARRAY as u64, "read_lower_blob (the blob limit)").map_err(fail)
    });
    engine.register_fn("exists_lower", |ctx: &mut LayerCtx, path: &str| -> Res<bool> {
        lower(ctx)?.exists(path).map_err(fail)
    });
    engine.register_fn("list_lower", |ctx: &mut LayerCtx, path: &str| -> Res<Array> {
        let names = lower(ctx)?.list(path).map_err(fail)?;
        Ok(names.into_iter().map(Dynamic::from).collect())
    });
    engine.register_fn("stat_lower", stat);
    engine.register_fn("readlink_lower", |ctx: &mut LayerCtx, path: &str| -> Res<String> {
        lower(ctx)?.readlink(path).map_err(fail)
    });
    engine.register_fn("walk_lower", walk);
    engine.register_fn("walk_lower", |ctx: &mut LayerCtx, dir: &str| walk(ctx, dir, ""));
    engine.register_fn("sha256_lower", |ctx: &mut LayerCtx, path: &str| -> Res<String> {
        Ok(lower(ctx)?.sha256(path).map_err(fail)?.hex().to_owned())
    });
    engine.register_fn("chmod", |ctx: &mut LayerCtx, path: &str, m: Dynamic| -> Res<()> {
        set_meta(ctx, path, Meta::Mode(mode(&m)?), "chmod")
    });
    engine.register_fn("chown", |ctx: &mut LayerCtx, path: &str, uid: Dynamic, gid: Dynamic| -> Res<()> {
        let owner = Owner { uid: id(&uid, "uid")?, gid: id(&gid, "gid")? };
        set_meta(ctx, path, Meta::Owner(owner), "chown")
    });
}
