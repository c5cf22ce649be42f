//! Sizes and counts as people read them.

use crate::registry::PushStats;

pub(super) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// `pushed REF: 2 blobs uploaded (1.2 MiB), 3 already there, 1 mounted`.
pub(super) fn push_line(reference: &str, push: &PushStats) -> String {
    format!(
        "pushed {reference}: {} uploaded ({}), {} already there, {} mounted",
        plural(push.uploaded, "blob"),
        human_bytes(push.uploaded_bytes),
        push.present,
        push.mounted
    )
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}
