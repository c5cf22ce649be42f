//! Text that came from an image, a registry or a signature (names, labels,
//! identities, references, plugin output), made safe to print for people:
//! a terminal must only ever see it, never obey it. The bottom stage, so
//! every stage's error messages and the CLI's output use the one rule.
//!
//! [`escape`] writes every control character visibly: C0 (ESC, CR, LF, TAB,
//! ...), DEL, C1 (U+0080..U+009F, which some terminals read as ESC
//! sequences) and the Unicode bidirectional overrides and isolates (which
//! reorder what is shown). `\t`, `\n`, `\r` keep their usual spelling;
//! other C0 characters and DEL are written `\x1b`, `\x7f`; the rest
//! `\u{9b}`, `\u{202e}`. Everything else, a backslash included, is left
//! as it is, so ordinary text prints unchanged.
//!
//! Use it for human output only: JSON output stays exact (serde escapes
//! control characters there already).

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with every control character written visibly (borrowed when
/// there is none).
pub(crate) fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_control(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn is_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_control_characters_and_keeps_the_rest() {
        assert!(matches!(escape("registry.example/team/app:1.0 ünï"), Cow::Borrowed(_)));
        assert_eq!(escape("a\x1b[2Jb\rc\nd\te\x00f\x7fg"), r"a\x1b[2Jb\rc\nd\te\x00f\x7fg");
        assert_eq!(escape("\u{9b}31m \u{85} \u{202e}txt.exe \u{2066}"), r"\u{9b}31m \u{85} \u{202e}txt.exe \u{2066}");
        assert_eq!(escape(r"C:\x1b stays"), r"C:\x1b stays");
    }
}
