//! Image references in the transport syntax of containers-transports(5).

use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::oci::registry_reference::{InvalidReference, Reference};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ImageRef {
    /// `oci:DIR[:TAG]`
    Oci { dir: PathBuf, tag: Option<String> },
    /// `oci-archive:FILE[:TAG]`
    OciArchive { file: PathBuf, tag: Option<String> },
    /// `docker-archive:FILE`
    DockerArchive { file: PathBuf },
    /// `docker://HOST/REPO[:TAG|@DIGEST]`, or the same without the prefix.
    Docker(Reference),
}

/// Text that is not an image reference in any transport's syntax.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub(crate) enum InvalidImageRef {
    #[error("`{0}` names no path")]
    NoPath(String),
    #[error("`{0}` has an empty or invalid tag")]
    BadTag(String),
    #[error(
        "`{0}` is not an image reference: expected oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE or [docker://]HOST/REPO[:TAG|@DIGEST]"
    )]
    NoTransport(String),
    #[error(transparent)]
    Registry(#[from] InvalidReference),
}

impl ImageRef {
    /// The tag it names, if any.
    pub(crate) fn tag(&self) -> Option<&str> {
        match self {
            ImageRef::Oci { tag, .. } | ImageRef::OciArchive { tag, .. } => tag.as_deref(),
            ImageRef::DockerArchive { .. } => None,
            ImageRef::Docker(reference) => reference.tag.as_deref(),
        }
    }

    /// The same place with `tag` (a docker archive has no tags: unchanged).
    pub(crate) fn with_tag(&self, tag: &str) -> ImageRef {
        match self {
            ImageRef::Oci { dir, .. } => ImageRef::Oci { dir: dir.clone(), tag: Some(tag.to_owned()) },
            ImageRef::OciArchive { file, .. } => ImageRef::OciArchive { file: file.clone(), tag: Some(tag.to_owned()) },
            ImageRef::DockerArchive { .. } => self.clone(),
            ImageRef::Docker(reference) => ImageRef::Docker(reference.with_tag(tag)),
        }
    }

    /// The same reference with a relative file path taken from `dir`.
    pub(crate) fn relative_to(self, dir: &Path) -> ImageRef {
        match self {
            ImageRef::Oci { dir: d, tag } => ImageRef::Oci { dir: dir.join(d), tag },
            ImageRef::OciArchive { file, tag } => ImageRef::OciArchive { file: dir.join(file), tag },
            ImageRef::DockerArchive { file } => ImageRef::DockerArchive { file: dir.join(file) },
            docker @ ImageRef::Docker(_) => docker,
        }
    }

    pub(crate) fn parse(text: &str) -> Result<ImageRef, InvalidImageRef> {
        let path_and_tag = |rest: &str| -> Result<(PathBuf, Option<String>), InvalidImageRef> {
            // As in containers/image: the path ends at the first `:`.
            let (path, tag) = match rest.split_once(':') {
                Some((path, tag)) => (path, Some(tag)),
                None => (rest, None),
            };
            if path.is_empty() {
                return Err(InvalidImageRef::NoPath(text.to_owned()));
            }
            if tag.is_some_and(|t| t.is_empty() || t.contains(['\0', '\n'])) {
                return Err(InvalidImageRef::BadTag(text.to_owned()));
            }
            Ok((PathBuf::from(path), tag.map(str::to_owned)))
        };
        if let Some(rest) = text.strip_prefix("oci:") {
            let (dir, tag) = path_and_tag(rest)?;
            return Ok(ImageRef::Oci { dir, tag });
        }
        if let Some(rest) = text.strip_prefix("oci-archive:") {
            let (file, tag) = path_and_tag(rest)?;
            return Ok(ImageRef::OciArchive { file, tag });
        }
        if let Some(rest) = text.strip_prefix("docker-archive:") {
            let (file, _) = path_and_tag(rest)?;
            return Ok(ImageRef::DockerArchive { file });
        }
        let (reference, explicit) = match text.strip_prefix("docker://") {
            Some(rest) => (rest, true),
            None => (text, false),
        };
        if !explicit && !reference.contains('/') {
            return Err(InvalidImageRef::NoTransport(text.to_owned()));
        }
        Ok(ImageRef::Docker(Reference::parse(reference)?))
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let with_tag = |f: &mut fmt::Formatter<'_>, prefix: &str, path: &PathBuf, tag: &Option<String>| {
            write!(f, "{prefix}:{}", path.display())?;
            tag.as_ref().map_or(Ok(()), |t| write!(f, ":{t}"))
        };
        match self {
            ImageRef::Oci { dir, tag } => with_tag(f, "oci", dir, tag),
            ImageRef::OciArchive { file, tag } => with_tag(f, "oci-archive", file, tag),
            ImageRef::DockerArchive { file } => write!(f, "docker-archive:{}", file.display()),
            ImageRef::Docker(reference) => write!(f, "docker://{reference}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_transports() {
        assert_eq!(
            ImageRef::parse("oci:out/hello:1.0").unwrap(),
            ImageRef::Oci { dir: "out/hello".into(), tag: Some("1.0".into()) }
        );
        assert_eq!(ImageRef::parse("oci:out").unwrap(), ImageRef::Oci { dir: "out".into(), tag: None });
        assert_eq!(
            ImageRef::parse("localhost:5000/a:1").unwrap(),
            ImageRef::Docker(Reference::parse("localhost:5000/a:1").unwrap())
        );
        for bad in ["oci:", "oci::x", "nothing", "oci:x:"] {
            assert!(ImageRef::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(ImageRef::parse("oci:").unwrap_err().to_string(), "`oci:` names no path");
        assert_eq!(ImageRef::parse("oci:x:").unwrap_err().to_string(), "`oci:x:` has an empty or invalid tag");
        assert_eq!(ImageRef::parse("oci:a:b").unwrap().to_string(), "oci:a:b");
    }
}
