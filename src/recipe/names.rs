//! Checks for the small strings of a recipe that are its own: ports,
//! modes, symlink targets, `copy` globs and text that may not be empty.
//! Repository names, tags and platforms follow the image formats
//! ([`crate::oci::names`], [`crate::oci::platform`]).

use thiserror::Error;

/// Text that is not a port.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("`{text}` is not a port: expected PORT or PORT/tcp|udp|sctp with PORT in 1..65535")]
pub(crate) struct InvalidPort {
    pub text: String,
}

/// Text that is not a mode.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("`{text}` is not a mode: expected octal digits up to 7777, e.g. \"0644\"")]
pub(crate) struct InvalidMode {
    pub text: String,
}

/// A control character in text bound for the image config.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[error("the control character U+{:04X}", u32::from(*.0))]
pub(crate) struct ControlCharacter(pub char);

/// Text that may not be empty is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[error("it is empty")]
pub(crate) struct Empty;

/// A symlink target that is empty or holds NUL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[error("a symlink target may not be empty or contain NUL")]
pub(crate) struct InvalidTarget;

/// A `copy` glob that is not one.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub(crate) enum InvalidGlob {
    #[error("`{0}` starts with `/`: globs are relative to `src`")]
    Absolute(String),
    #[error("`{text}` is not a glob: {kind}")]
    Malformed { text: String, kind: globset::ErrorKind },
}

/// Refuses C0 control characters (U+0000 to U+001F, tab and newline
/// included) and DEL (U+007F): the image config (user, environment,
/// entrypoint, command, working directory, labels, stop signal, volumes)
/// and annotations hold none.
pub(crate) fn no_control_characters(text: &str) -> Result<(), ControlCharacter> {
    text.chars().find(char::is_ascii_control).map_or(Ok(()), |c| Err(ControlCharacter(c)))
}

/// `PORT[/tcp|udp|sctp]`, normalised to `PORT/PROTO`.
pub(crate) fn parse_port(text: &str) -> Result<String, InvalidPort> {
    let (port, proto) = text.split_once('/').unwrap_or((text, "tcp"));
    let port_ok = port.parse::<u16>().is_ok_and(|p| p > 0) && !port.starts_with('0');
    if port_ok && matches!(proto, "tcp" | "udp" | "sctp") {
        Ok(format!("{port}/{proto}"))
    } else {
        Err(InvalidPort { text: text.to_owned() })
    }
}

/// An octal mode string such as `"0644"` or `"1777"`, at most `07777`.
pub(crate) fn parse_mode(text: &str) -> Result<u32, InvalidMode> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if !digits.is_empty() && digits.len() <= 5 && mode <= 0o7777 => Ok(mode),
        _ => Err(InvalidMode { text: text.to_owned() }),
    }
}

/// `text` itself, unless it is empty.
pub(crate) fn non_empty(text: &str) -> Result<String, Empty> {
    if text.is_empty() { Err(Empty) } else { Ok(text.to_owned()) }
}

/// `text` itself, unless it is empty or holds NUL.
pub(crate) fn symlink_target(text: &str) -> Result<String, InvalidTarget> {
    if text.is_empty() || text.contains('\0') { Err(InvalidTarget) } else { Ok(text.to_owned()) }
}

/// A glob relative to a `copy`'s `src` (`*` stops at `/`).
pub(crate) fn glob(text: &str) -> Result<globset::Glob, InvalidGlob> {
    if text.starts_with('/') {
        return Err(InvalidGlob::Absolute(text.to_owned()));
    }
    let malformed = |e: globset::Error| InvalidGlob::Malformed { text: text.to_owned(), kind: e.kind().clone() };
    globset::GlobBuilder::new(text).literal_separator(true).build().map_err(malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_modes() {
        assert_eq!(parse_port("8080").unwrap(), "8080/tcp");
        assert_eq!(
            parse_port("0").unwrap_err().to_string(),
            "`0` is not a port: expected PORT or PORT/tcp|udp|sctp with PORT in 1..65535"
        );
        assert!(parse_port("80/icmp").is_err());
        assert_eq!(parse_mode("1777").unwrap(), 0o1777);
        assert_eq!(parse_mode("0o644").unwrap(), 0o644);
        for bad in ["", "8", "0888", "17777", "rw"] {
            assert!(parse_mode(bad).is_err(), "{bad}");
        }
        assert_eq!(no_control_characters("a b=ü~"), Ok(()));
        for (text, c) in [("a\0", '\0'), ("\tx", '\t'), ("x\ny", '\n'), ("\u{1b}[0m", '\u{1b}'), ("\u{7f}", '\u{7f}')] {
            assert_eq!(no_control_characters(text), Err(ControlCharacter(c)), "{text:?}");
        }
        assert_eq!(ControlCharacter('\0').to_string(), "the control character U+0000");
        assert_eq!(
            parse_mode("rw").unwrap_err().to_string(),
            "`rw` is not a mode: expected octal digits up to 7777, e.g. \"0644\""
        );
    }

    #[test]
    fn empty_strings_targets_and_globs() {
        assert_eq!(non_empty("a").unwrap(), "a");
        assert_eq!(non_empty("").unwrap_err().to_string(), "it is empty");
        assert_eq!(symlink_target("../a").unwrap(), "../a");
        for bad in ["", "a\0b"] {
            assert_eq!(
                symlink_target(bad).unwrap_err().to_string(),
                "a symlink target may not be empty or contain NUL"
            );
        }
        assert!(glob("*.txt").unwrap().compile_matcher().is_match("a.txt"));
        assert!(!glob("*.txt").unwrap().compile_matcher().is_match("a/b.txt"));
        assert_eq!(glob("/etc").unwrap_err().to_string(), "`/etc` starts with `/`: globs are relative to `src`");
        assert_eq!(glob("a[").unwrap_err().to_string(), "`a[` is not a glob: unclosed character class; missing ']'");
    }
}
