//! `oci-archive:FILE`: an OCI image layout as one tar (read compressed
//! whole too, as skopeo reads it). Reading streams
//! every `blobs/sha256/<hex>` member into the store (checked against its
//! name) and keeps `index.json`; writing produces the layout's files in a
//! fixed order with fixed headers, so the same image gives the same bytes.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::store::Store;

use super::layout::{LayoutError, OCI_LAYOUT, index_json};
use super::referrers::Referrer;
use super::tagged::Tagged;
use super::tar_entries::each_entry;
use super::whole::decompressed;

/// Reads the archive at `file` into the store: its blobs, and the bytes of
/// its `index.json`.
pub(crate) fn ingest(file: &Path, store: &Store) -> Result<Vec<u8>, LayoutError> {
    let invalid = |message: String| LayoutError::Invalid { path: file.to_owned(), message };
    let mut index = None;
    let tar_error = |e| invalid(format!("not a valid tar archive: {e}"));
    each_entry(decompressed(file)?, tar_error, |entry| {
        if !entry.header().entry_type().is_file() {
            return Ok(());
        }
        let path = entry.path().map_err(|e| invalid(e.to_string()))?.into_owned();
        let name = path.to_string_lossy();
        let name = name.trim_start_matches("./");
        if name == "index.json" {
            let mut bytes = Vec::new();
            entry.take(4 << 20).read_to_end(&mut bytes).map_err(|e| invalid(format!("index.json: {e}")))?;
            index = Some(bytes);
        } else if let Some(hex) = name.strip_prefix("blobs/sha256/") {
            let expected = Digest::parse(&format!("sha256:{hex}")).map_err(|e| invalid(format!("{name}: {e}")))?;
            if store.has_blob(&expected) {
                return Ok(());
            }
            let mut writer = store.blob_writer()?;
            io::copy(entry, &mut writer).map_err(|e| invalid(format!("{name}: {e}")))?;
            writer.complete_if(|actual, _| {
                if *actual == expected {
                    Ok(())
                } else {
                    Err(invalid(format!("blob {name} does not match its name: its content has digest {actual}")))
                }
            })?;
        }
        Ok(())
    })?;
    index.ok_or_else(|| invalid("not an OCI archive: it has no index.json".into()))
}

/// Reads the members of the archive at `file` that hold `digests` and
/// checks each against its name (not trusting a copy in the store): a
/// member that is missing or corrupted is an error naming it.
pub(crate) fn check_blobs(file: &Path, digests: &[&Digest]) -> Result<(), LayoutError> {
    let invalid = |message: String| LayoutError::Invalid { path: file.to_owned(), message };
    // Signatures by several keys of one payload name the same blob.
    let mut unseen: Vec<&Digest> = digests.to_vec();
    unseen.sort();
    unseen.dedup();
    let tar_error = |e| invalid(format!("not a valid tar archive: {e}"));
    each_entry(decompressed(file)?, tar_error, |entry| {
        let path = entry.path().map_err(|e| invalid(e.to_string()))?.into_owned();
        let name = path.to_string_lossy().trim_start_matches("./").to_owned();
        let Some(at) = unseen.iter().position(|d| name == format!("blobs/sha256/{}", d.hex())) else {
            return Ok(());
        };
        let expected = unseen.swap_remove(at);
        let actual = crate::digest::HashingReader::new(entry).finish().map_err(|e| invalid(format!("{name}: {e}")))?;
        if actual != *expected {
            return Err(invalid(format!("blob {name} does not match its name: its content has digest {actual}")));
        }
        Ok(())
    })?;
    match unseen.first() {
        Some(missing) => Err(invalid(format!("the archive lacks blob {missing}"))),
        None => Ok(()),
    }
}

/// Writes each image of `entries` under its tags, and `referrers`
/// untagged (their manifests among `entries`), as an OCI archive at
/// `file`, replacing it.
pub(crate) fn write(
    file: &Path,
    store: &Store,
    entries: &[(&Tagged, &[String])],
    referrers: &[&Referrer],
    name: &str,
) -> Result<(), LayoutError> {
    let index = index_json(Vec::new(), entries, referrers, name, file)?;
    write_tar(file, |out| {
        out.file("index.json", &index)?;
        out.file("oci-layout", OCI_LAYOUT)?;
        out.dir("blobs/")?;
        out.dir("blobs/sha256/")?;
        let mut blobs: Vec<&Digest> = entries.iter().flat_map(|(tagged, _)| tagged.blobs()).collect();
        blobs.sort();
        blobs.dedup();
        for digest in blobs {
            out.blob(&format!("blobs/sha256/{}", digest.hex()), &store.blob_path(digest))?;
        }
        Ok(())
    })
}

/// A tar being written with fixed headers: owner 0:0, no names, mtime 0.
pub(crate) struct TarOut {
    builder: tar::Builder<BufWriter<tempfile::NamedTempFile>>,
}

impl TarOut {
    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(size);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header
    }

    pub(crate) fn dir(&mut self, path: &str) -> io::Result<()> {
        let mut header = TarOut::header(tar::EntryType::Directory, 0o755, 0);
        self.builder.append_data(&mut header, path, io::empty())
    }

    pub(crate) fn file(&mut self, path: &str, bytes: &[u8]) -> io::Result<()> {
        let mut header = TarOut::header(tar::EntryType::Regular, 0o644, bytes.len() as u64);
        self.builder.append_data(&mut header, path, bytes)
    }

    /// A member copied from the file at `source`.
    pub(crate) fn blob(&mut self, path: &str, source: &Path) -> io::Result<()> {
        let input = File::open(source)?;
        let size = input.metadata()?.len();
        let mut header = TarOut::header(tar::EntryType::Regular, 0o644, size);
        self.builder.append_data(&mut header, path, input.take(size))
    }
}

/// Writes the tar `fill` produces to a temp file beside `file`, then
/// renames it over `file`.
pub(crate) fn write_tar(file: &Path, fill: impl FnOnce(&mut TarOut) -> io::Result<()>) -> Result<(), LayoutError> {
    let io_err = |action, path: &Path| {
        let path: PathBuf = path.to_owned();
        move |source| LayoutError::Io { action, path, source }
    };
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(io_err("cannot create", dir))?;
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err("cannot create a file in", dir))?;
    let mut out = TarOut { builder: tar::Builder::new(BufWriter::new(tmp)) };
    fill(&mut out).map_err(io_err("cannot write", file))?;
    let tmp = out
        .builder
        .into_inner()
        .and_then(|mut w| {
            w.flush()?;
            w.into_inner().map_err(|e| e.into_error())
        })
        .map_err(io_err("cannot write", file))?;
    tmp.as_file().sync_all().map_err(io_err("cannot sync", file))?;
    fs::set_permissions(tmp.path(), std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .map_err(io_err("cannot set mode of", file))?;
    tmp.persist(file).map_err(|e| io_err("cannot write", file)(e.error))?;
    Ok(())
}
