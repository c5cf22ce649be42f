//! A layer's diff_id checked from the bytes as they pass: while a blob is
//! downloaded into the store or uploaded to a registry, the same bytes go
//! (in chunks, through a bounded channel) to a decoder on another thread
//! whose output a third thread hashes (the tar of a layer is about twice
//! its blob: decoding and hashing it are the larger part of the work).
//! Nothing reads the blob a second time, and the verdict is known by the
//! time the last byte has passed.

use std::io::{self, BufRead, Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use thiserror::Error;

use crate::digest::{Digest, HashingWriter};

/// The bytes read and written in one go.
const CHUNK: usize = 1 << 20;
/// Chunks in flight to the decoder: at most this many MiB held per blob.
const IN_FLIGHT: usize = 8;

/// Why a layer blob is not the layer its descriptor and config say.
#[derive(Debug, Error)]
pub(crate) enum NotTheLayer {
    #[error("not {media_type}: {error}")]
    NotOfType { media_type: String, error: io::Error },
    #[error("cannot be read as {media_type}: {error}")]
    Unreadable { media_type: String, error: io::Error },
    #[error("it uncompresses to {actual}, not to the diff_id {diff_id} its config gives")]
    OtherDiffId { actual: Digest, diff_id: Digest },
}

/// The digest `input`, a layer blob of `media_type`, uncompresses to, or
/// why it cannot be read as one. The tar is hashed on another thread than
/// the one decoding it.
pub(crate) fn uncompressed_digest(media_type: &str, input: impl BufRead) -> Result<Digest, NotTheLayer> {
    let mut stream = crate::oci::compress::decoder(media_type, input)
        .map_err(|error| NotTheLayer::NotOfType { media_type: media_type.to_owned(), error })?;
    let (decoded, digest) = tee(&mut stream, &mut |_| Ok(()), hash);
    let unreadable = |error| NotTheLayer::Unreadable { media_type: media_type.to_owned(), error };
    decoded.map_err(unreadable)?;
    digest.map_err(unreadable)
}

/// The digest of the stream `chunks` yields.
fn hash(mut chunks: Chunks) -> io::Result<Digest> {
    let mut hasher = HashingWriter::new(io::sink());
    loop {
        let chunk = chunks.fill_buf()?;
        if chunk.is_empty() {
            return Ok(hasher.finish().1);
        }
        let n = chunk.len();
        hasher.write_all(chunk)?;
        chunks.consume(n);
    }
}

/// Whether a layer blob that uncompressed to `found` (or could not) is
/// the layer its config gives `diff_id` to.
pub(crate) fn verdict(found: Result<Digest, NotTheLayer>, diff_id: &Digest) -> Result<(), NotTheLayer> {
    match found? {
        actual if actual == *diff_id => Ok(()),
        actual => Err(NotTheLayer::OtherDiffId { actual, diff_id: diff_id.clone() }),
    }
}

/// Copies `reader` to `writer`, the same bytes also given to a decoder of
/// `media_type` on another thread. Returns the copy's outcome (the bytes
/// copied) and what the blob uncompresses to (as [`uncompressed_digest`]):
/// the caller refuses the blob unless both are what its descriptor and
/// config say. A decoder that stops early (bad data) never holds the copy up.
pub(crate) fn copy_decoding(
    reader: &mut dyn Read,
    writer: &mut dyn Write,
    media_type: &str,
) -> (io::Result<u64>, Result<Digest, NotTheLayer>) {
    let (copied, found) =
        tee(reader, &mut |chunk| writer.write_all(chunk), |chunks| uncompressed_digest(media_type, chunks));
    (copied.and_then(|n| writer.flush().map(|()| n)), found)
}

/// Reads `reader` to its end in chunks of 1 MiB, each given to `consume`
/// on this thread and to `stage` running on another thread, which reads
/// them as one stream ([`Chunks`]). Returns the bytes read (or the
/// first error of reading or consuming) and what `stage` returned. A
/// stage that returns early gets no more chunks; the reading goes on.
fn tee<T: Send>(
    reader: &mut dyn Read,
    consume: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    stage: impl FnOnce(Chunks) -> T + Send,
) -> (io::Result<u64>, T) {
    std::thread::scope(|scope| {
        let (sender, receiver) = sync_channel::<Vec<u8>>(IN_FLIGHT);
        // Chunks the stage is done with come back, to be filled again.
        let (spent, recycled) = sync_channel::<Vec<u8>>(IN_FLIGHT + 2);
        let stage = scope.spawn(move || stage(Chunks { receiver, spent, chunk: Vec::new(), at: 0 }));
        let read = feed(reader, consume, sender, &recycled);
        let Ok(result) = stage.join() else {
            // A panic of the stage is the program's bug: carried on.
            std::panic::resume_unwind(Box::new("a pipeline stage panicked"))
        };
        (read, result)
    })
}

/// The reading of [`tee`]; dropping `sender` at the end tells the stage
/// the stream is whole.
fn feed(
    reader: &mut dyn Read,
    consume: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    sender: SyncSender<Vec<u8>>,
    recycled: &Receiver<Vec<u8>>,
) -> io::Result<u64> {
    let mut sender = Some(sender);
    let mut total = 0;
    loop {
        let mut chunk = recycled.try_recv().unwrap_or_default();
        chunk.resize(CHUNK, 0);
        let n = read_full(reader, &mut chunk)?;
        if n == 0 {
            return Ok(total);
        }
        chunk.truncate(n);
        consume(&chunk)?;
        total += n as u64;
        // A stage that gave up has its answer: it gets no more bytes.
        if let Some(to_stage) = &sender
            && to_stage.send(chunk).is_err()
        {
            sender = None;
        }
    }
}

/// Reads until `buf` is full or the stream ends: the bytes read.
fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The chunks sent to a stage, read as one stream (which ends when the
/// sender is dropped); each one read is sent back to be reused.
struct Chunks {
    receiver: Receiver<Vec<u8>>,
    spent: SyncSender<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = buf.len().min(available.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Chunks {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.at == self.chunk.len() {
            let Ok(next) = self.receiver.recv() else { return Ok(&[]) };
            let spent = std::mem::replace(&mut self.chunk, next);
            self.at = 0;
            // The reading may have ended, or have chunks enough.
            let _ = self.spent.try_send(spent);
        }
        Ok(&self.chunk[self.at..])
    }

    fn consume(&mut self, n: usize) {
        self.at = (self.at + n).min(self.chunk.len());
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;
    use crate::oci::media;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn copies_every_byte_and_finds_the_diff_id_of_a_blob_of_many_chunks() {
        let tar: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i * 7 % 251) as u8).collect();
        for (media_type, blob) in [
            (media::LAYER_GZIP, gzip(&tar)),
            (media::LAYER_ZSTD, zstd::encode_all(&tar[..], 3).unwrap()),
            (media::LAYER_TAR, tar.clone()),
        ] {
            let mut out = Vec::new();
            let (copied, found) = copy_decoding(&mut &blob[..], &mut out, media_type);
            assert_eq!(copied.unwrap(), blob.len() as u64);
            assert_eq!(out, blob);
            assert_eq!(found.as_ref().ok(), Some(&Digest::of(&tar)), "{media_type}");
            assert!(verdict(found, &Digest::of(&tar)).is_ok());
        }
    }

    #[test]
    fn a_blob_that_is_not_what_it_says_is_copied_whole_and_named() {
        // Not gzip: the decoder gives up at once, the copy goes on.
        let blob: Vec<u8> = vec![7; 20 * CHUNK];
        let mut out = Vec::new();
        let (copied, found) = copy_decoding(&mut &blob[..], &mut out, media::LAYER_GZIP);
        assert_eq!(copied.unwrap(), blob.len() as u64);
        assert_eq!(
            found.unwrap_err().to_string(),
            format!("cannot be read as {}: invalid gzip header", media::LAYER_GZIP)
        );
        // Another tar than the config's.
        let other = Digest::of(b"other");
        let found = copy_decoding(&mut &b"tar"[..], &mut Vec::new(), media::LAYER_TAR).1;
        assert_eq!(
            verdict(found, &other).unwrap_err().to_string(),
            format!("it uncompresses to {}, not to the diff_id {other} its config gives", Digest::of(b"tar"))
        );
    }

    #[test]
    fn a_failed_read_is_the_copy_s_error() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("connection reset"));
                }
                self.0 -= 1;
                buf.fill(1);
                Ok(buf.len())
            }
        }
        let (copied, _) = copy_decoding(&mut Failing(3), &mut io::sink(), media::LAYER_TAR);
        assert_eq!(copied.unwrap_err().to_string(), "connection reset");
    }
}
