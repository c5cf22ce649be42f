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
    /// `docker-archive:FILE[:REF|:@N]`
    DockerArchive { file: PathBuf, image: Option<ArchiveImage> },
    /// `dir:PATH`: skopeo's directory of one image (no tags).
    Dir { dir: PathBuf },
    /// `docker://HOST/REPO[:TAG|@DIGEST]`, or the same without the prefix.
    Docker(Reference),
}

/// Which image of a docker archive (containers-transports(5)): the one
/// whose `RepoTags` hold a name (written: the name it gets), or the N-th
/// (from 0) of its `manifest.json` (reading only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ArchiveImage {
    Named(Reference),
    Index(usize),
}

impl fmt::Display for ArchiveImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Short Hub names as `docker save` writes them, which every
            // tool normalises back.
            ArchiveImage::Named(r) => write!(f, "{r}"),
            ArchiveImage::Index(n) => write!(f, "@{n}"),
        }
    }
}

/// Text that is not an image reference in any transport's syntax.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub(crate) enum InvalidImageRef {
    #[error("`{0}` names no path")]
    NoPath(String),
    #[error("`{0}` has an empty or invalid tag")]
    BadTag(String),
    #[error(
        "`{0}`: after the file, a docker archive takes a name with a tag (NAME:TAG) or @N (an image's position, from 0)"
    )]
    BadArchiveImage(String),
    #[error(
        "`{0}` names no registry host, and compose-img never writes to Docker Hub unasked: write `oci:{0}` for a layout, or `docker://{1}` to push there (or name a registry: `localhost:5000/{0}`, `registry.example.com/{0}`)"
    )]
    NoRegistryHost(String, String),
    #[error(
        "`{0}`: compose-img does not read or write this transport (it supports oci:, oci-archive:, docker-archive:, dir: and docker://)"
    )]
    Unsupported(String),
    #[error(transparent)]
    Registry(#[from] InvalidReference),
}

impl ImageRef {
    /// The tag it names, if any.
    pub(crate) fn tag(&self) -> Option<&str> {
        match self {
            ImageRef::Oci { tag, .. } | ImageRef::OciArchive { tag, .. } => tag.as_deref(),
            ImageRef::DockerArchive { image: Some(ArchiveImage::Named(r)), .. } => r.tag.as_deref(),
            ImageRef::DockerArchive { .. } | ImageRef::Dir { .. } => None,
            ImageRef::Docker(reference) => reference.tag.as_deref(),
        }
    }

    /// The same place with `tag` (a docker archive without a name keeps
    /// none: it holds one image).
    pub(crate) fn with_tag(&self, tag: &str) -> ImageRef {
        match self {
            ImageRef::Oci { dir, .. } => ImageRef::Oci { dir: dir.clone(), tag: Some(tag.to_owned()) },
            ImageRef::OciArchive { file, .. } => ImageRef::OciArchive { file: file.clone(), tag: Some(tag.to_owned()) },
            ImageRef::DockerArchive { file, image: Some(ArchiveImage::Named(r)) } => {
                ImageRef::DockerArchive { file: file.clone(), image: Some(ArchiveImage::Named(r.with_tag(tag))) }
            }
            ImageRef::DockerArchive { .. } | ImageRef::Dir { .. } => self.clone(),
            ImageRef::Docker(reference) => ImageRef::Docker(reference.with_tag(tag)),
        }
    }

    /// Whether cosign signatures can be stored beside the image (not in a
    /// docker archive nor a `dir:`, which have no tags).
    pub(crate) fn holds_signatures(&self) -> bool {
        !matches!(self, ImageRef::DockerArchive { .. } | ImageRef::Dir { .. })
    }

    /// The same reference with its file path made absolute (from the
    /// working directory), as `store ls` shows outputs.
    pub(crate) fn absolute(&self) -> ImageRef {
        match std::env::current_dir() {
            Ok(cwd) => self.clone().relative_to(&cwd),
            Err(_) => self.clone(),
        }
    }

    /// The same reference with a relative file path taken from `dir`.
    pub(crate) fn relative_to(self, dir: &Path) -> ImageRef {
        match self {
            ImageRef::Oci { dir: d, tag } => ImageRef::Oci { dir: dir.join(d), tag },
            ImageRef::OciArchive { file, tag } => ImageRef::OciArchive { file: dir.join(file), tag },
            ImageRef::DockerArchive { file, image } => ImageRef::DockerArchive { file: dir.join(file), image },
            ImageRef::Dir { dir: d } => ImageRef::Dir { dir: dir.join(d) },
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
        if let Some(rest) = text.strip_prefix("dir:") {
            // The whole rest is the path, as in containers/image.
            if rest.is_empty() {
                return Err(InvalidImageRef::NoPath(text.to_owned()));
            }
            return Ok(ImageRef::Dir { dir: PathBuf::from(rest) });
        }
        if let Some(rest) = text.strip_prefix("docker-archive:") {
            let (file, image) = path_and_tag(rest)?;
            let image = image.map(|image| archive_image(&image, text)).transpose()?;
            return Ok(ImageRef::DockerArchive { file, image });
        }
        // Other transports of containers-transports(5), which would
        // otherwise read as a registry host (`docker-daemon:x/y`).
        const OTHERS: [&str; 5] = ["containers-storage:", "docker-daemon:", "ostree:", "sif:", "tarball:"];
        if OTHERS.iter().any(|t| text.starts_with(t)) {
            return Err(InvalidImageRef::Unsupported(text.to_owned()));
        }
        // Without `docker://`, a registry reference as Docker and podman
        // read it: `alpine:3.20` is docker.io/library/alpine:3.20.
        let reference = text.strip_prefix("docker://").unwrap_or(text);
        Ok(ImageRef::Docker(Reference::parse(reference)?))
    }

    /// An image to write to: as [`ImageRef::parse`], but a registry
    /// reference written without `docker://` must name its registry (a
    /// `.`, a port or `localhost` in its first part): `out/foo` is more
    /// likely a directory than a push to Docker Hub.
    pub(crate) fn parse_output(text: &str) -> Result<ImageRef, InvalidImageRef> {
        let parsed = ImageRef::parse(text)?;
        if let ImageRef::Docker(reference) = &parsed
            && !text.starts_with("docker://")
        {
            let first = text.split('/').next().unwrap_or("");
            let hosted = text.contains('/') && (first.contains(['.', ':']) || first == "localhost");
            if !hosted {
                return Err(InvalidImageRef::NoRegistryHost(text.to_owned(), reference.to_string()));
            }
        }
        Ok(parsed)
    }
}

/// What follows a docker archive's file: `@N`, or a name that must carry
/// a tag (and no digest), as containers/image asks.
fn archive_image(text: &str, whole: &str) -> Result<ArchiveImage, InvalidImageRef> {
    let bad = || InvalidImageRef::BadArchiveImage(whole.to_owned());
    if let Some(n) = text.strip_prefix('@') {
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || n.len() > 9 {
            return Err(bad());
        }
        return n.parse().map(ArchiveImage::Index).map_err(|_| bad());
    }
    let reference = Reference::parse(text)?;
    if reference.tag.is_none() || reference.digest.is_some() {
        return Err(bad());
    }
    Ok(ArchiveImage::Named(reference))
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
            ImageRef::DockerArchive { file, image } => {
                write!(f, "docker-archive:{}", file.display())?;
                image.as_ref().map_or(Ok(()), |i| write!(f, ":{i}"))
            }
            ImageRef::Dir { dir } => write!(f, "dir:{}", dir.display()),
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
        for bad in ["oci:", "oci::x", "oci:x:", "Upper/x"] {
            assert!(ImageRef::parse(bad).is_err(), "{bad}");
        }
        // Bare names read as Docker and podman read them.
        assert_eq!(ImageRef::parse("alpine:3.20").unwrap().to_string(), "docker://docker.io/library/alpine:3.20");
        assert_eq!(ImageRef::parse("org/app").unwrap().to_string(), "docker://docker.io/org/app");
        // An output must name its registry unless it says docker://.
        for bare in ["out/foo", "hello", "org/app:1"] {
            assert!(matches!(ImageRef::parse_output(bare), Err(InvalidImageRef::NoRegistryHost(..))), "{bare}");
        }
        for hosted in ["localhost/a", "localhost:5000/a:1", "r.example.com/a", "docker://org/app", "oci:out/foo"] {
            assert!(ImageRef::parse_output(hosted).is_ok(), "{hosted}");
        }
        assert_eq!(
            ImageRef::parse_output("out/foo").unwrap_err().to_string(),
            "`out/foo` names no registry host, and compose-img never writes to Docker Hub unasked: write `oci:out/foo` for a layout, or `docker://docker.io/out/foo` to push there (or name a registry: `localhost:5000/out/foo`, `registry.example.com/out/foo`)"
        );
        assert_eq!(ImageRef::parse("oci:").unwrap_err().to_string(), "`oci:` names no path");
        assert_eq!(ImageRef::parse("oci:x:").unwrap_err().to_string(), "`oci:x:` has an empty or invalid tag");
        assert_eq!(ImageRef::parse("oci:a:b").unwrap().to_string(), "oci:a:b");
        assert_eq!(ImageRef::parse("dir:a:b").unwrap(), ImageRef::Dir { dir: "a:b".into() });
        assert!(ImageRef::parse("dir:").is_err());
        assert_eq!(
            ImageRef::parse("docker-daemon:busybox/x:1").unwrap_err(),
            InvalidImageRef::Unsupported("docker-daemon:busybox/x:1".into())
        );
    }

    #[test]
    fn a_docker_archive_names_one_of_its_images() {
        let named = ImageRef::parse("docker-archive:o.tar:example.com/foo:bar").unwrap();
        let ImageRef::DockerArchive { file, image: Some(ArchiveImage::Named(r)) } = &named else { panic!("{named:?}") };
        assert_eq!(
            (file.to_str(), r.repo_name().as_str(), named.tag()),
            (Some("o.tar"), "example.com/foo", Some("bar"))
        );
        assert_eq!(named.to_string(), "docker-archive:o.tar:example.com/foo:bar");
        assert_eq!(named.with_tag("2").to_string(), "docker-archive:o.tar:example.com/foo:2");
        let second = ImageRef::parse("docker-archive:o.tar:@1").unwrap();
        assert_eq!(second, ImageRef::DockerArchive { file: "o.tar".into(), image: Some(ArchiveImage::Index(1)) });
        assert_eq!(second.to_string(), "docker-archive:o.tar:@1");
        for bad in [
            "docker-archive:o.tar:@",
            "docker-archive:o.tar:@x",
            "docker-archive:o.tar:foo",
            "docker-archive:o.tar:UP:1",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            ImageRef::parse("docker-archive:o.tar:foo").unwrap_err().to_string(),
            "`docker-archive:o.tar:foo`: after the file, a docker archive takes a name with a tag (NAME:TAG) or @N (an image's position, from 0)"
        );
    }
}
