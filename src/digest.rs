//! sha256 digests (`sha256:<hex>`) of blobs and documents, a writer that
//! hashes what passes through it, and the [`ContentHash`] that identifies
//! file content inside compose-img.

use std::fmt;
use std::io::{self, Write};

use sha2::{Digest as _, Sha256};
use thiserror::Error;

/// Text that is not a `sha256:<64 lowercase hex>` digest.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ParseDigestError {
    #[error("`{0}` is not a sha256 digest (sha256:<hex>)")]
    /// Not of the form `sha256:HEX` (the text as given).
    NotSha256(String),
    #[error("`{0}` is not a sha256 digest: expected 64 lowercase hex digits")]
    /// The hex part is not 64 lowercase hex digits (the text as given).
    BadHex(String),
}

/// A validated `sha256:<64 lowercase hex>` digest.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest::from_hasher(Sha256::new_with_prefix(bytes))
    }

    fn from_hasher(hasher: Sha256) -> Digest {
        Digest(format!("sha256:{}", hex(&hasher.finalize())))
    }

    /// Parses `sha256:<hex>`; any other algorithm or form is refused.
    pub fn parse(text: &str) -> Result<Digest, ParseDigestError> {
        let hex = text.strip_prefix("sha256:").ok_or_else(|| ParseDigestError::NotSha256(text.to_owned()))?;
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(ParseDigestError::BadHex(text.to_owned()));
        }
        Ok(Digest(text.to_owned()))
    }

    /// The digest and length of everything `reader` yields.
    pub fn of_reader(mut reader: impl io::Read) -> io::Result<(Digest, u64)> {
        let mut hasher = HashingWriter::new(io::sink());
        io::copy(&mut reader, &mut hasher)?;
        let (_, digest, len) = hasher.finish();
        Ok((digest, len))
    }

    /// The hex part, as used for blob file names.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    /// The whole digest, `sha256:<hex>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// What identifies a file's content in cache keys, input indexes and
/// layer comparisons, never in an image: BLAKE3, several times faster than
/// sha256 on one core, which matters on a cold build's critical path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContentHash(blake3::Hash);

impl ContentHash {
    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> ContentHash {
        ContentHash(blake3::hash(bytes))
    }

    /// The hash and length of everything `reader` yields, read 64 KiB at a
    /// time: BLAKE3 hashes 16 of its 1 KiB chunks at once with AVX-512, so
    /// `io::copy`'s 8 KiB would leave half of each step idle. The buffer is
    /// the thread's own, zeroed once: most inputs are a few
    /// KiB, and zeroing 64 KiB for each would cost more than reading it.
    pub fn of_reader(mut reader: impl io::Read) -> io::Result<(ContentHash, u64)> {
        thread_local! {
            static BUFFER: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 64 * 1024]);
        }
        BUFFER.with(|buffer| match buffer.try_borrow_mut() {
            Ok(mut buffer) => ContentHash::of_reader_with(&mut reader, &mut buffer),
            Err(_) => ContentHash::of_reader_with(&mut reader, &mut vec![0u8; 64 * 1024]),
        })
    }

    fn of_reader_with(reader: &mut impl io::Read, buffer: &mut [u8]) -> io::Result<(ContentHash, u64)> {
        let mut hasher = blake3::Hasher::new();
        let mut len = 0u64;
        loop {
            let n = match reader.read(buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(&buffer[..n]);
            len += n as u64;
        }
        Ok((ContentHash(hasher.finalize()), len))
    }

    /// The hash a hasher has reached.
    pub fn from_hasher(hasher: &blake3::Hasher) -> ContentHash {
        ContentHash(hasher.finalize())
    }

    /// Parses 64 hex digits, as [`ContentHash::hex`] writes them.
    pub fn from_hex(hex: &str) -> Option<ContentHash> {
        blake3::Hash::from_hex(hex).ok().map(ContentHash)
    }

    /// The hash as 64 lowercase hex digits.
    pub fn hex(&self) -> impl fmt::Display {
        self.0.to_hex()
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "blake3:{}", self.0.to_hex())
    }
}

/// Passes writes through to `inner` while hashing them and counting bytes.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`, with nothing hashed yet.
    pub fn new(inner: W) -> Self {
        HashingWriter { inner, hasher: Sha256::new(), len: 0 }
    }

    /// The inner writer, the digest of everything written and its length.
    pub fn finish(self) -> (W, Digest, u64) {
        (self.inner, Digest::from_hasher(self.hasher), self.len)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Passes reads through from `inner` while hashing what they return.
pub(crate) struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: io::Read> HashingReader<R> {
    /// Wraps `inner`, with nothing hashed yet.
    pub(crate) fn new(inner: R) -> Self {
        HashingReader { inner, hasher: Sha256::new() }
    }

    /// Reads what is left, then the digest of everything `inner` yielded.
    pub(crate) fn finish(mut self) -> io::Result<Digest> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(Digest::from_hasher(self.hasher))
    }
}

impl<R: io::Read> io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_empty_input() {
        assert_eq!(Digest::of(b"").as_str(), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn hashing_writer_matches_one_shot_digest() {
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"hello ").unwrap();
        w.write_all(b"world").unwrap();
        let (bytes, digest, len) = w.finish();
        assert_eq!(bytes, b"hello world");
        assert_eq!(len, 11);
        assert_eq!(digest, Digest::of(b"hello world"));
    }

    #[test]
    fn content_hash_is_blake3_and_round_trips_through_hex() {
        let hash = ContentHash::of(b"");
        assert_eq!(hash.to_string(), "blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
        assert_eq!(ContentHash::from_hex(&hash.hex().to_string()), Some(hash));
        assert_eq!(ContentHash::of_reader(&b"abc"[..]).unwrap(), (ContentHash::of(b"abc"), 3));
    }

    #[test]
    fn parse_refuses_other_forms() {
        assert_eq!(
            Digest::parse("sha512:00").unwrap_err().to_string(),
            "`sha512:00` is not a sha256 digest (sha256:<hex>)"
        );
        assert_eq!(
            Digest::parse("sha256:ABC").unwrap_err().to_string(),
            "`sha256:ABC` is not a sha256 digest: expected 64 lowercase hex digits"
        );
        let d = Digest::of(b"x");
        assert_eq!(Digest::parse(d.as_str()).unwrap(), d);
    }
}
