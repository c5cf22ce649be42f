//! Archives compressed whole (`docker save | gzip`, `podman save --format
//! oci-archive | xz`): gzip, zstd, bzip2 or xz, told by their first bytes,
//! as skopeo and `podman load` read them.

use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use super::layout::LayoutError;

/// The most an xz archive's decoder may use, in KiB: 256 MiB.
const XZ_MEMORY_KIB: u32 = 256 << 10;

/// An xz decoder whose errors say what they mean.
struct Xz<R: Read>(lzma_rust2::XzReader<R>);

impl<R: Read> Read for Xz<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            if e.to_string().contains("mem_limit") {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("an xz block needs more than {} MiB to decode", XZ_MEMORY_KIB >> 10),
                )
            } else {
                io::Error::new(e.kind(), format!("xz: {e}"))
            }
        })
    }
}

/// The tar of the archive at `file`, compressed whole or not (`docker save
/// | gzip`), told by its first bytes: skopeo reads these, whatever the file
/// is named.
pub(crate) fn decompressed(file: &Path) -> Result<Box<dyn Read>, LayoutError> {
    let io_err = |action| move |source| LayoutError::Io { action, path: file.to_owned(), source };
    let (input, _) = crate::files::open_regular(file).map_err(io_err("cannot open"))?;
    let mut input = BufReader::new(input);
    let head = input.fill_buf().map_err(io_err("cannot read"))?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::bufread::MultiGzDecoder::new(input))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::with_buffer(input).map_err(io_err("cannot decompress"))?)
    } else if head.starts_with(b"BZh") {
        Box::new(bzip2::bufread::MultiBzDecoder::new(input))
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        // A block whose dictionary needs more than XZ_MEMORY is refused
        // (xz -9 needs 65 MiB).
        Box::new(Xz(lzma_rust2::XzReader::new_mem_limit(input, true, XZ_MEMORY_KIB)))
    } else {
        Box::new(input)
    })
}
