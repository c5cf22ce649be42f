//! How much the sign stage reads: every key file, signature manifest and
//! payload is a regular file read with a size limit, and a signature
//! manifest names a bounded number of signatures. The numbers are
//! documented in docs/signatures.md ("Limits").

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// A key file (a cosign private key is about 650 bytes, a public key 180).
pub(crate) const MAX_KEY_FILE: u64 = 64 << 10;
/// The signature layers of one signature manifest (cosign images rarely
/// carry more than a few dozen).
pub(crate) const MAX_SIGNATURES: usize = 1000;
/// One payload blob (a simple-signing payload is about 250 bytes).
pub(crate) const MAX_PAYLOAD: u64 = 1 << 20;
/// A signature manifest (the limit every manifest has when imported).
pub(crate) const MAX_MANIFEST: u64 = 4 << 20;

/// `bytes` as people read a limit: `64 KiB`, `1 MiB`.
pub(crate) fn shown(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// The contents and metadata of the regular file at `path`. Anything else
/// (a FIFO, a device such as `/dev/zero`, a directory) is refused before a
/// byte is read, and so is a file over `limit` bytes; a file that grows
/// while it is read is cut off at `limit + 1` bytes and refused.
pub(crate) fn read_regular(path: &Path, limit: u64) -> io::Result<(Vec<u8>, fs::Metadata)> {
    // Checked before opening (opening some devices acts on them) and again
    // on what was opened (the path may have been replaced in between);
    // O_NONBLOCK so that opening a FIFO never waits for a writer.
    regular(&fs::metadata(path)?)?;
    let file = fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
    let meta = file.metadata()?;
    regular(&meta)?;
    if meta.len() > limit {
        return Err(over(meta.len(), limit));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::other(format!("it grew past the {} limit while being read", shown(limit))));
    }
    Ok((bytes, meta))
}

fn over(size: u64, limit: u64) -> io::Error {
    io::Error::other(format!("it is {size} bytes, over the {} limit", shown(limit)))
}

fn regular(meta: &fs::Metadata) -> io::Result<()> {
    let kind = meta.file_type();
    if kind.is_file() {
        return Ok(());
    }
    let what = if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a file"
    };
    Err(io::Error::other(format!("not a regular file ({what})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_regular_files_within_the_limit_only() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, b"12345").unwrap();
        assert_eq!(read_regular(&file, 5).unwrap().0, b"12345");
        assert_eq!(read_regular(&file, 4).unwrap_err().to_string(), "it is 5 bytes, over the 4 bytes limit");
        let error = |path: &Path| read_regular(path, 1 << 20).unwrap_err().to_string();
        assert_eq!(error(Path::new("/dev/zero")), "not a regular file (a character device)");
        assert_eq!(error(dir.path()), "not a regular file (a directory)");
        let fifo = dir.path().join("fifo");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        assert_eq!(error(&fifo), "not a regular file (a FIFO)");
        assert_eq!(shown(64 << 10), "64 KiB");
        assert_eq!(shown(1 << 20), "1 MiB");
    }
}
