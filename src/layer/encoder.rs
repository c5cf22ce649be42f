//! Layer compression with pinned codecs and settings: zstd in independent
//! frames compressed on the build's pool ([`super::zstd_frames`]), gzip by
//! flate2's zlib-rs backend with a zeroed header time.

use std::io::{self, Write};

use super::zstd_frames::FramedZstd;
use crate::oci::compress::Compression;

/// A compressing writer for one of the [`Compression`] kinds.
pub(crate) enum Encoder<W: Write> {
    Zstd(FramedZstd<W>),
    Gzip(flate2::write::GzEncoder<W>),
    None(W),
}

impl<W: Write> Encoder<W> {
    /// `threads` is the size of the pool zstd frames are compressed on
    /// (the bytes do not depend on it).
    pub(crate) fn new(out: W, compression: Compression, threads: u32) -> Encoder<W> {
        match compression {
            Compression::Zstd { level } => Encoder::Zstd(FramedZstd::new(out, level, threads)),
            Compression::Gzip { level } => Encoder::Gzip(
                flate2::GzBuilder::new().mtime(0).operating_system(255).write(out, flate2::Compression::new(level)),
            ),
            Compression::None => Encoder::None(out),
        }
    }

    /// Ends the stream and hands back the inner writer.
    pub(crate) fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Zstd(e) => e.finish(),
            Encoder::Gzip(e) => e.finish(),
            Encoder::None(w) => Ok(w),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Zstd(e) => e.write(buf),
            Encoder::Gzip(e) => e.write(buf),
            Encoder::None(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Zstd(e) => e.flush(),
            Encoder::Gzip(e) => e.flush(),
            Encoder::None(w) => w.flush(),
        }
    }
}
