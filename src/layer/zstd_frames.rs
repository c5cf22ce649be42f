//! zstd as a sequence of independent frames, one per [`CHUNK`] bytes of
//! input, compressed on the current rayon pool. Each frame depends only on
//! its chunk and the level, so the blob is the same whatever the number of
//! threads, and `--jobs` bounds the threads a build uses (libzstd's own
//! multithreading would add threads of its own and emits other bytes with
//! none). Every zstd decoder reads concatenated frames as one stream.
//!
//! The writer never waits on work nobody is doing: a chunk still queued
//! when its turn comes is compressed by the writer itself, so one thread
//! suffices (`--jobs 1`) and a busy pool slows nothing down.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Input bytes per frame: large enough that the lost history at frame
/// starts costs little ratio (level 3 matches within 2 MiB), small enough
/// to spread a layer of a few tens of MB over the pool.
pub(crate) const CHUNK: usize = 4 << 20;

/// A compressing writer that emits frames in input order into `out`.
pub(crate) struct FramedZstd<W: Write> {
    out: W,
    level: i32,
    chunk: Vec<u8>,
    pending: VecDeque<Arc<Slot>>,
    /// Chunks handed to the pool and not yet written, at most.
    window: usize,
    emitted: bool,
}

impl<W: Write> FramedZstd<W> {
    /// `threads` is the pool size the layer may count on; it only sets how
    /// far the writer runs ahead of the compressors (memory), not the bytes.
    pub(crate) fn new(out: W, level: i32, threads: u32) -> FramedZstd<W> {
        FramedZstd {
            out,
            level,
            chunk: Vec::with_capacity(CHUNK),
            pending: VecDeque::new(),
            window: (threads as usize).clamp(1, 8) * 2,
            emitted: false,
        }
    }

    /// Compresses what is left and hands back the inner writer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        if !self.chunk.is_empty() || !self.emitted {
            self.submit();
        }
        self.drain_to(0)?;
        Ok(self.out)
    }

    fn submit(&mut self) {
        let slot = Arc::new(Slot::new(std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK))));
        let task = Arc::clone(&slot);
        let level = self.level;
        rayon::spawn(move || {
            task.compress_if_queued(level);
        });
        self.pending.push_back(slot);
        self.emitted = true;
    }

    /// Writes frames until at most `left` chunks are pending. While the
    /// oldest is being compressed elsewhere, this thread compresses a later
    /// queued chunk rather than wait idle.
    fn drain_to(&mut self, left: usize) -> io::Result<()> {
        while self.pending.len() > left {
            let oldest_running = self.pending.front().is_some_and(|slot| slot.is_running());
            if oldest_running && self.pending.iter().any(|slot| slot.compress_if_queued(self.level)) {
                continue;
            }
            self.write_oldest()?;
        }
        Ok(())
    }

    fn write_oldest(&mut self) -> io::Result<()> {
        if let Some(slot) = self.pending.pop_front() {
            let frame = slot.take(self.level)?;
            self.out.write_all(&frame)?;
        }
        Ok(())
    }

    /// Writes the frames that are done, in order, without waiting.
    fn write_ready(&mut self) -> io::Result<()> {
        while self.pending.front().is_some_and(|slot| slot.is_done()) {
            self.write_oldest()?;
        }
        Ok(())
    }
}

impl<W: Write> Write for FramedZstd<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(CHUNK - self.chunk.len());
        self.chunk.extend_from_slice(&buf[..n]);
        if self.chunk.len() == CHUNK {
            self.submit();
            self.write_ready()?;
            self.drain_to(self.window)?;
        }
        Ok(n)
    }

    /// Frames are only complete at chunk ends: flushing forwards what is
    /// already compressed.
    fn flush(&mut self) -> io::Result<()> {
        self.write_ready()?;
        self.out.flush()
    }
}

/// One chunk on its way to a frame.
struct Slot {
    state: Mutex<State>,
    done: Condvar,
}

enum State {
    Queued(Vec<u8>),
    Running,
    Done(io::Result<Vec<u8>>),
    Taken,
}

impl Slot {
    fn new(chunk: Vec<u8>) -> Slot {
        Slot { state: Mutex::new(State::Queued(chunk)), done: Condvar::new() }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn is_done(&self) -> bool {
        matches!(*self.lock(), State::Done(_))
    }

    fn is_running(&self) -> bool {
        matches!(*self.lock(), State::Running)
    }

    /// Compresses the chunk unless a thread has started on it or the
    /// writer took it; whether it did.
    fn compress_if_queued(&self, level: i32) -> bool {
        let chunk = {
            let mut state = self.lock();
            match std::mem::replace(&mut *state, State::Running) {
                State::Queued(chunk) => chunk,
                other => {
                    *state = other;
                    return false;
                }
            }
        };
        let frame = compress(&chunk, level);
        *self.lock() = State::Done(frame);
        self.done.notify_all();
        true
    }

    /// The writer's side: the frame, compressing it here if no thread has
    /// started on it, else waiting for the thread that has.
    fn take(&self, level: i32) -> io::Result<Vec<u8>> {
        let mut state = self.lock();
        loop {
            match std::mem::replace(&mut *state, State::Taken) {
                State::Queued(chunk) => {
                    drop(state);
                    return compress(&chunk, level);
                }
                State::Running => {
                    *state = State::Running;
                    state = self.done.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
                }
                State::Done(frame) => return frame,
                State::Taken => return Err(io::Error::other("a zstd frame was taken twice")),
            }
        }
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

    use super::{CHUNK, FramedZstd};

    fn sample(len: usize) -> Vec<u8> {
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

    fn framed(data: &[u8], threads: usize, write_size: usize) -> Vec<u8> {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut writer = FramedZstd::new(Vec::new(), 3, threads as u32);
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
