//! Checks for the small strings of a recipe: repository names and tags (the
//! grammar of the distribution spec), platforms, ports and modes.

use super::model::Platform;

/// `[host[:port]/]component(/component)*`, components lowercase
/// alphanumerics joined by `.`, `_`, `__` or dashes.
pub fn check_repository(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 255 {
        return Err("a repository name has 1 to 255 characters".into());
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    let first = parts[0];
    if parts.len() > 1 && (first.contains(['.', ':']) || first == "localhost") {
        check_host(first)?;
        parts.remove(0);
    }
    for part in parts {
        if !is_path_component(part) {
            return Err(format!(
                "`{part}` is not a valid repository component: lowercase letters and digits, separated by `.`, `_`, `__` or `-`"
            ));
        }
    }
    Ok(())
}

fn check_host(host: &str) -> Result<(), String> {
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
    if name_ok && port_ok { Ok(()) } else { Err(format!("`{host}` is not a valid registry host")) }
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
pub fn check_tag(tag: &str) -> Result<(), String> {
    let ok = tag.len() <= 128
        && tag
            .bytes()
            .enumerate()
            .all(|(i, b)| b.is_ascii_alphanumeric() || b == b'_' || (i > 0 && (b == b'.' || b == b'-')))
        && !tag.is_empty();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{tag}` is not a valid tag: up to 128 of letters, digits, `_`, `.`, `-`, not starting with `.` or `-`"
        ))
    }
}

/// `os/arch[/variant]`.
pub fn parse_platform(text: &str) -> Result<Platform, String> {
    let parts: Vec<&str> = text.split('/').collect();
    let word = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !(2..=3).contains(&parts.len()) || !parts.iter().all(|p| word(p)) {
        return Err(format!("`{text}` is not a platform: expected OS/ARCH or OS/ARCH/VARIANT, e.g. linux/amd64"));
    }
    Ok(Platform {
        os: parts[0].to_owned(),
        architecture: parts[1].to_owned(),
        variant: parts.get(2).map(|v| (*v).to_owned()),
    })
}

/// `PORT[/tcp|udp|sctp]`, normalised to `PORT/PROTO`.
pub fn parse_port(text: &str) -> Result<String, String> {
    let (port, proto) = text.split_once('/').unwrap_or((text, "tcp"));
    let port_ok = port.parse::<u16>().is_ok_and(|p| p > 0) && !port.starts_with('0');
    if port_ok && matches!(proto, "tcp" | "udp" | "sctp") {
        Ok(format!("{port}/{proto}"))
    } else {
        Err(format!("`{text}` is not a port: expected PORT or PORT/tcp|udp|sctp with PORT in 1..65535"))
    }
}

/// An octal mode string such as `"0644"` or `"1777"`, at most `07777`.
pub fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if !digits.is_empty() && digits.len() <= 5 && mode <= 0o7777 => Ok(mode),
        _ => Err(format!("`{text}` is not a mode: expected octal digits up to 7777, e.g. \"0644\"")),
    }
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
    }

    #[test]
    fn tags_platforms_ports_modes() {
        assert!(check_tag("1.0-rc_1").is_ok());
        assert!(check_tag(".x").is_err());
        assert!(check_tag(&"a".repeat(129)).is_err());
        assert_eq!(parse_platform("linux/arm/v7").unwrap().to_string(), "linux/arm/v7");
        assert!(parse_platform("linux").is_err());
        assert_eq!(parse_port("8080").unwrap(), "8080/tcp");
        assert!(parse_port("0").is_err());
        assert!(parse_port("80/icmp").is_err());
        assert_eq!(parse_mode("1777").unwrap(), 0o1777);
        assert_eq!(parse_mode("0o644").unwrap(), 0o644);
        for bad in ["", "8", "0888", "17777", "rw"] {
            assert!(parse_mode(bad).is_err(), "{bad}");
        }
    }
}
