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
//! (listed). Ownership is applied when running as root, else recorded.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader};
use std::os::fd::AsRawFd;
use std::path::{Component, Path};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, Permissions, PermissionsExt};

use super::Opened;
use crate::Error;
use crate::oci::compress::decoder;
use crate::oci::layerfs::{self, Change};
use crate::store::Store;

#[derive(Debug, Default)]
pub struct Unpacked {
    pub entries: usize,
    /// Device nodes and fifos not created.
    pub skipped: Vec<String>,
    /// Owners not applied (not running as root): path → (uid, gid).
    pub owners: BTreeMap<String, (u64, u64)>,
}

fn refused(entry: &str, why: impl std::fmt::Display) -> Error {
    Error::Failed(format!("refused layer entry {entry}: {why}"))
}

/// Unpacks the chosen image of `opened` into `dir` (created; it must be
/// empty if it exists).
pub fn unpack(opened: &Opened, store: &Store, dir: &Path) -> Result<Unpacked, Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Failed(format!("cannot create {}: {e}", dir.display())))?;
    let root = Dir::open_ambient_dir(dir, ambient_authority())
        .map_err(|e| Error::Failed(format!("cannot open {}: {e}", dir.display())))?;
    if root.entries().map_err(|e| Error::Failed(format!("cannot list {}: {e}", dir.display())))?.next().is_some() {
        return Err(Error::Failed(format!("{} is not empty: unpack needs a new or empty directory", dir.display())));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let as_root = unsafe { libc::geteuid() } == 0;
    let mut report = Unpacked::default();
    for layer in &opened.image().layers {
        let blob = store.blob_path(&layer.digest);
        let read_err = |e: io::Error| Error::Failed(format!("cannot read layer {}: {e}", layer.digest));
        // Whiteouts first: they remove what the layers below put there.
        for change in layerfs::read_layer(&blob, layer.media_type, false).map_err(read_err)? {
            match change {
                Change::Whiteout(path) => remove(&root, &checked(&path)?, &path)?,
                Change::Opaque(path) => {
                    let rel = checked(&path)?;
                    let target = if rel.is_empty() { None } else { Some(rel.as_str()) };
                    empty(&root, target, &path)?;
                }
                Change::Add(_) => {}
            }
        }
        let mut archive = tar::Archive::new(
            decoder(layer.media_type, BufReader::new(File::open(&blob).map_err(read_err)?)).map_err(read_err)?,
        );
        let mut dir_modes = Vec::new();
        for entry in archive.entries().map_err(read_err)? {
            let mut entry = entry.map_err(read_err)?;
            let name = entry.path().map_err(read_err)?.to_string_lossy().into_owned();
            let path = checked(&layerfs::normalise(&name))?;
            let file_name = path.rsplit('/').next().unwrap_or_default();
            if path.is_empty() || file_name.starts_with(".wh.") {
                continue;
            }
            let header = entry.header();
            let (mode, uid, gid) =
                (header.mode().unwrap_or(0o644) & 0o7777, header.uid().unwrap_or(0), header.gid().unwrap_or(0));
            let kind = header.entry_type();
            if let Some(parent) = Path::new(&path).parent().filter(|p| !p.as_os_str().is_empty()) {
                root.create_dir_all(parent).map_err(|e| refused(&name, format!("cannot create its directory: {e}")))?;
            }
            let existing = root.symlink_metadata(&path).ok();
            if kind.is_dir() {
                match existing {
                    Some(meta) if meta.is_dir() => {}
                    Some(_) => {
                        remove(&root, &path, &name)?;
                        root.create_dir(&path).map_err(|e| refused(&name, e))?;
                    }
                    None => root.create_dir(&path).map_err(|e| refused(&name, e))?,
                }
                dir_modes.push((path.clone(), mode));
            } else {
                if existing.is_some() {
                    remove(&root, &path, &name)?;
                }
                if kind.is_file() {
                    let mut file = root.create(&path).map_err(|e| refused(&name, e))?;
                    io::copy(&mut entry, &mut file).map_err(read_err)?;
                    root.set_permissions(&path, Permissions::from_mode(mode)).map_err(|e| refused(&name, e))?;
                } else if kind.is_symlink() {
                    let target = entry.link_name().map_err(read_err)?.unwrap_or_default().into_owned();
                    root.symlink_contents(&target, &path).map_err(|e| refused(&name, e))?;
                } else if kind.is_hard_link() {
                    let target =
                        entry.link_name().map_err(read_err)?.unwrap_or_default().to_string_lossy().into_owned();
                    let target = checked(&layerfs::normalise(&target))?;
                    root.hard_link(&target, &root, &path)
                        .map_err(|e| refused(&name, format!("hard link to /{target}: {e}")))?;
                } else {
                    report.skipped.push(format!("/{path}"));
                    continue;
                }
            }
            report.entries += 1;
            if (uid, gid) != (0, 0) || as_root {
                if as_root {
                    chown(&root, &path, uid, gid).map_err(|e| refused(&name, format!("cannot set its owner: {e}")))?;
                } else {
                    report.owners.insert(format!("/{path}"), (uid, gid));
                }
            }
        }
        // Directory modes last, so a read-only directory could be filled.
        for (path, mode) in dir_modes.into_iter().rev() {
            root.set_permissions(&path, Permissions::from_mode(mode)).map_err(|e| refused(&path, e))?;
        }
    }
    Ok(report)
}

/// A layer path that may not climb out: `..` anywhere is refused.
fn checked(path: &str) -> Result<String, Error> {
    if Path::new(path).components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(refused(path, "`..` climbs out of the root"));
    }
    Ok(path.to_owned())
}

fn remove(root: &Dir, path: &str, name: &str) -> Result<(), Error> {
    match root.symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => root.remove_dir_all(path),
        Ok(_) => root.remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
    .map_err(|e| refused(name, e))
}

/// Removes everything inside `dir` (the root when `None`).
fn empty(root: &Dir, dir: Option<&str>, name: &str) -> Result<(), Error> {
    let target = match dir {
        Some(path) => match root.open_dir(path) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(refused(name, e)),
        },
        None => root.try_clone().map_err(|e| refused(name, e))?,
    };
    let names: Vec<std::ffi::OsString> =
        target.entries().map_err(|e| refused(name, e))?.filter_map(Result::ok).map(|e| e.file_name()).collect();
    for child in names {
        let child = child.to_string_lossy().into_owned();
        remove(&target, &child, name)?;
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
