//! Registry image references (`HOST/REPO[:TAG][@DIGEST]`), normalised as
//! containers/image does: a first component without `.` or `:` (and not
//! `localhost`) is a Docker Hub repository, and a one-component Hub name
//! lives under `library/`.

use std::fmt;

use thiserror::Error;

use crate::digest::{Digest, ParseDigestError};
use crate::oci::names::{InvalidName, check_repository, check_tag};

pub(crate) const DOCKER_HUB: &str = "docker.io";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reference {
    /// `host[:port]` as written (`docker.io` for the Hub).
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

/// Text that is not `HOST/REPO[:TAG][@DIGEST]`, and why.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("`{text}` is not a registry reference: {why}")]
pub(crate) struct InvalidReference {
    pub text: String,
    pub why: ReferenceProblem,
}

/// What is wrong in an [`InvalidReference`] (part of its message, not a
/// separate cause).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub(crate) enum ReferenceProblem {
    #[error(transparent)]
    Digest(#[from] ParseDigestError),
    #[error(transparent)]
    Name(#[from] InvalidName),
}

impl Reference {
    pub(crate) fn parse(text: &str) -> Result<Reference, InvalidReference> {
        let bad = |why: ReferenceProblem| InvalidReference { text: text.to_owned(), why };
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (rest, Some(Digest::parse(digest).map_err(|e| bad(e.into()))?)),
            None => (text, None),
        };
        let (name, tag) = match rest.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (name, Some(tag.to_owned())),
            _ => (rest, None),
        };
        if let Some(tag) = &tag {
            check_tag(tag).map_err(|e| bad(e.into()))?;
        }
        check_repository(name).map_err(|e| bad(e.into()))?;
        let (registry, repository) = match name.split_once('/') {
            Some((host, path)) if host.contains(['.', ':']) || host == "localhost" => {
                (host.to_owned(), path.to_owned())
            }
            _ if !name.contains('/') => (DOCKER_HUB.to_owned(), format!("library/{name}")),
            _ => (DOCKER_HUB.to_owned(), name.to_owned()),
        };
        // As in containers/image, the bound is on the normalised name: a Hub
        // name that fits only without `docker.io/library/` is refused, so
        // what parses prints as a reference that parses again.
        if registry.len() + 1 + repository.len() > 255 {
            return Err(bad(InvalidName::Length.into()));
        }
        Ok(Reference { registry, repository, tag, digest })
    }

    /// What the registry is asked for: the digest if pinned, else the tag
    /// (`latest` when none is given).
    pub(crate) fn manifest_ref(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.clone(),
            (None, None) => "latest".to_owned(),
        }
    }

    /// `HOST/REPO`, as in a signature's `docker-reference`.
    pub(crate) fn repo_name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same repository with another tag and no digest.
    pub(crate) fn with_tag(&self, tag: &str) -> Reference {
        Reference { tag: Some(tag.to_owned()), digest: None, ..self.clone() }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_containers_image() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("docker.io", "library/busybox", None)
        );
        let r = Reference::parse("127.0.0.1:5000/a/b:1.0").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("127.0.0.1:5000", "a/b", Some("1.0"))
        );
        let r = Reference::parse("localhost/x").unwrap();
        assert_eq!((r.registry.as_str(), r.manifest_ref().as_str()), ("localhost", "latest"));
        let pinned = format!("quay.io/a/b:1@sha256:{}", "0".repeat(64));
        let r = Reference::parse(&pinned).unwrap();
        assert_eq!(r.manifest_ref(), format!("sha256:{}", "0".repeat(64)));
        assert_eq!(r.to_string(), pinned);
        for bad in ["Upper/x", "host:5000/", "a//b", "x:bad tag", "x@sha256:12"] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
        // Found by fuzzing (fuzz/ reference): 250 characters fit as written,
        // not as `docker.io/library/…`, which then did not parse again.
        let long = "a".repeat(250);
        assert_eq!(Reference::parse(&long).unwrap_err().why, ReferenceProblem::Name(InvalidName::Length));
        assert!(Reference::parse(&format!("docker.io/{}", "a".repeat(245))).is_ok());
        assert_eq!(
            Reference::parse("x@sha256:12").unwrap_err().to_string(),
            "`x@sha256:12` is not a registry reference: `sha256:12` is not a sha256 digest: expected 64 lowercase hex digits"
        );
    }
}
