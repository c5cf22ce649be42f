use std::io::{Read, Write};

use super::{BLOCK, GzipBlocks, ParallelGzip};
use crate::layer::blocks::sample;

fn gzip(data: &[u8], threads: usize, write_size: usize) -> Vec<u8> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        let mut writer = ParallelGzip::new(Vec::new(), GzipBlocks::new(6), threads as u32);
        for piece in data.chunks(write_size.max(1)) {
            writer.write_all(piece).unwrap();
        }
        writer.finish().unwrap()
    })
}

/// The one member in `blob` decoded (its CRC-32 and length checked), and
/// nothing after it.
fn gunzip(blob: &[u8]) -> Vec<u8> {
    let mut decoder = flate2::read::GzDecoder::new(blob);
    let mut back = Vec::new();
    decoder.read_to_end(&mut back).unwrap();
    assert!(decoder.into_inner().is_empty(), "bytes after the member");
    back
}

#[test]
fn bytes_do_not_depend_on_threads_or_write_sizes_and_decode_back() {
    let data = sample(5 * BLOCK + 12_345);
    let one = gzip(&data, 1, 1 << 16);
    assert_eq!(one, gzip(&data, 2, 7_777));
    assert_eq!(one, gzip(&data, 8, BLOCK + 1));
    assert_eq!(gunzip(&one), data);
}

#[test]
fn the_header_has_no_time_or_name_and_says_unknown_system() {
    let out = gzip(b"hello", 1, 5);
    assert_eq!(out[..10], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
}

#[test]
fn empty_input_is_one_empty_member() {
    let out = gzip(&[], 1, 1);
    // Header, the empty final block, CRC-32 0 and length 0.
    assert_eq!(out.len(), 10 + 2 + 8);
    assert_eq!(gunzip(&out), Vec::<u8>::new());
}

#[test]
fn blocks_at_the_edges_decode_back() {
    for len in [1, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK, 3 * BLOCK - 1] {
        let data = sample(len);
        let out = gzip(&data, 2, 4096);
        assert_eq!(gunzip(&out), data, "{len} bytes");
        assert_eq!(out, gzip(&data, 1, len), "{len} bytes");
    }
}

#[test]
fn each_block_reaches_back_into_the_one_before() {
    // Every block repeats the same 16 KiB of noise: with the dictionary, a
    // block starts matching at once, as in one deflate stream; without, it
    // would cost about twice as much.
    let pattern = sample(16 << 10).iter().map(|b| b.wrapping_mul(31)).collect::<Vec<_>>();
    let data: Vec<u8> = pattern.iter().copied().cycle().take(8 * BLOCK).collect();
    let alone = super::deflate(6, &[], &data[..BLOCK]).unwrap().len();
    let out = gzip(&data, 2, BLOCK);
    assert!(out.len() < 8 * alone * 2 / 3, "{} bytes, {alone} for one block alone", out.len());
    assert!(out.len() as f64 <= serial(&data).len() as f64 * 1.01, "{} bytes", out.len());
    assert_eq!(gunzip(&out), data);
}

#[test]
fn costs_little_against_one_deflate_stream() {
    let data = sample(6 * BLOCK);
    let serial = serial(&data);
    let parallel = gzip(&data, 2, 1 << 16);
    assert!(parallel.len() as f64 <= serial.len() as f64 * 1.005, "{} vs {}", parallel.len(), serial.len());
}

/// `data` as one deflate stream at level 6.
fn serial(data: &[u8]) -> Vec<u8> {
    let mut serial = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    serial.write_all(data).unwrap();
    serial.finish().unwrap()
}
