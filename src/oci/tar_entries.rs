//! Reading a tar somebody else wrote, entry by entry, with the memory its
//! headers take bounded. The tar crate reads a GNU long name or long link
//! and a pax extended header whole into memory, however large its size
//! field says it is; in a compressed layer a few kilobytes can declare
//! gigabytes (found by fuzzing, `fuzz/` target `layer`: a 40 KB zstd layer
//! took 1.2 GB). Here moving to the next entry (its header blocks, long
//! names and pax records) may read at most [`MAX_HEADERS`] bytes; what
//! the caller leaves unread of an entry's content is read past first,
//! outside that bound.

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

/// What the headers of one entry may take: GNU long names and links, pax
/// records (paths, link targets, extended attributes), sparse maps.
pub(crate) const MAX_HEADERS: u64 = 1 << 20;

/// The reader under the tar: while the next entry's headers are read, it
/// yields at most what is left of [`MAX_HEADERS`], then fails.
pub(crate) struct Bounded<R> {
    inner: R,
    left: Rc<Cell<Option<u64>>>,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(left) = self.left.get() else { return self.inner.read(buf) };
        if left == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("an entry's headers (long names, pax records) take more than {MAX_HEADERS} bytes"),
            ));
        }
        let room = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..room])?;
        self.left.set(Some(left - n as u64));
        Ok(n)
    }
}

/// Calls `each` on every entry of the tar `reader` yields, in order, then
/// returns `reader` (at the end of the archive). An error of the tar
/// itself, or one reading past an entry, goes through `tar_error`.
pub(crate) fn each_entry<R: Read, E>(
    reader: R,
    tar_error: impl Fn(io::Error) -> E,
    mut each: impl FnMut(&mut tar::Entry<'_, Bounded<R>>) -> Result<(), E>,
) -> Result<R, E> {
    let left = Rc::new(Cell::new(None));
    let mut archive = tar::Archive::new(Bounded { inner: reader, left: Rc::clone(&left) });
    let mut entries = archive.entries().map_err(&tar_error)?;
    loop {
        left.set(Some(MAX_HEADERS));
        let next = entries.next();
        left.set(None);
        let Some(entry) = next else { break };
        let mut entry = entry.map_err(&tar_error)?;
        if let Some(path) = sparse(&mut entry).map_err(&tar_error)? {
            return Err(tar_error(io::Error::new(io::ErrorKind::InvalidData, SparseEntry { path })));
        }
        each(&mut entry)?;
        io::copy(&mut entry, &mut io::sink()).map_err(&tar_error)?;
    }
    Ok(archive.into_inner().inner)
}

/// An entry stored as a sparse file by `tar --sparse`: an old GNU `S`
/// entry (which runtimes and umoci refuse, and whose holes the tar crate
/// would expand however large it says they are: a few bytes can declare a
/// terabyte) or a pax one (`GNU.sparse.*` records, read by anything else
/// as a file under `GNUSparseFile.N/` holding the sparse map).
#[derive(Debug, thiserror::Error)]
#[error("`{path}` is stored as a sparse file (tar --sparse), which is not read: write the layer without --sparse")]
pub(crate) struct SparseEntry {
    /// The file's name (for pax, the one its `GNU.sparse.name` record gives).
    pub path: String,
}

/// The name of `entry` when it is stored sparse.
fn sparse<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Option<String>> {
    let mut found = entry.header().entry_type().is_gnu_sparse();
    let mut name = None;
    for record in entry.pax_extensions()?.into_iter().flatten() {
        let record = record?;
        let Ok(key) = record.key() else { continue };
        if key == "GNU.sparse.name" {
            name = Some(String::from_utf8_lossy(record.value_bytes()).into_owned());
        }
        found |= key.starts_with("GNU.sparse.");
    }
    if !found {
        return Ok(None);
    }
    Ok(Some(match name {
        Some(name) => name,
        None => entry.path()?.to_string_lossy().into_owned(),
    }))
}

/// A layer entry of a type no runtime applies: a contiguous file, a GNU
/// dump directory, a volume label, a multi-volume continuation, or a type
/// byte no tar defines (containerd refuses them all, as podman does).
#[derive(Debug, thiserror::Error)]
#[error("`{path}` is a tar entry of type '{flag}', which no runtime applies to a file system")]
pub(crate) struct UnappliedEntry {
    pub path: String,
    pub flag: char,
}

/// Whether a layer's entry `entry` is applied to the file system (false
/// for a pax global header, which runtimes ignore: `git archive` writes
/// one), or why it is refused.
pub(crate) fn applied<R: Read>(entry: &tar::Entry<'_, R>) -> io::Result<bool> {
    use tar::EntryType::*;
    match entry.header().entry_type() {
        Regular | Link | Symlink | Char | Block | Directory | Fifo => Ok(true),
        XGlobalHeader => Ok(false),
        other => {
            let path = entry.path()?.to_string_lossy().into_owned();
            let unapplied = UnappliedEntry { path, flag: char::from(other.as_byte()) };
            Err(io::Error::new(io::ErrorKind::InvalidData, unapplied))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar whose first member is an extension header of `kind` that says
    /// it holds `size` bytes, all `a`, made as it is read (nothing of that
    /// size is ever in memory but what the reader keeps).
    fn claiming(kind: tar::EntryType, size: u64) -> impl Read {
        let mut header = tar::Header::new_gnu();
        header.set_path("././@LongLink").unwrap();
        header.set_entry_type(kind);
        header.set_size(size);
        header.set_cksum();
        let mut file = tar::Header::new_gnu();
        file.set_path("f").unwrap();
        file.set_size(0);
        file.set_cksum();
        let padding = (512 - size % 512) % 512;
        io::Cursor::new(header.as_bytes().to_vec())
            .chain(io::repeat(b'a').take(size))
            .chain(io::repeat(0).take(padding))
            .chain(io::Cursor::new(file.as_bytes().to_vec()))
            .chain(io::repeat(0).take(1024))
    }

    fn paths(reader: impl Read) -> io::Result<Vec<String>> {
        let mut paths = Vec::new();
        each_entry(
            reader,
            |e| e,
            |entry| {
                paths.push(entry.path()?.to_string_lossy().into_owned());
                Ok(())
            },
        )?;
        Ok(paths)
    }

    /// Found by fuzzing (`fuzz/` target `layer`): a long name or pax header
    /// that claims a terabyte is refused after a megabyte, not read into
    /// memory.
    #[test]
    fn an_entry_whose_headers_claim_more_than_the_bound_is_refused() {
        for kind in [tar::EntryType::GNULongName, tar::EntryType::GNULongLink, tar::EntryType::XHeader] {
            let error = paths(claiming(kind, 1 << 40)).unwrap_err();
            assert!(
                error.to_string().contains("headers (long names, pax records) take more than"),
                "{kind:?}: {error}"
            );
        }
        let name = "d/".repeat(2000) + "f";
        let mut long = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(3);
        long.append_data(&mut header, &name, &b"abc"[..]).unwrap();
        assert_eq!(paths(io::Cursor::new(long.into_inner().unwrap())).unwrap(), [name]);
    }

    /// Content the caller leaves unread is read past outside the bound.
    #[test]
    fn unread_content_does_not_count() {
        let mut tar = tar::Builder::new(Vec::new());
        for name in ["big", "next"] {
            let size = if name == "big" { 3 * MAX_HEADERS } else { 1 };
            let mut header = tar::Header::new_gnu();
            header.set_size(size);
            tar.append_data(&mut header, name, io::repeat(b'x').take(size)).unwrap();
        }
        assert_eq!(paths(io::Cursor::new(tar.into_inner().unwrap())).unwrap(), ["big", "next"]);
    }

    /// A contiguous file (type `7`) is refused, naming it; a pax global
    /// header is not applied; the usual kinds are.
    #[test]
    fn entries_no_runtime_applies_are_refused() {
        let mut tar = tar::Builder::new(Vec::new());
        for (name, kind) in
            [("f", tar::EntryType::Regular), ("g", tar::EntryType::XGlobalHeader), ("c", tar::EntryType::Continuous)]
        {
            let mut header = tar::Header::new_ustar();
            header.set_entry_type(kind);
            header.set_size(0);
            tar.append_data(&mut header, name, io::empty()).unwrap();
        }
        let mut seen = Vec::new();
        let result = each_entry(
            io::Cursor::new(tar.into_inner().unwrap()),
            |e| e,
            |entry| {
                if applied(entry)? {
                    seen.push(entry.path()?.to_string_lossy().into_owned());
                }
                Ok(())
            },
        );
        assert_eq!(seen, ["f"]);
        let error = result.unwrap_err().to_string();
        assert_eq!(error, "`c` is a tar entry of type '7', which no runtime applies to a file system");
    }

    /// A GNU `S` entry whose holes add up to a terabyte, and a pax one, are
    /// refused before their content is read, naming the file.
    #[test]
    fn sparse_entries_are_refused_unread() {
        let mut old = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::GNUSparse);
        header.set_size(1);
        let gnu = header.as_gnu_mut().unwrap();
        gnu.set_real_size(1 << 40);
        gnu.sparse[0].set_offset((1 << 40) - 1);
        gnu.sparse[0].set_length(1);
        old.append_data(&mut header, "holes", &b"x"[..]).unwrap();
        let mut pax = tar::Builder::new(Vec::new());
        pax.append_pax_extensions([("GNU.sparse.major", &b"1"[..]), ("GNU.sparse.name", b"d/holes")]).unwrap();
        let mut header = tar::Header::new_ustar();
        header.set_size(512);
        pax.append_data(&mut header, "d/GNUSparseFile.7/holes", io::repeat(b'0').take(512)).unwrap();
        for (tar, name) in [(old, "holes"), (pax, "d/holes")] {
            let error = paths(io::Cursor::new(tar.into_inner().unwrap())).unwrap_err();
            assert!(error.to_string().starts_with(&format!("`{name}` is stored as a sparse file")), "{error}");
        }
    }
}
