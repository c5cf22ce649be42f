#![no_main]

#[path = "../common/tar_checksums.rs"]
mod tar_checksums;

libfuzzer_sys::fuzz_target!(|data: &[u8]| compose_img::fuzzing::docker_archive(data));

libfuzzer_sys::fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, _seed: u32| {
    tar_checksums::mutate(data, size, max_size)
});
