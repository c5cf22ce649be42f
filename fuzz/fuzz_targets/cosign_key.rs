#![no_main]

use pem_rfc7468::LineEnding;

libfuzzer_sys::fuzz_target!(|data: &[u8]| compose_img::fuzzing::cosign_key(data));

// Mostly the JSON inside the PEM is mutated (and encoded again), so the
// scrypt parameters, salt, nonce and box are explored rather than only
// the PEM and base64 framing around them, which plain mutation breaks.
libfuzzer_sys::fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    let inner = pem_rfc7468::decode_vec(&data[..size]).ok().filter(|_| seed % 4 != 0);
    let Some((label, mut json)) = inner else { return libfuzzer_sys::fuzzer_mutate(data, size, max_size) };
    let json_size = json.len();
    json.resize(json_size.max(max_size * 3 / 4), 0);
    let max_json = json.len();
    let json_size = libfuzzer_sys::fuzzer_mutate(&mut json, json_size, max_json);
    match pem_rfc7468::encode_string(label, LineEnding::LF, &json[..json_size]) {
        Ok(pem) if pem.len() <= max_size => {
            data[..pem.len()].copy_from_slice(pem.as_bytes());
            pem.len()
        }
        _ => libfuzzer_sys::fuzzer_mutate(data, size, max_size),
    }
});
