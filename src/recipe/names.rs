//! Checks for the small strings of a recipe that are its own: ports and
//! modes. Repository names, tags and platforms follow the image formats
//! ([`crate::oci::names`], [`crate::oci::platform`]).

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
    fn ports_and_modes() {
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
