//! One `compose-img commit DIR --parent REF --output REF`: the container
//! layer without a runtime. DIR (typically from `unpack`, then changed) is
//! compared with the parent's merged file system; exactly one new layer
//! holds what was added or changed (with every parent directory of it, as
//! it is in DIR) and whiteouts for what was removed (opaque where a whole
//! directory's content was replaced). It goes through the same tar writer
//! and normalisation as recipe layers, so the same DIR content gives the
//! same digest.
//!
//! Owners: as root, DIR's own; otherwise those `unpack` recorded in
//! `DIR.owners.json`, else the parent's for a path it has, else 0:0.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::Error;
use crate::assemble::commit_image;
use crate::digest::{ContentHash, Digest};
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

pub struct CommitRequest<'a> {
    pub dir: &'a Path,
    pub parent: &'a ImageRef,
    pub output: &'a ImageRef,
    pub message: Option<&'a str>,
    pub platform: Option<&'a Platform>,
    pub settings: BuildSettings,
    pub registry: ClientOptions,
}

pub struct Committed {
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

pub fn commit(request: &CommitRequest<'_>, store: &Store) -> Result<Committed, Error> {
    let opened = inspect::open(request.parent, request.platform, store, &request.registry)?;
    let parent = files::merged(&opened, store, true)?;
    let recorded = recorded_owners(request.dir)?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let as_root = unsafe { libc::geteuid() } == 0;
    let found = walk(request.dir, &parent, &recorded, as_root)?;

    let file = Arc::new(SourceFile { name: format!("commit {}", request.dir.display()), text: Arc::from("") });
    let loc = Loc { file, span: 0..0 };
    let node = |kind, mode, owner| Node { kind, mode, owner, loc: loc.clone(), origin: Origin::Explicit };
    let located = |e: crate::recipe::LocatedError| Error::Failed(e.to_string());
    let mut tree = Tree::default();
    let mut added = 0;
    for (path, entry) in &found {
        if !changed(entry, parent.entries.get(path).map(|(e, _)| e), &parent)? {
            continue;
        }
        added += 1;
        // Every directory above it, as it is in DIR (not a default 0755).
        let mut ancestor = Path::new(path).parent();
        while let Some(dir) = ancestor.filter(|d| !d.as_os_str().is_empty()) {
            let key = dir.to_string_lossy().into_owned();
            if let Some(d) = found.get(&key) {
                let image_path = ImagePath::parse(&format!("/{key}")).map_err(Error::Failed)?;
                if tree.get(&image_path).is_none() {
                    tree.insert(image_path, node(NodeKind::Dir, d.mode, d.owner)).map_err(located)?;
                }
            }
            ancestor = dir.parent();
        }
        let image_path = ImagePath::parse(&format!("/{path}")).map_err(Error::Failed)?;
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
        tree.insert(image_path, node(kind, entry.mode, entry.owner)).map_err(located)?;
    }
    let removed = removals(&parent, &found, &mut tree, &loc).map_err(located)?;
    crate::plan::links::resolve(&mut tree).map_err(located)?;

    let plan = LayerPlan { name: "commit".into(), tree, salt: Vec::new(), deferred: Vec::new(), log: Vec::new() };
    let key = layer_key(&plan.tree, &plan.salt, &request.settings);
    let keys = LayerKeys { content: Some(key), stat: None };
    let layer = build_layer(&plan, &keys, &request.settings, store, true, &Silent)
        .map_err(|source| Error::Build { recipe: format!("commit {}", request.dir.display()), source })?
        .layer;
    let image = commit_image(opened.image(), layer, request.message, request.settings.source_date_epoch, store)
        .map_err(|source| Error::Assemble { recipe: format!("commit {}", request.dir.display()), source })?;
    let manifest = image.manifest.digest.clone();
    let tagged = Tagged::single(image);
    let tag = request.output.tag().unwrap_or("latest").to_owned();
    let repo = match request.output {
        ImageRef::Docker(r) => r.repo_name(),
        _ => format!("localhost/{}", transport::tag_less_name(request.output)),
    };
    let shown = request.output.to_string();
    transport::write(request.output, &tagged, &[tag], &[], &repo, store, &request.registry)
        .map_err(|source| Error::Output { output: shown.clone(), source })?;
    store.record_output(&shown, &tagged.blobs())?;
    Ok(Committed { manifest, added, removed })
}

fn recorded_owners(dir: &Path) -> Result<BTreeMap<String, (u64, u64)>, Error> {
    let mut record = dir.as_os_str().to_owned();
    record.push(".owners.json");
    match fs::read(&record) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map_err(|e| Error::Failed(format!("{}: {e}", Path::new(&record).display())))
        }
        Err(_) => Ok(BTreeMap::new()),
    }
}

/// Every entry of DIR by image path (no leading `/`), sorted.
fn walk(
    dir: &Path,
    parent: &Merged,
    recorded: &BTreeMap<String, (u64, u64)>,
    as_root: bool,
) -> Result<BTreeMap<String, Found>, Error> {
    let mut found = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir).follow_links(false).min_depth(1).sort_by_file_name() {
        let entry = entry.map_err(|e| Error::Failed(format!("cannot read {}: {e}", dir.display())))?;
        let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        let path = rel.to_str().ok_or_else(|| Error::Failed(format!("{} is not UTF-8", entry.path().display())))?;
        let meta =
            entry.path().symlink_metadata().map_err(|e| Error::Failed(format!("{}: {e}", entry.path().display())))?;
        let kind = if meta.file_type().is_symlink() {
            let target =
                fs::read_link(entry.path()).map_err(|e| Error::Failed(format!("{}: {e}", entry.path().display())))?;
            Kind::Symlink(target.to_string_lossy().into_owned())
        } else if meta.is_dir() {
            Kind::Dir
        } else if meta.is_file() {
            Kind::File
        } else {
            return Err(Error::Failed(format!(
                "{} is a device, fifo or socket: commit takes files, directories and symlinks",
                entry.path().display()
            )));
        };
        let owner = if as_root {
            Owner { uid: meta.uid(), gid: meta.gid() }
        } else if let Some((uid, gid)) = recorded.get(&format!("/{path}")) {
            Owner { uid: *uid as u32, gid: *gid as u32 }
        } else if let Some((e, _)) = parent.entries.get(path) {
            Owner { uid: e.uid as u32, gid: e.gid as u32 }
        } else {
            Owner::default()
        };
        let mode = if matches!(kind, Kind::Symlink(_)) { 0o777 } else { meta.mode() & 0o7777 };
        found.insert(path.to_owned(), Found { kind, mode, owner, meta, host: entry.path().to_owned() });
    }
    Ok(found)
}

fn hash(path: &Path) -> Result<ContentHash, Error> {
    let file = fs::File::open(path).map_err(|e| Error::Failed(format!("cannot read {}: {e}", path.display())))?;
    ContentHash::of_reader(file)
        .map(|(d, _)| d)
        .map_err(|e| Error::Failed(format!("cannot read {}: {e}", path.display())))
}

/// Whether DIR's `entry` differs from the parent's (absent counts).
fn changed(entry: &Found, old: Option<&Entry>, parent: &Merged) -> Result<bool, Error> {
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
) -> Result<usize, crate::recipe::LocatedError> {
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
        let image_path = ImagePath::parse(&format!("/{path}")).map_err(|e| loc.error(e, "commit"))?;
        tree.insert_whiteout(&image_path, loc.clone())?;
        removed += 1;
    }
    for dir in &emptied {
        let image_path = ImagePath::parse(&format!("/{dir}")).map_err(|e| loc.error(e, "commit"))?;
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
