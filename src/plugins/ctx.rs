//! The `ctx` a `layer(ctx, args)` hook gets. Every value it hands over is
//! validated like recipe input (paths, modes, ids) at the call, so an error
//! points at the line of the script that made it. What the hook asks for is
//! recorded as recipe entries ([`EntryKind`]), which the plan puts in the
//! layer like the recipe's own once the hook returns.
//!
//! Reads: `read_host` (inside the recipe's directory only: absolute paths,
//! `..` and symlinks leading out are refused), and the `*_lower` functions
//! ([`super::reads`]), which see the merged layers below. An image hook's
//! `ctx` is read-only: anything that would record an entry is refused. A hook run while planning has no
//! lower layers: its first `*_lower` call marks the layer as reading them,
//! and the hook runs again at build time once they exist.

use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rhai::{Blob, Dynamic, Engine, EvalAltResult, Map, Position};
use thiserror::Error;

use super::lower::LowerFs;
use crate::oci::platform::Platform;
use crate::recipe::names::parse_mode;
use crate::recipe::{Copy, EntryKind, Globs, ImagePath, Owner};

pub(super) type Res<T> = Result<T, Box<EvalAltResult>>;

/// Where the hook's layer is built.
pub(crate) struct Setting {
    pub recipe_dir: PathBuf,
    pub platform: Platform,
    pub source_date_epoch: u64,
    /// `None` while planning.
    pub lower: Option<Arc<LowerFs>>,
}

pub(crate) struct State {
    setting: Setting,
    pub ops: Vec<EntryKind>,
    /// The bytes `ops` hold: contents, paths and link targets.
    bytes: usize,
    /// A `*_lower` function was called while planning.
    pub wants_lower: bool,
    /// The `ctx` of an image hook: it reads, and records nothing.
    read_only: Option<&'static str>,
}

/// What the entries one hook adds may hold in all (file contents, paths,
/// link targets), in bytes: they are kept until the layer is written.
pub(crate) const MAX_RECORDED: usize = 64 << 20;

/// Cheap to clone: Rhai passes arguments by value, and every copy must
/// record into the same state.
#[derive(Clone)]
pub(crate) struct LayerCtx(Arc<Mutex<State>>);

impl LayerCtx {
    pub(crate) fn new(setting: Setting) -> LayerCtx {
        LayerCtx(Arc::new(Mutex::new(State {
            setting,
            ops: Vec::new(),
            bytes: 0,
            wants_lower: false,
            read_only: None,
        })))
    }

    /// The read-only `ctx` of image hook `hook`: its `*_lower` functions
    /// see the image's merged file system.
    pub(crate) fn read_only(setting: Setting, hook: &'static str) -> LayerCtx {
        let ctx = LayerCtx::new(setting);
        ctx.state().read_only = Some(hook);
        ctx
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn push(&mut self, op: EntryKind) -> Res<()> {
        let mut state = self.state();
        if let Some(hook) = state.read_only {
            return Err(fail(format!(
                "the ctx of fn {hook} only reads (the image's files and the recipe's directory): entries are added by \
                 a layer hook"
            )));
        }
        if state.ops.len() >= super::engine::MAX_ARRAY {
            return Err(fail("a plugin may add at most 100000 entries to a layer"));
        }
        let bytes = state.bytes + weight(&op);
        if bytes > MAX_RECORDED {
            return Err(fail(format!(
                "a plugin may add at most {} MiB of file contents and paths",
                MAX_RECORDED >> 20
            )));
        }
        state.bytes = bytes;
        state.ops.push(op);
        Ok(())
    }

    pub(super) fn lower(&mut self) -> Res<Arc<LowerFs>> {
        let mut state = self.state();
        match &state.setting.lower {
            Some(lower) => Ok(Arc::clone(lower)),
            None => {
                state.wants_lower = true;
                Err(fail("the layers below are read at build time"))
            }
        }
    }
}

/// The bytes `op` holds, as [`MAX_RECORDED`] counts them.
fn weight(op: &EntryKind) -> usize {
    match op {
        EntryKind::File { path, content, .. } => path.as_str().len() + content.len(),
        EntryKind::Dir { path, .. } | EntryKind::Remove { path, .. } => path.as_str().len(),
        EntryKind::Symlink { path, target, .. } => path.as_str().len() + target.len(),
        EntryKind::Hardlink { path, target } => path.as_str().len() + target.as_str().len(),
        EntryKind::Copy(copy) => copy.src.len() + copy.dest.as_str().len(),
        EntryKind::Plugin(_) => 0,
    }
}

pub(super) fn fail(message: impl std::fmt::Display) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(Dynamic::from(message.to_string()), Position::NONE))
}

pub(super) fn image_path(text: &str) -> Res<ImagePath> {
    let path = ImagePath::parse(text).map_err(fail)?;
    if path.is_root() {
        return Err(fail("`/` itself cannot be an entry"));
    }
    Ok(path)
}

/// `opts`: `mode` (an integer such as `0o644`, or a string such as
/// `"0644"`), `uid`, `gid`; `dir_mode` where `allow_dir_mode`. Anything
/// else is an error.
struct Opts {
    mode: Option<u32>,
    dir_mode: Option<u32>,
    owner: Owner,
}

fn opts(map: &Map, allow_dir_mode: bool) -> Res<Opts> {
    let mut opts = Opts { mode: None, dir_mode: None, owner: Owner::default() };
    for (key, value) in map {
        match key.as_str() {
            "mode" => opts.mode = Some(mode(value)?),
            "dir_mode" if allow_dir_mode => opts.dir_mode = Some(mode(value)?),
            "uid" => opts.owner.uid = id(value, "uid")?,
            "gid" => opts.owner.gid = id(value, "gid")?,
            other => {
                let known = if allow_dir_mode { "mode, dir_mode, uid, gid" } else { "mode, uid, gid" };
                return Err(fail(format!("unknown option `{other}` (expected {known})")));
            }
        }
    }
    Ok(opts)
}

/// A mode: an integer is the number itself (write it in octal, `0o644`),
/// and one above `0o777` is refused: `644` is `0o1204`, not `0o644`, and a
/// script cannot tell how a number was written. Special bits (setuid,
/// setgid, sticky) are given as a string, `"4755"`.
pub(super) fn mode(value: &Dynamic) -> Res<u32> {
    if let Ok(n) = value.as_int() {
        if (0..=0o777).contains(&n) {
            return Ok(n as u32);
        }
        if (0..=0o7777).contains(&n) {
            return Err(fail(format!(
                "mode {n} is 0o{n:o}: an integer mode is read as it is written (0o644, not 644) and may not be \
                 above 0o777; give special bits as a string (\"{n:o}\")"
            )));
        }
        return Err(fail(format!("mode {n:o} is not a mode: at most 0o7777")));
    }
    let text =
        value.clone().into_string().map_err(|_| fail("`mode` must be an integer (0o644) or a string (\"0644\")"))?;
    parse_mode(&text).map_err(fail)
}

pub(super) fn id(value: &Dynamic, what: &str) -> Res<u32> {
    let n = value.as_int().map_err(|_| fail(format!("`{what}` must be an integer")))?;
    u32::try_from(n).map_err(|_| fail(format!("`{what}` {n} is out of range (0 to 4294967295)")))
}

/// A host path a plugin may not read. The cause is part of the message (a
/// script sees one line).
#[derive(Debug, Error)]
pub(crate) enum HostPathError {
    #[error("`{0}`: only paths relative to the recipe's directory can be read")]
    NotRelative(String),
    #[error("`{0}`: `..` is refused; only the recipe's directory can be read")]
    DotDot(String),
    #[error("{}: {error}", dir.display())]
    Dir { dir: PathBuf, error: std::io::Error },
    #[error("`{rel}`: {error}")]
    Resolve { rel: String, error: std::io::Error },
    #[error("`{0}` leads out of the recipe's directory (through a symlink)")]
    LeadsOut(String),
}

/// `rel` under `dir`: relative, no `..`, and not leading out through a
/// symlink. Returns the resolved path.
pub(crate) fn confined(dir: &Path, rel: &str) -> Result<PathBuf, HostPathError> {
    let path = Path::new(rel);
    if rel.is_empty() || path.is_absolute() {
        return Err(HostPathError::NotRelative(rel.to_owned()));
    }
    if path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(HostPathError::DotDot(rel.to_owned()));
    }
    // A recipe named without a directory part has an empty directory: the
    // current one.
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let base = dir.canonicalize().map_err(|error| HostPathError::Dir { dir: dir.to_owned(), error })?;
    let full = base.join(path).canonicalize().map_err(|error| HostPathError::Resolve { rel: rel.to_owned(), error })?;
    if !full.starts_with(&base) {
        return Err(HostPathError::LeadsOut(rel.to_owned()));
    }
    Ok(full)
}

fn file(ctx: &mut LayerCtx, path: &str, content: Vec<u8>, options: &Map) -> Res<()> {
    let o = opts(options, false)?;
    ctx.push(EntryKind::File {
        path: image_path(path)?,
        content: content.into(),
        mode: o.mode.unwrap_or(0o644),
        owner: o.owner,
    })
}

fn dir(ctx: &mut LayerCtx, path: &str, options: &Map) -> Res<()> {
    let o = opts(options, false)?;
    ctx.push(EntryKind::Dir { path: image_path(path)?, mode: o.mode.unwrap_or(0o755), owner: o.owner })
}

fn copy(ctx: &mut LayerCtx, src: &str, dest: &str, options: &Map) -> Res<()> {
    let o = opts(options, true)?;
    let src = confined(&ctx.state().setting.recipe_dir, src).map_err(fail)?;
    let dest_is_dir = dest.ends_with('/');
    let dest = ImagePath::parse(dest).map_err(fail)?;
    ctx.push(EntryKind::Copy(Copy {
        src: src.to_string_lossy().into_owned(),
        dest,
        dest_is_dir,
        include: Globs::all().map_err(fail)?,
        exclude: Globs::none(),
        mode: o.mode,
        dir_mode: o.dir_mode.unwrap_or(0o755),
        owner: o.owner,
        from: None,
    }))
}

fn remove(ctx: &mut LayerCtx, path: &str) -> Res<()> {
    match path.strip_suffix("/*") {
        Some(dir) => {
            let dir = if dir.is_empty() { ImagePath::root() } else { image_path(dir)? };
            ctx.push(EntryKind::Remove { path: dir, opaque: true })
        }
        None => ctx.push(EntryKind::Remove { path: image_path(path)?, opaque: false }),
    }
}

/// A regular file inside the recipe's directory, of at most the string
/// limit; a FIFO or device is refused without waiting on it or reading it.
fn read_host(ctx: &mut LayerCtx, path: &str) -> Res<String> {
    let full = confined(&ctx.state().setting.recipe_dir, path).map_err(fail)?;
    let bytes = crate::files::read_bounded(&full, super::engine::MAX_STRING as u64)
        .map_err(|e| fail(format!("cannot read `{path}`: {e}")))?;
    String::from_utf8(bytes).map_err(|_| fail(format!("`{path}` is not UTF-8 text")))
}

/// Registers the `ctx` type and its functions.
pub(crate) fn register(engine: &mut Engine) {
    engine.register_type_with_name::<LayerCtx>("LayerCtx");
    engine.register_fn("file", |ctx: &mut LayerCtx, path: &str, content: &str, o: Map| {
        file(ctx, path, content.as_bytes().to_vec(), &o)
    });
    engine.register_fn("file", |ctx: &mut LayerCtx, path: &str, content: &str| {
        file(ctx, path, content.as_bytes().to_vec(), &Map::new())
    });
    engine.register_fn("file", |ctx: &mut LayerCtx, path: &str, content: Blob, o: Map| file(ctx, path, content, &o));
    engine.register_fn("file", |ctx: &mut LayerCtx, path: &str, content: Blob| file(ctx, path, content, &Map::new()));
    engine.register_fn("dir", |ctx: &mut LayerCtx, path: &str, o: Map| dir(ctx, path, &o));
    engine.register_fn("dir", |ctx: &mut LayerCtx, path: &str| dir(ctx, path, &Map::new()));
    engine.register_fn("symlink", |ctx: &mut LayerCtx, path: &str, target: &str| -> Res<()> {
        if target.is_empty() || target.contains('\0') {
            return Err(fail("a symlink target must be a non-empty string without NUL"));
        }
        ctx.push(EntryKind::Symlink { path: image_path(path)?, target: target.to_owned(), owner: Owner::default() })
    });
    engine.register_fn("hardlink", |ctx: &mut LayerCtx, path: &str, target: &str| -> Res<()> {
        ctx.push(EntryKind::Hardlink { path: image_path(path)?, target: image_path(target)? })
    });
    engine.register_fn("copy", |ctx: &mut LayerCtx, src: &str, dest: &str, o: Map| copy(ctx, src, dest, &o));
    engine.register_fn("copy", |ctx: &mut LayerCtx, src: &str, dest: &str| copy(ctx, src, dest, &Map::new()));
    engine.register_fn("remove", remove);
    engine.register_fn("read_host", read_host);
    super::reads::register(engine);
    engine.register_get("platform", |ctx: &mut LayerCtx| -> Map {
        let state = ctx.state();
        let p = &state.setting.platform;
        let mut map = Map::new();
        map.insert("os".into(), p.os.clone().into());
        map.insert("arch".into(), p.architecture.clone().into());
        map.insert("variant".into(), p.variant.clone().unwrap_or_default().into());
        map
    });
    engine.register_get("source_date_epoch", |ctx: &mut LayerCtx| -> rhai::INT {
        rhai::INT::try_from(ctx.state().setting.source_date_epoch).unwrap_or(rhai::INT::MAX)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confinement() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("in.txt"), "x").unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("out")).unwrap();
        assert!(confined(dir.path(), "in.txt").is_ok());
        assert_eq!(
            confined(dir.path(), "/etc/passwd").unwrap_err().to_string(),
            "`/etc/passwd`: only paths relative to the recipe's directory can be read"
        );
        assert_eq!(
            confined(dir.path(), "a/../in.txt").unwrap_err().to_string(),
            "`a/../in.txt`: `..` is refused; only the recipe's directory can be read"
        );
        assert_eq!(
            confined(dir.path(), "out/passwd").unwrap_err().to_string(),
            "`out/passwd` leads out of the recipe's directory (through a symlink)"
        );
        assert!(confined(dir.path(), "nope").unwrap_err().to_string().starts_with("`nope`: "));
    }
}
