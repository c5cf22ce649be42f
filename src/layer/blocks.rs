//! A compressing writer that cuts its input into fixed-size blocks,
//! compresses each as a task on the current rayon pool, and writes the
//! results in input order. A block's result depends only on its bytes, the
//! end of the block before it (its dictionary, for codecs that use one) and
//! the codec's settings, so the output is the same whatever the number of
//! threads or their timing, and `--jobs` bounds the threads a build uses.
//! The codecs: [`super::zstd_frames`] and [`super::gzip_blocks`].
//!
//! The writer never waits on work nobody is doing: a block still queued
//! when its turn comes is compressed by the writer itself, so one thread
//! suffices (`--jobs 1`) and a busy pool slows nothing down. At most a
//! window of blocks (twice the pool, at most 16) is in flight: memory is
//! bounded whatever the input.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// One codec of the block writer: how a block is compressed (on any
/// thread) and how the results are framed (on the writer's thread).
pub(crate) trait BlockCodec: 'static {
    /// Input bytes per block.
    const BLOCK: usize;
    /// Bytes at the end of each block handed to the next as its dictionary
    /// (0: blocks are independent).
    const DICTIONARY: usize;
    /// The settings a block is compressed with.
    type Settings: Copy + Send + Sync + 'static;
    /// A compressed block.
    type Compressed: Send + 'static;

    /// The settings for [`BlockCodec::compress`].
    fn settings(&self) -> Self::Settings;
    /// Compresses `block`, which follows `dictionary` in the input.
    fn compress(settings: Self::Settings, dictionary: &[u8], block: &[u8]) -> io::Result<Self::Compressed>;
    /// Writes a compressed block, the blocks in input order.
    fn emit<W: Write>(&mut self, out: &mut W, block: Self::Compressed) -> io::Result<()>;
    /// Ends the stream after the last block.
    fn end<W: Write>(&mut self, out: &mut W) -> io::Result<()>;
}

/// The block writer of codec `C` into `out`.
pub(crate) struct BlockWriter<W: Write, C: BlockCodec> {
    out: W,
    codec: C,
    block: Vec<u8>,
    /// The end of the last block submitted: the next one's dictionary.
    tail: Vec<u8>,
    pending: VecDeque<Arc<Slot<C>>>,
    /// Blocks handed to the pool and not yet written, at most.
    window: usize,
}

impl<W: Write, C: BlockCodec> BlockWriter<W, C> {
    /// `threads` is the pool size the layer may count on; it only sets how
    /// far the writer runs ahead of the compressors (memory), not the bytes.
    pub(crate) fn new(out: W, codec: C, threads: u32) -> BlockWriter<W, C> {
        BlockWriter {
            out,
            codec,
            block: Vec::with_capacity(C::BLOCK),
            tail: Vec::new(),
            pending: VecDeque::new(),
            window: (threads as usize).clamp(1, 8) * 2,
        }
    }

    /// Compresses what is left, ends the stream and hands back the inner
    /// writer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        if !self.block.is_empty() {
            self.submit();
        }
        self.drain_to(0)?;
        self.codec.end(&mut self.out)?;
        Ok(self.out)
    }

    fn submit(&mut self) {
        let block = std::mem::replace(&mut self.block, Vec::with_capacity(C::BLOCK));
        let next_tail = block[block.len().saturating_sub(C::DICTIONARY)..].to_vec();
        let dictionary = std::mem::replace(&mut self.tail, next_tail);
        let slot = Arc::new(Slot::new(self.codec.settings(), dictionary, block));
        let task = Arc::clone(&slot);
        rayon::spawn(move || {
            task.compress_if_queued();
        });
        self.pending.push_back(slot);
    }

    /// Writes blocks until at most `left` are pending. While the oldest is
    /// being compressed elsewhere, this thread compresses a later queued
    /// block rather than wait idle.
    fn drain_to(&mut self, left: usize) -> io::Result<()> {
        while self.pending.len() > left {
            let oldest_running = self.pending.front().is_some_and(|slot| slot.is_running());
            if oldest_running && self.pending.iter().any(|slot| slot.compress_if_queued()) {
                continue;
            }
            self.write_oldest()?;
        }
        Ok(())
    }

    fn write_oldest(&mut self) -> io::Result<()> {
        if let Some(slot) = self.pending.pop_front() {
            let compressed = slot.take()?;
            self.codec.emit(&mut self.out, compressed)?;
        }
        Ok(())
    }

    /// Writes the blocks that are done, in order, without waiting.
    fn write_ready(&mut self) -> io::Result<()> {
        while self.pending.front().is_some_and(|slot| slot.is_done()) {
            self.write_oldest()?;
        }
        Ok(())
    }
}

impl<W: Write, C: BlockCodec> Write for BlockWriter<W, C> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(C::BLOCK - self.block.len());
        self.block.extend_from_slice(&buf[..n]);
        if self.block.len() == C::BLOCK {
            self.submit();
            self.write_ready()?;
            self.drain_to(self.window)?;
        }
        Ok(n)
    }

    /// Blocks are only complete at block ends: flushing forwards what is
    /// already compressed.
    fn flush(&mut self) -> io::Result<()> {
        self.write_ready()?;
        self.out.flush()
    }
}

/// One block on its way to being compressed.
struct Slot<C: BlockCodec> {
    settings: C::Settings,
    state: Mutex<State<C::Compressed>>,
    done: Condvar,
}

enum State<T> {
    Queued { dictionary: Vec<u8>, block: Vec<u8> },
    Running,
    Done(io::Result<T>),
    Taken,
}

impl<C: BlockCodec> Slot<C> {
    fn new(settings: C::Settings, dictionary: Vec<u8>, block: Vec<u8>) -> Slot<C> {
        Slot { settings, state: Mutex::new(State::Queued { dictionary, block }), done: Condvar::new() }
    }

    fn lock(&self) -> MutexGuard<'_, State<C::Compressed>> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn is_done(&self) -> bool {
        matches!(*self.lock(), State::Done(_))
    }

    fn is_running(&self) -> bool {
        matches!(*self.lock(), State::Running)
    }

    /// Compresses the block unless a thread has started on it or the
    /// writer took it; whether it did.
    fn compress_if_queued(&self) -> bool {
        let (dictionary, block) = {
            let mut state = self.lock();
            match std::mem::replace(&mut *state, State::Running) {
                State::Queued { dictionary, block } => (dictionary, block),
                other => {
                    *state = other;
                    return false;
                }
            }
        };
        let compressed = C::compress(self.settings, &dictionary, &block);
        *self.lock() = State::Done(compressed);
        self.done.notify_all();
        true
    }

    /// The writer's side: the compressed block, compressing it here if no
    /// thread has started on it, else waiting for the thread that has.
    fn take(&self) -> io::Result<C::Compressed> {
        let mut state = self.lock();
        loop {
            match std::mem::replace(&mut *state, State::Taken) {
                State::Queued { dictionary, block } => {
                    drop(state);
                    return C::compress(self.settings, &dictionary, &block);
                }
                State::Running => {
                    *state = State::Running;
                    state = self.done.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
                }
                State::Done(compressed) => return compressed,
                State::Taken => return Err(io::Error::other("a compressed block was taken twice")),
            }
        }
    }
}

/// Test data for the block codecs: a third compressible letters, the rest
/// noise, the same on every run.
#[cfg(test)]
pub(super) fn sample(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..len)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if i % 3 == 0 { b'a' + (state % 4) as u8 } else { (state >> 56) as u8 }
        })
        .collect()
}
