//! `unpack`: the merged root file system of an image in a directory, the
//! layers applied in order as a runtime would (whiteouts and opaque
//! whiteouts remove what lower layers put there).
//!
//! Every path is resolved relative to an open handle of the directory
//! (cap-std), never by string checks: nothing is written, changed or
//! followed outside it, whatever the layers hold. Entries with `..` are
//! refused; absolute names are taken below the directory; a write through
//! a symlink that leads out, or a hard link to outside or to nothing, is
//! refused with the entry named. Device nodes and fifos are not created
//! (listed). Ownership is applied when running as root, else recorded
//! (and written beside the directory by [`write_owners`], where `commit`
//! reads it back).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader};
use std::os::fd::AsRawFd;
use std::path::{Component, Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, Permissions, PermissionsExt};

use super::error::{io_err, layer_err, refused};
use super::{InspectError, Opened};
use crate::oci::compress::decoder;
use crate::oci::image::BuiltLayer;
use crate::oci::layerfs::{self, Change};
use crate::oci::tar_entries::{applied, each_entry};
use crate::store::Store;

#[derive(Debug, Default)]
pub(crate) struct Unpacked {
    pub entries: usize,
    /// Device nodes and fifos not created.
    pub skipped: Vec<String>,
    /// Owners not applied (not running as root): path → (uid, gid).
    pub owners: BTreeMap<String, (u64, u64)>,
}

/// Where the owners `unpack` could not apply to `dir` are recorded:
/// `DIR.owners.json` beside it.
pub(crate) fn owners_record(dir: &Path) -> PathBuf {
    let mut record = dir.as_os_str().to_owned();
    record.push(".owners.json");
    PathBuf::from(record)
}

/// Writes the owners not applied to `dir` (path → (uid, gid)) to its
/// [`owners_record`], which it returns.
pub(crate) fn write_owners(dir: &Path, owners: &BTreeMap<String, (u64, u64)>) -> Result<PathBuf, InspectError> {
    let record = owners_record(dir);
    let text =
        serde_json::to_vec_pretty(owners).map_err(|source| InspectError::Json { what: "the owner record", source })?;
    std::fs::write(&record, text).map_err(io_err("write", &record))?;
    Ok(record)
}

/// Unpacks the chosen image of `opened` into `dir` (created; it must be
/// empty if it exists).
pub(crate) fn unpack(opened: &Opened, store: &Store, dir: &Path) -> Result<Unpacked, InspectError> {
    std::fs::create_dir_all(dir).map_err(io_err("create", dir))?;
    let root = Dir::open_ambient_dir(dir, ambient_authority()).map_err(io_err("open", dir))?;
    if root.entries().map_err(io_err("list", dir))?.next().is_some() {
        return Err(InspectError::NotEmpty(dir.to_owned()));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let as_root = unsafe { libc::geteuid() } == 0;
    let mut report = Unpacked::default();
    for layer in &opened.image().layers {
        let blob = store.blob_path(&layer.digest);
        // Whiteouts first: they remove what the layers below put there.
        for change in layerfs::read_layer(&blob, layer.media_type, false, Some(&layer.diff_id))
            .map_err(layer_err(&layer.digest))?
        {
            match change {
                Change::Whiteout(path) => remove(&root, &checked(&path)?, &path, "remove it")?,
                Change::Opaque(path) => {
                    let rel = checked(&path)?;
                    let target = if rel.is_empty() { None } else { Some(rel.as_str()) };
                    empty(&root, target, &path)?;
                }
                Change::Add(_) => {}
            }
        }
        extract(&root, layer, &blob, as_root, &mut report)?;
    }
    Ok(report)
}

/// Writes the entries of one layer (its whiteouts already applied): each
/// with its owner (as root; else recorded), then its mode.
fn extract(
    root: &Dir,
    layer: &BuiltLayer,
    blob: &Path,
    as_root: bool,
    report: &mut Unpacked,
) -> Result<(), InspectError> {
    let read_err = layer_err(&layer.digest);
    let stream = decoder(layer.media_type, BufReader::new(File::open(blob).map_err(&read_err)?)).map_err(&read_err)?;
    let mut dir_modes = Vec::new();
    each_entry(stream, &read_err, |entry| {
        let name = entry.path().map_err(&read_err)?.to_string_lossy().into_owned();
        let path = checked(&layerfs::normalise(&name))?;
        let (dir, file_name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
        // Whiteouts (applied before) and aufs metadata are no files.
        if path.is_empty() || layerfs::whiteout(dir, file_name).is_ok_and(|w| w.is_some()) {
            return Ok(());
        }
        if !applied(entry).map_err(&read_err)? {
            return Ok(());
        }
        let header = entry.header();
        let (mode, uid, gid) =
            (header.mode().unwrap_or(0o644) & 0o7777, header.uid().unwrap_or(0), header.gid().unwrap_or(0));
        let kind = header.entry_type();
        if !write_entry(root, entry, &name, &path, &read_err)? {
            report.skipped.push(format!("/{path}"));
            return Ok(());
        }
        report.entries += 1;
        if as_root {
            chown(root, &path, uid, gid).map_err(refused(&name, "set its owner"))?;
        } else if (uid, gid) != (0, 0) {
            report.owners.insert(format!("/{path}"), (uid, gid));
        }
        // The mode after the owner: chown clears setuid and setgid.
        if kind.is_dir() {
            dir_modes.push((path, mode));
        } else if kind.is_file() {
            root.set_permissions(&path, Permissions::from_mode(mode)).map_err(refused(&name, "set its mode"))?;
        }
        Ok(())
    })?;
    // Directory modes last, so a read-only directory could be filled.
    for (path, mode) in dir_modes.into_iter().rev() {
        root.set_permissions(&path, Permissions::from_mode(mode)).map_err(refused(&path, "set its mode"))?;
    }
    Ok(())
}

/// Creates one entry at `path` (replacing what is there); false for a kind
/// that is not unpacked (devices, FIFOs).
fn write_entry<R: io::Read>(
    root: &Dir,
    entry: &mut tar::Entry<'_, R>,
    name: &str,
    path: &str,
    read_err: &impl Fn(io::Error) -> InspectError,
) -> Result<bool, InspectError> {
    let kind = entry.header().entry_type();
    if let Some(parent) = Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
        root.create_dir_all(parent).map_err(refused(name, "create its directory"))?;
    }
    let existing = root.symlink_metadata(path).ok();
    if kind.is_dir() {
        match existing {
            Some(meta) if meta.is_dir() => {}
            Some(_) => {
                remove(root, path, name, "replace what is there")?;
                root.create_dir(path).map_err(refused(name, "create it"))?;
            }
            None => root.create_dir(path).map_err(refused(name, "create it"))?,
        }
        return Ok(true);
    }
    if !(kind.is_file() || kind.is_symlink() || kind.is_hard_link()) {
        return Ok(false);
    }
    if existing.is_some() {
        remove(root, path, name, "replace what is there")?;
    }
    if kind.is_file() {
        let mut file = root.create(path).map_err(refused(name, "create it"))?;
        io::copy(entry, &mut file).map_err(read_err)?;
    } else if kind.is_symlink() {
        let target = entry.link_name().map_err(read_err)?.unwrap_or_default().into_owned();
        root.symlink_contents(&target, path).map_err(refused(name, "create it"))?;
    } else {
        let target = entry.link_name().map_err(read_err)?.unwrap_or_default().to_string_lossy().into_owned();
        let target = checked(&layerfs::normalise(&target))?;
        root.hard_link(&target, root, path).map_err(|source| InspectError::HardLink {
            entry: name.to_owned(),
            target,
            source,
        })?;
    }
    Ok(true)
}

/// A layer path that may not climb out: `..` anywhere is refused.
fn checked(path: &str) -> Result<String, InspectError> {
    if Path::new(path).components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(InspectError::ClimbsOut { entry: path.to_owned() });
    }
    Ok(path.to_owned())
}

/// Removes `path` (a whole directory too) for layer entry `name`.
fn remove(root: &Dir, path: &str, name: &str, action: &'static str) -> Result<(), InspectError> {
    match root.symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => root.remove_dir_all(path),
        Ok(_) => root.remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
    .map_err(refused(name, action))
}

/// Removes everything inside `dir` (the root when `None`).
fn empty(root: &Dir, dir: Option<&str>, name: &str) -> Result<(), InspectError> {
    let target = match dir {
        Some(path) => match root.open_dir(path) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(refused(name, "empty it")(e)),
        },
        None => root.try_clone().map_err(refused(name, "empty it"))?,
    };
    let names: Vec<std::ffi::OsString> =
        target.entries().map_err(refused(name, "empty it"))?.filter_map(Result::ok).map(|e| e.file_name()).collect();
    for child in names {
        let child = child.to_string_lossy().into_owned();
        remove(&target, &child, name, "empty it")?;
    }
    Ok(())
}

/// `chown` of `path` itself (never a symlink's target), through its
/// parent's handle.
fn chown(root: &Dir, path: &str, uid: u64, gid: u64) -> io::Result<()> {
    let (parent, file) = match path.rsplit_once('/') {
        Some((parent, file)) => (root.open_dir(parent)?, file),
        None => (root.try_clone()?, path),
    };
    let file = std::ffi::CString::new(file).map_err(io::Error::other)?;
    let (uid, gid) = (u32::try_from(uid).map_err(io::Error::other)?, u32::try_from(gid).map_err(io::Error::other)?);
    // SAFETY: a valid directory descriptor and a NUL-terminated name.
    let result = unsafe { libc::fchownat(parent.as_raw_fd(), file.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) };
    if result == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}
