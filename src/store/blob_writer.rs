//! Writing one blob: hash while writing to a temp file inside the store,
//! then fsync and rename it to its digest. Write-out to disk starts every
//! [`WRITEBACK`] bytes, so the closing fsync of a large layer waits for
//! little more than its tail.

use std::fs::{self, File, Permissions};
use std::io::{self, BufWriter, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;

use tempfile::NamedTempFile;

use super::{Store, StoreError, io_err};
use crate::digest::{Digest, HashingWriter};

/// A blob that is complete and visible in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WrittenBlob {
    pub digest: Digest,
    pub size: u64,
}

pub(crate) struct BlobWriter {
    store: Store,
    out: HashingWriter<BufWriter<Writeback>>,
}

impl BlobWriter {
    pub(super) fn new(store: &Store) -> Result<BlobWriter, StoreError> {
        let dir = store.tmp_dir();
        let file = NamedTempFile::new_in(&dir).map_err(io_err("cannot create a temp file in", &dir))?;
        let file = Writeback { file, written: 0, started: 0 };
        Ok(BlobWriter { store: store.clone(), out: HashingWriter::new(BufWriter::with_capacity(1 << 17, file)) })
    }

    /// Makes the blob durable and visible under its digest.
    pub(crate) fn complete(self) -> Result<WrittenBlob, StoreError> {
        self.complete_if(|_, _| Ok(()))
    }

    /// Like [`BlobWriter::complete`], once `check` accepts the digest and
    /// size; a refused blob is deleted, never visible.
    pub(crate) fn complete_if<E: From<StoreError>>(
        self,
        check: impl FnOnce(&Digest, u64) -> Result<(), E>,
    ) -> Result<WrittenBlob, E> {
        let (buffered, digest, size) = self.out.finish();
        check(&digest, size)?;
        let tmp_dir = self.store.tmp_dir();
        let file = buffered.into_inner().map_err(|e| StoreError::Io {
            action: "cannot write blob to",
            path: tmp_dir.clone(),
            source: e.into_error(),
        })?;
        Ok(self.store.publish(file.file, digest, size)?)
    }
}

impl Store {
    fn publish(&self, file: NamedTempFile, digest: Digest, size: u64) -> Result<WrittenBlob, StoreError> {
        let tmp_dir = self.tmp_dir();
        file.as_file().sync_all().map_err(io_err("cannot sync blob in", &tmp_dir))?;
        fs::set_permissions(file.path(), Permissions::from_mode(0o444))
            .map_err(io_err("cannot set mode of", file.path()))?;
        let dest = self.blob_path(&digest);
        file.persist(&dest).map_err(|e| StoreError::Io {
            action: "cannot move blob to",
            path: dest.clone(),
            source: e.error,
        })?;
        let blobs = self.blobs_dir();
        File::open(&blobs).and_then(|d| d.sync_all()).map_err(io_err("cannot sync", &blobs))?;
        Ok(WrittenBlob { digest, size })
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

const WRITEBACK: u64 = 8 << 20;

/// The temp file, asking the kernel to start writing each [`WRITEBACK`]
/// bytes to disk as soon as they are written.
struct Writeback {
    file: NamedTempFile,
    written: u64,
    /// Bytes whose write-out has been started.
    started: u64,
}

impl Write for Writeback {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.started >= WRITEBACK {
            let (Ok(offset), Ok(len)) = (i64::try_from(self.started), i64::try_from(self.written - self.started))
            else {
                return Ok(n);
            };
            // SAFETY: a plain syscall on a file descriptor this writer owns;
            // it is a hint, and the closing fsync makes the blob durable
            // whatever it returns.
            unsafe {
                libc::sync_file_range(self.file.as_file().as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
            }
            self.started = self.written;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}
