//! Layer compression with pinned codecs and settings, both compressed in
//! blocks on the build's pool ([`super::blocks`]): zstd in independent
//! frames ([`super::zstd_frames`]), gzip as one member of deflate blocks by
//! flate2's zlib-rs backend ([`super::gzip_blocks`]).

use std::io::{self, Write};

use super::gzip_blocks::{GzipBlocks, ParallelGzip};
use super::zstd_frames::{FramedZstd, ZstdFrames};
use crate::oci::compress::Compression;

/// A compressing writer for one of the [`Compression`] kinds.
pub(crate) enum Encoder<W: Write> {
    Zstd(FramedZstd<W>),
    Gzip(ParallelGzip<W>),
    None(W),
}

impl<W: Write> Encoder<W> {
    /// `threads` is the size of the pool blocks are compressed on (the
    /// bytes do not depend on it).
    pub(crate) fn new(out: W, compression: Compression, threads: u32) -> Encoder<W> {
        match compression {
            Compression::Zstd { level } => Encoder::Zstd(FramedZstd::new(out, ZstdFrames::new(level), threads)),
            Compression::Gzip { level } => Encoder::Gzip(ParallelGzip::new(out, GzipBlocks::new(level), threads)),
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
