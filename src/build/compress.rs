//! Layer compression with pinned codecs and settings. zstd always runs with
//! at least one worker thread: libzstd's single-threaded mode (0 workers)
//! emits different bytes, while every worker count >= 1 emits the same.

use std::io::{self, Write};

use crate::oci::media;

/// How layers are compressed (`--compression`, `--level`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Zstd { level: i32 },
    Gzip { level: u32 },
    None,
}

impl Compression {
    pub const DEFAULT_ZSTD_LEVEL: i32 = 3;
    pub const DEFAULT_GZIP_LEVEL: u32 = 6;

    pub fn media_type(self) -> &'static str {
        match self {
            Compression::Zstd { .. } => media::LAYER_ZSTD,
            Compression::Gzip { .. } => media::LAYER_GZIP,
            Compression::None => media::LAYER_TAR,
        }
    }
}

/// A compressing writer for one of the [`Compression`] kinds.
pub enum Encoder<W: Write> {
    Zstd(zstd::stream::write::Encoder<'static, W>),
    Gzip(flate2::write::GzEncoder<W>),
    None(W),
}

impl<W: Write> Encoder<W> {
    /// `workers` is the zstd thread count (clamped to at least 1; the bytes
    /// do not depend on it).
    pub fn new(out: W, compression: Compression, workers: u32) -> io::Result<Encoder<W>> {
        Ok(match compression {
            Compression::Zstd { level } => {
                let mut encoder = zstd::stream::write::Encoder::new(out, level)?;
                encoder.multithread(workers.max(1))?;
                Encoder::Zstd(encoder)
            }
            Compression::Gzip { level } => Encoder::Gzip(
                flate2::GzBuilder::new().mtime(0).operating_system(255).write(out, flate2::Compression::new(level)),
            ),
            Compression::None => Encoder::None(out),
        })
    }

    /// Ends the stream and hands back the inner writer.
    pub fn finish(self) -> io::Result<W> {
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

/// A reader of the uncompressed tar of a layer blob of `media_type`.
pub fn decoder<'a>(media_type: &str, input: impl io::BufRead + 'a) -> io::Result<Box<dyn io::Read + 'a>> {
    Ok(match media_type {
        media::LAYER_GZIP => Box::new(flate2::bufread::GzDecoder::new(input)),
        media::LAYER_ZSTD => Box::new(zstd::stream::read::Decoder::with_buffer(input)?),
        _ => Box::new(input),
    })
}
