//! One `compose-img commit DIR --parent REF --output REF`: the container
//! layer without a runtime. DIR (typically from `unpack`, then changed) is
//! compared with the parent's merged file system; exactly one new layer
//! holds what was added or changed and whiteouts for what was removed
//! (opaque where a whole directory's content was replaced). A directory
//! that did not change is not written, as in every layer stacked on others
//! (docs/recipes.md#implied-directories): the parent's stays as it is. It goes through the same tar writer
//! and normalisation as recipe layers, so the same DIR content gives the
//! same digest.
//!
//! Owners: as root, DIR's own; otherwise those `unpack` recorded in
//! `DIR.owners.json`, else the parent's for a path it has, else 0:0.
//!
//! Failures are a [`CommitError`] ([`error`]).

mod error;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) use error::CommitError;
use error::io_err;

use crate::assemble::commit_image;
use crate::digest::{ContentHash, Digest};
use crate::inspect::unpack::owners_record;
use crate::inspect::{self, files};
use crate::layer::BuildSettings;
use crate::layer::cache::layer_key;
use crate::layer::progress::Silent;
use crate::layer::write::{LayerKeys, build_layer};
use crate::oci::layerfs::{Entry, Kind, Merged};
use crate::oci::platform::Platform;
use crate::oci::reference::ImageRef;
use crate::oci::tagged::Tagged;
use crate::plan::LayerPlan;
use crate::plan::tree::{FileSource, Node, NodeKind, Origin, Tree};
use crate::recipe::{ImagePath, Loc, Owner, SourceFile};
use crate::registry::ClientOptions;
use crate::store::Store;
use crate::store::fingerprint::Fingerprint;
use crate::transport;

pub(crate) struct CommitRequest<'a> {
    pub dir: &'a Path,
    pub parent: &'a ImageRef,
    pub output: &'a ImageRef,
    pub message: Option<&'a str>,
    /// `--allow-empty`: commit even when DIR is what the parent holds.
    pub allow_empty: bool,
    pub platform: Option<&'a Platform>,
    pub settings: BuildSettings,
    pub registry: ClientOptions,
}

pub(crate) struct Committed {
    pub manifest: Digest,
    pub added: usize,
    pub removed: usize,
}

/// One entry of DIR as the image would hold it.
struct Found {
    kind: Kind,
    mode: u32,
    owner: Owner,
    meta: fs::Metadata,
    host: PathBuf,
}

pub(crate) fn commit(request: &CommitRequest<'_>, store: &Store) -> Result<Committed, CommitError> {
    let opened = inspect::open(request.parent, request.platform, store, &request.registry)?;
    let parent = files::merged(&opened, store, true)?;
    let recorded = recorded_owners(request.dir)?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let as_root = unsafe { libc::geteuid() } == 0;
    let found = walk(request.dir, &parent, &recorded, as_root)?;

    let file = Arc::new(SourceFile { name: format!("commit {}", request.dir.display()), text: Arc::from("") });
    let loc = Loc { file, span: 0..0 };
    let node = |kind, mode, owner| Node { kind, mode, owner, loc: loc.clone(), origin: Origin::Explicit };
    let mut tree = Tree::default();
    let mut added = 0;
    for (path, entry) in &found {
        if !changed(entry, parent.entries.get(path).map(|(e, _)| e), &parent)? {
            continue;
        }
        added += 1;
        let image_path = ImagePath::parse(&format!("/{path}"))?;
        let kind = match &entry.kind {
            Kind::Dir => NodeKind::Dir,
            Kind::Symlink(target) => NodeKind::Symlink(target.clone()),
            _ => NodeKind::File(FileSource::Host {
                path: entry.host.clone(),
                fingerprint: Fingerprint::of(&entry.meta),
                linked: entry.meta.nlink() > 1,
                content: Some(hash(&entry.host)?),
            }),
        };
        tree.insert(image_path, node(kind, entry.mode, entry.owner))?;
    }
    let removed = removals(&parent, &found, &mut tree, &loc)?;
    if added == 0 && removed == 0 && !request.allow_empty {
        return Err(CommitError::NoChanges(request.dir.to_owned()));
    }
    crate::plan::links::resolve(&mut tree)?;
    // As in every layer with layers below: a directory that did not change
    // is left out, so the parent's metadata stays (one that changed, or is
    // new, is an entry of its own).
    tree.leave_out_undeclared_dirs();

    let plan = LayerPlan { name: "commit".into(), tree, salt: Vec::new(), deferred: Vec::new(), log: Vec::new() };
    let key = layer_key(&plan.tree, &plan.salt, &request.settings);
    let keys = LayerKeys { content: Some(key), stat: None };
    let layer = build_layer(&plan, &keys, &request.settings, store, true, &Silent)
        .map_err(|source| CommitError::Build { dir: request.dir.to_owned(), source })?
        .layer;
    let image = commit_image(opened.image(), layer, request.message, request.settings.source_date_epoch, store)
        .map_err(|source| CommitError::Assemble { dir: request.dir.to_owned(), source })?;
    let manifest = image.manifest.digest.clone();
    let tagged = Tagged::single(image);
    let tag = request.output.tag().unwrap_or("latest").to_owned();
    let repo = match request.output {
        ImageRef::Docker(r) => r.repo_name(),
        _ => format!("localhost/{}", transport::tag_less_name(request.output)),
    };
    let shown = request.output.to_string();
    transport::write(request.output, &tagged, &[tag], &[], &repo, store, &request.registry)
        .map_err(|source| CommitError::Output { output: shown.clone(), source })?;
    store.record_output(&request.output.absolute().to_string(), &tagged.blobs())?;
    Ok(Committed { manifest, added, removed })
}

/// The owners `unpack` recorded for DIR (path → (uid, gid)); none when it
/// recorded none (no `DIR.owners.json`). A record that cannot be read or
/// is malformed is an error naming it.
fn recorded_owners(dir: &Path) -> Result<BTreeMap<String, (u64, u64)>, CommitError> {
    let record = owners_record(dir);
    match fs::read(&record) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| CommitError::OwnerRecord { path: record, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(io_err("read", &record)(e)),
    }
}

/// `(uid, gid)` of entry `path` as a layer entry's 32-bit owner.
fn owner(path: &str, (uid, gid): (u64, u64)) -> Result<Owner, CommitError> {
    let id =
        |what, id: u64| u32::try_from(id).map_err(|_| CommitError::IdOutOfRange { entry: path.to_owned(), what, id });
    Ok(Owner { uid: id("uid", uid)?, gid: id("gid", gid)? })
}

/// Every entry of DIR by image path (no leading `/`), sorted.
fn walk(
    dir: &Path,
    parent: &Merged,
    recorded: &BTreeMap<String, (u64, u64)>,
    as_root: bool,
) -> Result<BTreeMap<String, Found>, CommitError> {
    let mut found = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir).follow_links(false).min_depth(1).sort_by_file_name() {
        let entry = entry.map_err(|source| CommitError::Walk { dir: dir.to_owned(), source })?;
        let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        let path = rel.to_str().ok_or_else(|| CommitError::NotUtf8(entry.path().to_owned()))?;
        let meta = entry.path().symlink_metadata().map_err(io_err("stat", entry.path()))?;
        let kind = if meta.file_type().is_symlink() {
            let target = fs::read_link(entry.path()).map_err(io_err("read the symlink", entry.path()))?;
            Kind::Symlink(target.to_string_lossy().into_owned())
        } else if meta.is_dir() {
            Kind::Dir
        } else if meta.is_file() {
            Kind::File
        } else {
            return Err(CommitError::Special(entry.path().to_owned()));
        };
        let owner = if as_root {
            Owner { uid: meta.uid(), gid: meta.gid() }
        } else if let Some(&ids) = recorded.get(&format!("/{path}")) {
            owner(path, ids)?
        } else if let Some((e, _)) = parent.entries.get(path) {
            owner(path, (e.uid, e.gid))?
        } else {
            Owner::default()
        };
        let mode = if matches!(kind, Kind::Symlink(_)) { 0o777 } else { meta.mode() & 0o7777 };
        found.insert(path.to_owned(), Found { kind, mode, owner, meta, host: entry.path().to_owned() });
    }
    Ok(found)
}

fn hash(path: &Path) -> Result<ContentHash, CommitError> {
    let file = fs::File::open(path).map_err(io_err("read", path))?;
    ContentHash::of_reader(file).map(|(d, _)| d).map_err(io_err("read", path))
}

/// Whether DIR's `entry` differs from the parent's (absent counts).
fn changed(entry: &Found, old: Option<&Entry>, parent: &Merged) -> Result<bool, CommitError> {
    let Some(old) = old else { return Ok(true) };
    let old_kind = match &old.kind {
        Kind::Hardlink(_) => &parent.resolve(&old.path).map_or(Kind::File, |(e, _)| e.kind.clone()),
        kind => kind,
    };
    let same_owner = (old.uid, old.gid) == (u64::from(entry.owner.uid), u64::from(entry.owner.gid));
    let same_mode = matches!(entry.kind, Kind::Symlink(_)) || old.mode == entry.mode;
    if *old_kind != entry.kind || !same_owner || !same_mode {
        return Ok(true);
    }
    if entry.kind != Kind::File {
        return Ok(false);
    }
    let old_content = parent.resolve(&old.path).and_then(|(e, _)| e.content.map(|c| (c, e.size)));
    match old_content {
        Some((content, size)) if size == entry.meta.len() => Ok(hash(&entry.host)? != content),
        _ => Ok(true),
    }
}

/// Whiteouts for what the parent has and DIR does not: the topmost removed
/// path only; an opaque whiteout where a directory kept none of its
/// content. Returns how many paths were removed.
fn removals(
    parent: &Merged,
    found: &BTreeMap<String, Found>,
    tree: &mut Tree,
    loc: &Loc,
) -> Result<usize, CommitError> {
    let gone: BTreeSet<&String> = parent.entries.keys().filter(|p| !found.contains_key(*p)).collect();
    let mut removed = 0;
    let mut emptied: BTreeSet<String> = BTreeSet::new();
    for dir in found.iter().filter(|(_, f)| f.kind == Kind::Dir).map(|(p, _)| p) {
        let children = parent.children(dir);
        if !children.is_empty() && children.iter().all(|c| gone.contains(&format!("{dir}/{c}"))) {
            emptied.insert(dir.clone());
        }
    }
    for path in &gone {
        // Covered already: an ancestor is gone, emptied, or now not a
        // directory (which hides all that was below it).
        let above_gone = Path::new(path.as_str()).ancestors().skip(1).any(|a| {
            let a = a.to_string_lossy();
            gone.contains(&a.to_string())
                || emptied.contains(&*a)
                || found.get(&*a).is_some_and(|f| f.kind != Kind::Dir)
        });
        if above_gone {
            continue;
        }
        let image_path = ImagePath::parse(&format!("/{path}"))?;
        tree.insert_whiteout(&image_path, loc.clone())?;
        removed += 1;
    }
    for dir in &emptied {
        let image_path = ImagePath::parse(&format!("/{dir}"))?;
        if tree.get(&image_path).is_none() {
            let meta = &found[dir];
            tree.insert(
                image_path.clone(),
                Node {
                    kind: NodeKind::Dir,
                    mode: meta.mode,
                    owner: meta.owner,
                    loc: loc.clone(),
                    origin: Origin::Explicit,
                },
            )?;
        }
        tree.insert_opaque(&image_path, loc.clone())?;
        removed += parent.children(dir).len();
    }
    Ok(removed)
}
