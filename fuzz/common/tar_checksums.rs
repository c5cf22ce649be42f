//! A mutator step for the targets that read tars: after libFuzzer's own
//! mutation, every header gets its checksum back. The tar reader refuses a
//! header whose checksum is wrong, so without this nearly every mutation of
//! a name, type, size or mode would only reach that one error.

/// libFuzzer's mutation of `data[..size]`, then the checksums fixed.
pub fn mutate(data: &mut [u8], size: usize, max_size: usize) -> usize {
    let size = libfuzzer_sys::fuzzer_mutate(data, size, max_size);
    fix(&mut data[..size]);
    size
}

/// Walks the headers of the tar in `data` (each followed by its content,
/// rounded up to 512-byte blocks) and writes each one's checksum as tar
/// does: the sum of its bytes with the checksum field read as spaces. Stops
/// at the end-of-archive block or a size that is not a number.
pub fn fix(data: &mut [u8]) {
    let mut offset = 0usize;
    while let Some(header) = data.get_mut(offset..offset + 512) {
        if header.iter().all(|&b| b == 0) {
            return;
        }
        header[148..156].fill(b' ');
        let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
        header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        let Some(size) = size(&header[124..136]) else { return };
        let blocks = size.div_ceil(512).saturating_add(1);
        let Some(next) = usize::try_from(blocks).ok().and_then(|b| b.checked_mul(512)) else { return };
        offset = offset.saturating_add(next);
    }
}

/// The size field: octal digits (spaces and NULs around them), or GNU's
/// base-256 when the high bit of the first byte is set.
fn size(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 != 0 {
        return field[1..].iter().try_fold(0u64, |n, &b| n.checked_mul(256).map(|n| n + u64::from(b)));
    }
    let text = std::str::from_utf8(field).ok()?.trim_matches(|c| c == ' ' || c == '\0');
    if text.is_empty() { Some(0) } else { u64::from_str_radix(text, 8).ok() }
}
