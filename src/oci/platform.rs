//! Platforms (`os/arch[/variant]`), as images and indexes name them.

use std::fmt;

use thiserror::Error;

/// An image's platform.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        match &self.variant {
            Some(v) => write!(f, "/{v}"),
            None => Ok(()),
        }
    }
}

impl Platform {
    /// Whether an image of `offered` is one of `self`: a platform asked
    /// for without a variant matches any variant.
    pub(crate) fn matches(&self, offered: &Platform) -> bool {
        self.os == offered.os
            && self.architecture == offered.architecture
            && (self.variant.is_none() || self.variant == offered.variant)
    }

    /// The platform of the machine compose-img runs on, in Go's names
    /// (what skopeo picks from an index by default).
    pub(crate) fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "x86" => "386",
            "aarch64" => "arm64",
            "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
            other => other,
        };
        Platform { os: std::env::consts::OS.to_owned(), architecture: architecture.to_owned(), variant: None }
    }
}

/// Text that is not `os/arch[/variant]`, or not in the spelling images use.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub(crate) enum InvalidPlatform {
    #[error("`{text}` is not a platform: expected OS/ARCH or OS/ARCH/VARIANT, e.g. linux/amd64")]
    Syntax { text: String },
    #[error("`{text}` is not how images name a platform: write `{canonical}` (the GOOS/GOARCH spelling)")]
    NotCanonical { text: String, canonical: String },
}

/// The architectures (and variants) people write that images spell
/// otherwise, as containerd normalises them.
const ALIASES: [(&str, &str); 8] = [
    ("x86_64", "amd64"),
    ("x86-64", "amd64"),
    ("x64", "amd64"),
    ("aarch64", "arm64"),
    ("armhf", "arm/v7"),
    ("armel", "arm/v6"),
    ("i386", "386"),
    ("i686", "386"),
];

/// `os/arch[/variant]`.
pub(crate) fn parse_platform(text: &str) -> Result<Platform, InvalidPlatform> {
    let parts: Vec<&str> = text.split('/').collect();
    let word = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !(2..=3).contains(&parts.len()) || !parts.iter().all(|p| word(p)) {
        return Err(InvalidPlatform::Syntax { text: text.to_owned() });
    }
    let arch = parts[1..].join("/");
    for (alias, canonical) in ALIASES {
        if arch == alias || (parts[1] == alias && parts.len() == 3 && !alias.contains('/')) {
            let rest = if arch == alias { "" } else { &arch[alias.len()..] };
            let mut canonical = format!("{}/{canonical}{}", parts[0], if canonical.contains('/') { "" } else { rest });
            if let Err(InvalidPlatform::NotCanonical { canonical: further, .. }) = parse_platform(&canonical) {
                canonical = further;
            }
            return Err(InvalidPlatform::NotCanonical { text: text.to_owned(), canonical });
        }
    }
    Ok(Platform {
        os: parts[0].to_owned(),
        architecture: parts[1].to_owned(),
        variant: parts.get(2).map(|v| (*v).to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms() {
        assert_eq!(parse_platform("linux/arm/v7").unwrap().to_string(), "linux/arm/v7");
        assert_eq!(
            parse_platform("linux").unwrap_err().to_string(),
            "`linux` is not a platform: expected OS/ARCH or OS/ARCH/VARIANT, e.g. linux/amd64"
        );
        for (text, canonical) in [
            ("linux/x86_64", "linux/amd64"),
            ("linux/aarch64", "linux/arm64"),
            ("linux/armhf", "linux/arm/v7"),
            ("linux/aarch64/v8", "linux/arm64/v8"),
        ] {
            assert_eq!(
                parse_platform(text).unwrap_err(),
                InvalidPlatform::NotCanonical { text: text.into(), canonical: canonical.into() }
            );
        }
        assert_eq!(parse_platform("linux/arm64").unwrap().to_string(), "linux/arm64");
    }
}
