#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| compose_img::fuzzing::lock(data));
