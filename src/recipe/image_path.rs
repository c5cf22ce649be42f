//! Paths inside an image: absolute in recipes, stored normalised and
//! relative (`etc/motd`), never escaping `/`.

use std::fmt;

use thiserror::Error;

/// A normalised path inside the image, without the leading `/`; the empty
/// string is the root. Components are never empty, `.` or `..`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ImagePath(String);

/// Prefix that marks whiteout entries in a layer; no real entry may use it.
pub(crate) const WHITEOUT_PREFIX: &str = ".wh.";

/// Text that is not a path inside the image.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub(crate) enum InvalidImagePath {
    #[error("the path is empty")]
    Empty,
    #[error("the path contains a NUL byte")]
    Nul,
    #[error("`{0}` is not absolute: paths inside the image start with `/`")]
    Relative(String),
    #[error("`{0}` contains `..`, which could escape `/`")]
    DotDot(String),
    /// A component starting with [`WHITEOUT_PREFIX`].
    #[error("`{0}`: names starting with `.wh.` are reserved for whiteouts (use `remove`)")]
    Whiteout(String),
}

impl ImagePath {
    pub(crate) fn root() -> ImagePath {
        ImagePath(String::new())
    }

    /// Normalises an absolute path written in a recipe or handed back by a
    /// plugin: repeated and trailing slashes and `.` components go away;
    /// `..`, NUL, a relative path and whiteout names are errors.
    pub(crate) fn parse(text: &str) -> Result<ImagePath, InvalidImagePath> {
        if text.is_empty() {
            return Err(InvalidImagePath::Empty);
        }
        if text.contains('\0') {
            return Err(InvalidImagePath::Nul);
        }
        if !text.starts_with('/') {
            return Err(InvalidImagePath::Relative(text.to_owned()));
        }
        let mut parts = Vec::new();
        for part in text.split('/') {
            match part {
                "" | "." => {}
                ".." => return Err(InvalidImagePath::DotDot(text.to_owned())),
                name if name.starts_with(WHITEOUT_PREFIX) => return Err(InvalidImagePath::Whiteout(text.to_owned())),
                name => parts.push(name),
            }
        }
        Ok(ImagePath(parts.join("/")))
    }

    /// `self/name` for a single, already checked component.
    pub(crate) fn join(&self, name: &str) -> ImagePath {
        if self.0.is_empty() { ImagePath(name.to_owned()) } else { ImagePath(format!("{}/{name}", self.0)) }
    }

    pub(crate) fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn parent(&self) -> Option<ImagePath> {
        if self.is_root() {
            return None;
        }
        Some(match self.0.rfind('/') {
            Some(i) => ImagePath(self.0[..i].to_owned()),
            None => ImagePath::root(),
        })
    }

    pub(crate) fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or("")
    }

    /// The relative form used in tar entry names (`etc/motd`).
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `self` lies strictly below `dir`.
    pub(crate) fn is_inside(&self, dir: &ImagePath) -> bool {
        dir.is_root() && !self.is_root()
            || self.0.len() > dir.0.len() && self.0.starts_with(&dir.0) && self.0.as_bytes()[dir.0.len()] == b'/'
    }
}

/// Lookups by `&str` in maps keyed by `ImagePath` (the orders agree).
impl std::borrow::Borrow<str> for ImagePath {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ImagePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises() {
        assert_eq!(ImagePath::parse("/etc//motd/").unwrap().as_str(), "etc/motd");
        assert_eq!(ImagePath::parse("/./a/./b").unwrap().as_str(), "a/b");
        assert!(ImagePath::parse("/").unwrap().is_root());
    }

    #[test]
    fn refuses_escapes_and_reserved_names() {
        for bad in ["", "etc", "/a/../b", "/..", "/a\0b", "/a/.wh.b"] {
            assert!(ImagePath::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            ImagePath::parse("/a/.wh.b").unwrap_err().to_string(),
            "`/a/.wh.b`: names starting with `.wh.` are reserved for whiteouts (use `remove`)"
        );
    }

    #[test]
    fn parents_and_containment() {
        let p = ImagePath::parse("/a/b/c").unwrap();
        assert_eq!(p.parent().unwrap().as_str(), "a/b");
        assert_eq!(p.file_name(), "c");
        assert!(p.is_inside(&ImagePath::parse("/a").unwrap()));
        assert!(!ImagePath::parse("/ab").unwrap().is_inside(&ImagePath::parse("/a").unwrap()));
        assert!(p.is_inside(&ImagePath::root()));
        assert_eq!(ImagePath::parse("/a").unwrap().parent().unwrap(), ImagePath::root());
    }
}
