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

/// Whether a layer of `media_type` is compressed: [`decoder`] undoes it.
pub(crate) fn compressed(media_type: &str) -> bool {
    matches!(media_type, media::LAYER_GZIP | media::NONDIST_GZIP | media::LAYER_ZSTD | media::NONDIST_ZSTD)
}

/// A reader of the uncompressed tar of a layer blob of `media_type`.
pub(crate) fn decoder<'a>(media_type: &str, input: impl io::BufRead + 'a) -> io::Result<Box<dyn io::Read + 'a>> {
    Ok(match media_type {
        // Every member, as Go's gzip reader (containerd's) reads them:
        // eStargz layers are a member per file.
        media::LAYER_GZIP | media::NONDIST_GZIP => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        media::LAYER_ZSTD | media::NONDIST_ZSTD => Box::new(zstd::stream::read::Decoder::with_buffer(input)?),
        _ => Box::new(input),
    })
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    fn decoded(media_type: &str, blob: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        decoder(media_type, blob).unwrap().read_to_end(&mut out).unwrap();
        out
    }

    /// Layers of concatenated members or frames (eStargz writes a gzip
    /// member per file; our zstd layers are a frame per 4 MiB, podman's
    /// zstd:chunked adds skippable frames) are read whole, as Go's gzip
    /// reader and every zstd decoder read them.
    #[test]
    fn every_member_and_every_frame_is_read() {
        let (first, second) = (vec![b'a'; 70_000], b"the second part".to_vec());
        let mut gzip = Vec::new();
        for part in [&first, &second] {
            let mut member = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            member.write_all(part).unwrap();
            gzip.extend(member.finish().unwrap());
        }
        let mut zstd = zstd::encode_all(&first[..], 3).unwrap();
        // A skippable frame between (zstd:chunked ends with one, its table
        // of contents), then the next frame.
        zstd.extend([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, b't', b'o', b'c']);
        zstd.extend(zstd::encode_all(&second[..], 3).unwrap());
        let whole = [first, second].concat();
        for (media_type, blob) in [(media::LAYER_GZIP, &gzip), (media::NONDIST_GZIP, &gzip), (media::LAYER_ZSTD, &zstd)]
        {
            let out = decoded(media_type, blob);
            assert!(out == whole, "{media_type}: {} bytes, not {}", out.len(), whole.len());
        }
    }
}
