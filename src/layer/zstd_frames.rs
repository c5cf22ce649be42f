//! zstd as a sequence of independent frames, one per [`CHUNK`] bytes of
//! input, compressed on the current rayon pool by the block writer
//! ([`super::blocks`]). Each frame depends only on its chunk and the level,
//! so the blob is the same whatever the number of threads, and `--jobs`
//! bounds the threads a build uses (libzstd's own multithreading would add
//! threads of its own and emits other bytes with none). Every zstd decoder
//! reads concatenated frames as one stream.

use std::cell::RefCell;
use std::io::{self, Write};

use super::blocks::{BlockCodec, BlockWriter};

/// Input bytes per frame: large enough that the lost history at frame
/// starts costs little ratio (level 3 matches within 2 MiB), small enough
/// to spread a layer of a few tens of MB over the pool.
pub(crate) const CHUNK: usize = 4 << 20;

/// A compressing writer that emits frames in input order.
pub(crate) type FramedZstd<W> = BlockWriter<W, ZstdFrames>;

/// The zstd codec of the block writer: one frame per block, and one empty
/// frame for an empty input (a zstd stream has at least one frame).
pub(crate) struct ZstdFrames {
    level: i32,
    emitted: bool,
}

impl ZstdFrames {
    /// Frames at `level`.
    pub(crate) fn new(level: i32) -> ZstdFrames {
        ZstdFrames { level, emitted: false }
    }
}

impl BlockCodec for ZstdFrames {
    const BLOCK: usize = CHUNK;
    const DICTIONARY: usize = 0;
    type Settings = i32;
    type Compressed = Vec<u8>;

    fn settings(&self) -> i32 {
        self.level
    }

    fn compress(level: i32, _dictionary: &[u8], block: &[u8]) -> io::Result<Vec<u8>> {
        compress(block, level)
    }

    fn emit<W: Write>(&mut self, out: &mut W, frame: Vec<u8>) -> io::Result<()> {
        self.emitted = true;
        out.write_all(&frame)
    }

    fn end<W: Write>(&mut self, out: &mut W) -> io::Result<()> {
        if !self.emitted {
            self.emit(out, compress(&[], self.level)?)?;
        }
        Ok(())
    }
}

thread_local! {
    /// One compression context per thread and level, reused across chunks.
    static CONTEXT: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
}

/// One frame with the content size in its header and no checksum (the
/// blob's sha256 covers it).
fn compress(chunk: &[u8], level: i32) -> io::Result<Vec<u8>> {
    CONTEXT.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.as_ref().is_none_or(|(l, _)| *l != level) {
            *cell = Some((level, zstd::bulk::Compressor::new(level)?));
        }
        match cell.as_mut() {
            Some((_, compressor)) => compressor.compress(chunk),
            None => Err(io::Error::other("no zstd context")),
        }
    })
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::{CHUNK, FramedZstd, ZstdFrames};
    use crate::layer::blocks::sample;

    fn framed(data: &[u8], threads: usize, write_size: usize) -> Vec<u8> {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut writer = FramedZstd::new(Vec::new(), ZstdFrames::new(3), threads as u32);
            for piece in data.chunks(write_size) {
                writer.write_all(piece).unwrap();
            }
            writer.finish().unwrap()
        })
    }

    #[test]
    fn bytes_do_not_depend_on_threads_or_write_sizes_and_decode_back() {
        let data = sample(3 * CHUNK + 12_345);
        let one = framed(&data, 1, 1 << 16);
        assert_eq!(one, framed(&data, 4, 7_777));
        assert_eq!(one, framed(&data, 2, CHUNK + 1));
        let mut back = Vec::new();
        zstd::stream::read::Decoder::new(&one[..]).unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn empty_input_is_one_empty_frame() {
        let out = framed(&[], 1, 1);
        assert!(!out.is_empty());
        assert_eq!(zstd::decode_all(&out[..]).unwrap(), Vec::<u8>::new());
    }
}
