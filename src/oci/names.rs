//! The grammar of repository names and tags (the distribution spec).

use thiserror::Error;

/// A repository name or tag outside the grammar, and why.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub(crate) enum InvalidName {
    #[error("a repository name has 1 to 255 characters")]
    Length,
    #[error(
        "`{0}` is not a valid repository component: lowercase letters and digits, separated by `.`, `_`, `__` or `-`"
    )]
    Component(String),
    #[error("`{0}` is not a valid registry host")]
    Host(String),
    #[error("`{0}` is not a valid tag: up to 128 of letters, digits, `_`, `.`, `-`, not starting with `.` or `-`")]
    Tag(String),
}

/// `[host[:port]/]component(/component)*`, components lowercase
/// alphanumerics joined by `.`, `_`, `__` or dashes.
pub(crate) fn check_repository(name: &str) -> Result<(), InvalidName> {
    if name.is_empty() || name.len() > 255 {
        return Err(InvalidName::Length);
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    let first = parts[0];
    if parts.len() > 1 && (first.contains(['.', ':']) || first == "localhost") {
        check_host(first)?;
        parts.remove(0);
    }
    for part in parts {
        if !is_path_component(part) {
            return Err(InvalidName::Component(part.to_owned()));
        }
    }
    Ok(())
}

fn check_host(host: &str) -> Result<(), InvalidName> {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    let name_ok = !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    if name_ok && port_ok { Ok(()) } else { Err(InvalidName::Host(host.to_owned())) }
}

fn is_path_component(part: &str) -> bool {
    let bytes = part.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &part[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub(crate) fn check_tag(tag: &str) -> Result<(), InvalidName> {
    let ok = tag.len() <= 128
        && tag
            .bytes()
            .enumerate()
            .all(|(i, b)| b.is_ascii_alphanumeric() || b == b'_' || (i > 0 && (b == b'.' || b == b'-')))
        && !tag.is_empty();
    if ok { Ok(()) } else { Err(InvalidName::Tag(tag.to_owned())) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories() {
        for ok in ["hello", "localhost/hello", "127.0.0.1:5000/a/b", "ghcr.io/o/x-y__z.w", "a--b"] {
            assert!(check_repository(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Hello", "a//b", "-a", "a_", "localhost:x/y", "a/B"] {
            assert!(check_repository(bad).is_err(), "{bad}");
        }
        assert_eq!(check_repository("").unwrap_err().to_string(), "a repository name has 1 to 255 characters");
        assert_eq!(check_repository("localhost:x/y").unwrap_err(), InvalidName::Host("localhost:x".into()));
        assert_eq!(
            check_repository("a/B").unwrap_err().to_string(),
            "`B` is not a valid repository component: lowercase letters and digits, separated by `.`, `_`, `__` or `-`"
        );
    }

    #[test]
    fn tags() {
        assert!(check_tag("1.0-rc_1").is_ok());
        assert_eq!(
            check_tag(".x").unwrap_err().to_string(),
            "`.x` is not a valid tag: up to 128 of letters, digits, `_`, `.`, `-`, not starting with `.` or `-`"
        );
        assert!(check_tag(&"a".repeat(129)).is_err());
    }
}
