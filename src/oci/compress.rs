//! Layer compression kinds and their media types, and the decoder that
//! reads any layer blob back as its tar. The pinned encoders that write
//! layers live with the layer writer (`layer::encoder`).

use std::io;

use crate::oci::media;

/// How layers are compressed (`--compression`, `--level`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Compression {
    Zstd { level: i32 },
    Gzip { level: u32 },
    None,
}

impl Compression {
    pub(crate) const DEFAULT_ZSTD_LEVEL: i32 = 3;
    pub(crate) const DEFAULT_GZIP_LEVEL: u32 = 2;

    pub(crate) fn media_type(self) -> &'static str {
        match self {
            Compression::Zstd { .. } => media::LAYER_ZSTD,
            Compression::Gzip { .. } => media::LAYER_GZIP,
            Compression::None => media::LAYER_TAR,
        }
    }
}

/// A reader of the uncompressed tar of a layer blob of `media_type`.
pub(crate) fn decoder<'a>(media_type: &str, input: impl io::BufRead + 'a) -> io::Result<Box<dyn io::Read + 'a>> {
    Ok(match media_type {
        media::LAYER_GZIP | media::NONDIST_GZIP => Box::new(flate2::bufread::GzDecoder::new(input)),
        media::LAYER_ZSTD | media::NONDIST_ZSTD => Box::new(zstd::stream::read::Decoder::with_buffer(input)?),
        _ => Box::new(input),
    })
}
