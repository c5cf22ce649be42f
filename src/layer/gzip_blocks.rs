//! gzip compressed on the current rayon pool, as pigz does, by the block
//! writer ([`super::blocks`]): one gzip member whose deflate stream is made
//! of independently compressed [`BLOCK`]s of input, each primed with the
//! last 32 KiB of the block before as its dictionary (so matches reach back
//! as far as one deflate stream's window) and ended with a sync flush (an
//! empty stored block, which byte-aligns it), concatenated in input order
//! and closed by an empty final block; the CRC-32 of the member is combined
//! from the blocks' own. A block depends only on its bytes, the end of the
//! block before and the level, so the blob is the same whatever the number
//! of threads; every gzip reader reads it as one ordinary member.
//!
//! The header has no name and a zero time, and says "unknown" for the
//! system (255), as flate2's did before.

use std::io::{self, Write};

use flate2::{Compress, Crc, FlushCompress};

use super::blocks::{BlockCodec, BlockWriter};

/// Input bytes per block: a few milliseconds of deflate, so a layer of a
/// few MB spreads over the pool, and large enough that priming each block
/// with its dictionary (hashing 32 KiB) costs about 3% more work.
pub(crate) const BLOCK: usize = 1 << 20;

/// What deflate can reach back: the dictionary of each block.
const WINDOW: usize = 32 << 10;

/// An empty final deflate block with fixed codes: what ends the stream
/// after the last sync-flushed block.
const FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

/// A compressing writer that emits one gzip member.
pub(crate) type ParallelGzip<W> = BlockWriter<W, GzipBlocks>;

/// The gzip codec of the block writer.
pub(crate) struct GzipBlocks {
    level: u32,
    /// The CRC-32 and length of the blocks written so far.
    crc: Crc,
    started: bool,
}

impl GzipBlocks {
    /// A member compressed at `level` (1 to 9).
    pub(crate) fn new(level: u32) -> GzipBlocks {
        GzipBlocks { level, crc: Crc::new(), started: false }
    }

    /// The 10-byte header: deflate, no flags, time 0, the level hint zlib
    /// writes (2 for the slowest level, 4 for the fastest), system unknown.
    fn header(&self) -> [u8; 10] {
        let extra = match self.level {
            9.. => 2,
            ..=1 => 4,
            _ => 0,
        };
        [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, extra, 255]
    }

    fn start<W: Write>(&mut self, out: &mut W) -> io::Result<()> {
        if !self.started {
            self.started = true;
            out.write_all(&self.header())?;
        }
        Ok(())
    }
}

/// One block compressed: its deflate bytes and the CRC-32 of its input.
pub(crate) struct GzipBlock {
    deflated: Vec<u8>,
    crc: Crc,
}

impl BlockCodec for GzipBlocks {
    const BLOCK: usize = BLOCK;
    const DICTIONARY: usize = WINDOW;
    type Settings = u32;
    type Compressed = GzipBlock;

    fn settings(&self) -> u32 {
        self.level
    }

    fn compress(level: u32, dictionary: &[u8], block: &[u8]) -> io::Result<GzipBlock> {
        let mut crc = Crc::new();
        crc.update(block);
        Ok(GzipBlock { deflated: deflate(level, dictionary, block)?, crc })
    }

    fn emit<W: Write>(&mut self, out: &mut W, block: GzipBlock) -> io::Result<()> {
        self.start(out)?;
        self.crc.combine(&block.crc);
        out.write_all(&block.deflated)
    }

    /// The final block, then the CRC-32 and the length modulo 2^32, as
    /// gzip's trailer has them.
    fn end<W: Write>(&mut self, out: &mut W) -> io::Result<()> {
        self.start(out)?;
        out.write_all(&FINAL_BLOCK)?;
        out.write_all(&self.crc.sum().to_le_bytes())?;
        out.write_all(&self.crc.amount().to_le_bytes())
    }
}

/// `block` as deflate blocks, not final, ending on a byte boundary (so
/// the next block can start on one): each run of [`SEGMENT`]s that
/// [`looks_random`] stored as it is, each other run deflated, primed with
/// the 32 KiB before it (from `dictionary` at the block's start) and ended
/// with a sync flush.
fn deflate(level: u32, dictionary: &[u8], block: &[u8]) -> io::Result<Vec<u8>> {
    // Room for incompressible input (stored blocks cost 5 bytes per
    // 64 KiB) and the flushes; grown if ever short.
    let mut out = Vec::with_capacity(block.len() + block.len() / 64 + 64);
    let random: Vec<bool> = block.chunks(SEGMENT).map(looks_random).collect();
    let mut first = 0;
    while first < random.len() {
        let kind = random[first];
        let last = random[first..].iter().position(|&r| r != kind).map_or(random.len(), |n| first + n);
        let (start, end) = (first * SEGMENT, (last * SEGMENT).min(block.len()));
        if kind {
            store(&block[start..end], &mut out);
        } else {
            let before = if start == 0 { dictionary } else { &block[start.saturating_sub(WINDOW)..start] };
            deflate_run(level, before, &block[start..end], &mut out)?;
        }
        first = last;
    }
    Ok(out)
}

/// Input bytes judged at once as worth deflating or not.
const SEGMENT: usize = 64 << 10;

/// Whether `segment`'s bytes are about evenly spread over all 256 values,
/// as compressed or encrypted data are: deflating it would cost most of a
/// layer's time and gain well under 1% (a deflate stream only finds
/// repeats within 32 KiB, and Huffman codes gain nothing on such a
/// spread). The test: the order-2 Rényi entropy of the bytes, from the sum
/// of the squared byte counts, is at least 7.97 bits per byte (random
/// bytes have 8; text about 4.5, machine code about 6). Integers only,
/// so the choice, and the bytes, are the same on every machine.
fn looks_random(segment: &[u8]) -> bool {
    // Four tables, so consecutive bytes do not wait on the same counter.
    let mut counts = [[0u32; 256]; 4];
    let mut quads = segment.chunks_exact(4);
    for quad in &mut quads {
        for (table, &byte) in counts.iter_mut().zip(quad) {
            table[usize::from(byte)] += 1;
        }
    }
    for &byte in quads.remainder() {
        counts[0][usize::from(byte)] += 1;
    }
    let squares: u64 = (0..256)
        .map(|value| {
            let count: u64 = counts.iter().map(|table| u64::from(table[value])).sum();
            count * count
        })
        .sum();
    let n = segment.len() as u64;
    squares * 250 <= n * n
}

/// The largest stored deflate block.
const STORED_MAX: usize = 0xffff;

/// `run` as stored deflate blocks (from a byte boundary, ending on one).
fn store(run: &[u8], out: &mut Vec<u8>) {
    for piece in run.chunks(STORED_MAX) {
        // Not final, type 0 (stored), padded to the byte; the length and
        // its complement.
        let len = piece.len() as u16;
        out.push(0);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(piece);
    }
}

/// `run` deflated into `out`, primed with `dictionary` and ended with a
/// sync flush.
///
/// Each run gets a new deflate context: zlib-rs's reset leaves the
/// window's old bytes behind, and a reused context was found to emit other
/// bytes for one block in thirty of a real layer, depending on which block
/// the thread compressed before (the bytes would depend on thread timing).
/// A new context's window is zeroed; making one costs about 1% of a block.
fn deflate_run(level: u32, dictionary: &[u8], run: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    let mut deflate = Compress::new(flate2::Compression::new(level), false);
    if !dictionary.is_empty() {
        deflate.set_dictionary(dictionary).map_err(io::Error::other)?;
    }
    out.reserve(run.len() + run.len() / 64 + 64);
    let mut input = run;
    loop {
        let before = deflate.total_in();
        deflate.compress_vec(input, out, FlushCompress::Sync).map_err(io::Error::other)?;
        let consumed = usize::try_from(deflate.total_in() - before).map_err(io::Error::other)?;
        input = &input[consumed..];
        // The flush is complete once a call leaves output room unused.
        if input.is_empty() && out.len() < out.capacity() {
            return Ok(());
        }
        out.reserve(64 << 10);
    }
}

#[cfg(test)]
#[path = "gzip_blocks_tests.rs"]
mod tests;
