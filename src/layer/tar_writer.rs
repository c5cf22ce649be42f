//! The deterministic tar writer (docs/recipes.md#reproducibility). It walks a [`Tree`] in its
//! (bytewise sorted) order and writes explicit ustar headers: mode, uid and
//! gid from the plan, empty user and group names, mtime from
//! SOURCE_DATE_EPOCH, no atime/ctime. A PAX extended header carries what
//! ustar cannot hold (long names and link targets, huge sizes and ids).
//! File contents are streamed, and a host file that changes size while it is
//! read is an error rather than a corrupt archive.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};
use thiserror::Error;

use crate::digest::ContentHash;
use crate::plan::tree::{FileSource, Node, NodeKind, Tree};
use crate::recipe::ImagePath;
use crate::store::fingerprint::Fingerprint;

const BLOCK: usize = 512;
/// Largest value of an 11-digit octal ustar size field.
const USTAR_MAX_SIZE: u64 = 0o777_7777_7777;
/// Largest value of a 7-digit octal ustar uid/gid field.
const USTAR_MAX_ID: u32 = 0o777_7777;
/// Largest mtime an 11-digit octal field holds; the CLI refuses later epochs.
pub(crate) const MAX_MTIME: u64 = 0o777_7777_7777;

#[derive(Debug, Error)]
pub(crate) enum TarError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} changed while it was being read (expected {expected} bytes)", path.display())]
    Changed { path: PathBuf, expected: u64 },
    #[error("cannot write layer")]
    Write(#[source] io::Error),
}

/// Writes `tree` as a complete tar stream (ending in two zero blocks),
/// calling `written` with each entry's content size. Host files whose
/// content digest the plan does not know yet are hashed as they are
/// written: those digests are returned.
pub(crate) fn write_tree(
    tree: &Tree,
    mtime: u64,
    out: &mut impl Write,
    written: &dyn Fn(u64),
) -> Result<Vec<(ImagePath, ContentHash)>, TarError> {
    let mut buf = vec![0u8; 1 << 17];
    let mut hashed = Vec::new();
    for (path, node) in tree.iter() {
        if let Some(digest) = write_entry(out, path, node, mtime, &mut buf)? {
            hashed.push((path.clone(), digest));
        }
        written(match &node.kind {
            NodeKind::File(source) => source.size(),
            _ => 0,
        });
    }
    out.write_all(&[0u8; 2 * BLOCK]).map_err(TarError::Write)?;
    Ok(hashed)
}

fn write_entry(
    out: &mut impl Write,
    path: &ImagePath,
    node: &Node,
    mtime: u64,
    buf: &mut [u8],
) -> Result<Option<ContentHash>, TarError> {
    let name = match node.kind {
        NodeKind::Dir => format!("{}/", path.as_str()),
        _ => path.as_str().to_owned(),
    };
    let (entry_type, size, link) = match &node.kind {
        NodeKind::Dir => (EntryType::Directory, 0, None),
        NodeKind::File(source) => (EntryType::Regular, source.size(), None),
        NodeKind::Symlink(target) => (EntryType::Symlink, 0, Some(target.clone())),
        NodeKind::Hardlink(target) => (EntryType::Link, 0, Some(target.as_str().to_owned())),
        NodeKind::Whiteout | NodeKind::OpaqueWhiteout => (EntryType::Regular, 0, None),
    };
    let mut pax: Vec<(&str, String)> = Vec::new();
    if name.len() > 100 {
        pax.push(("path", name.clone()));
    }
    if let Some(link) = link.as_ref().filter(|l| l.len() > 100) {
        pax.push(("linkpath", link.clone()));
    }
    if size > USTAR_MAX_SIZE {
        pax.push(("size", size.to_string()));
    }
    if node.owner.uid > USTAR_MAX_ID {
        pax.push(("uid", node.owner.uid.to_string()));
    }
    if node.owner.gid > USTAR_MAX_ID {
        pax.push(("gid", node.owner.gid.to_string()));
    }
    if !pax.is_empty() {
        write_pax(out, &pax, mtime)?;
    }

    let mut header = base_header(entry_type, node.mode, mtime);
    put_field(&mut header.as_old_mut().name, name.as_bytes());
    if let Some(link) = &link {
        put_field(&mut header.as_old_mut().linkname, link.as_bytes());
    }
    header.set_uid(u64::from(node.owner.uid.min(USTAR_MAX_ID)));
    header.set_gid(u64::from(node.owner.gid.min(USTAR_MAX_ID)));
    header.set_size(size.min(USTAR_MAX_SIZE));
    header.set_cksum();
    out.write_all(header.as_bytes()).map_err(TarError::Write)?;

    let mut hashed = None;
    match &node.kind {
        NodeKind::File(FileSource::Inline(bytes)) => out.write_all(bytes).map_err(TarError::Write)?,
        NodeKind::File(FileSource::Host { path, fingerprint, content: Some(_), .. }) => {
            copy_exact(path, fingerprint, out, buf, None)?;
        }
        NodeKind::File(FileSource::Host { path, fingerprint, content: None, .. }) => {
            let mut hasher = blake3::Hasher::new();
            copy_exact(path, fingerprint, out, buf, Some(&mut hasher))?;
            hashed = Some(ContentHash::from_hasher(&hasher));
        }
        _ => return Ok(None),
    }
    pad(out, size)?;
    Ok(hashed)
}

/// A ustar header with every field that does not depend on the entry set.
fn base_header(entry_type: EntryType, mode: u32, mtime: u64) -> Header {
    let mut header = Header::new_ustar();
    header.set_entry_type(entry_type);
    header.set_mode(mode);
    header.set_mtime(mtime);
    header.set_uid(0);
    header.set_gid(0);
    header.set_size(0);
    header.set_device_major(0).ok();
    header.set_device_minor(0).ok();
    header
}

/// Writes a PAX extended header (`x`) applying to the next entry.
fn write_pax(out: &mut impl Write, records: &[(&str, String)], mtime: u64) -> Result<(), TarError> {
    let mut body = Vec::new();
    for (key, value) in records {
        // Each record is "LEN KEY=VALUE\n" where LEN counts itself.
        let rest = key.len() + value.len() + 3;
        let mut len = rest + 1;
        while len != rest + len.to_string().len() {
            len = rest + len.to_string().len();
        }
        body.extend_from_slice(format!("{len} {key}={value}\n").as_bytes());
    }
    let mut header = base_header(EntryType::XHeader, 0o644, mtime);
    put_field(&mut header.as_old_mut().name, b"././@PaxHeader");
    header.set_size(body.len() as u64);
    header.set_cksum();
    out.write_all(header.as_bytes()).map_err(TarError::Write)?;
    out.write_all(&body).map_err(TarError::Write)?;
    pad(out, body.len() as u64)
}

/// Copies exactly the planned bytes of `path`; a file that changed since it
/// was planned (size, mtime or ctime) is an error, so a layer never holds
/// content other than the one its cache key was computed from.
fn copy_exact(
    path: &Path,
    planned: &Fingerprint,
    out: &mut impl Write,
    buf: &mut [u8],
    mut hasher: Option<&mut blake3::Hasher>,
) -> Result<(), TarError> {
    let read_err = |source| TarError::Read { path: path.to_owned(), source };
    let changed = || TarError::Changed { path: path.to_owned(), expected: planned.size };
    let mut file = File::open(path).map_err(read_err)?;
    let mut left = planned.size;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = file.read(&mut buf[..want]).map_err(read_err)?;
        if n == 0 {
            return Err(changed());
        }
        out.write_all(&buf[..n]).map_err(TarError::Write)?;
        if let Some(hasher) = hasher.as_mut() {
            hasher.update(&buf[..n]);
        }
        left -= n as u64;
    }
    if file.read(&mut buf[..1]).map_err(read_err)? != 0 {
        return Err(changed());
    }
    let now = Fingerprint::of(&file.metadata().map_err(read_err)?);
    if (now.size, now.mtime, now.ctime) != (planned.size, planned.mtime, planned.ctime) {
        return Err(changed());
    }
    Ok(())
}

fn pad(out: &mut impl Write, size: u64) -> Result<(), TarError> {
    let rem = (size % BLOCK as u64) as usize;
    if rem != 0 {
        out.write_all(&[0u8; BLOCK][..BLOCK - rem]).map_err(TarError::Write)?;
    }
    Ok(())
}

/// Fills a fixed-size header field, truncating (the PAX record holds the
/// full value when it does not fit).
fn put_field(field: &mut [u8], value: &[u8]) {
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
}

#[cfg(test)]
#[path = "tar_writer_tests.rs"]
mod tests;
