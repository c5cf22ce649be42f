//! What a tag points at: one image manifest, or an index of per-platform
//! manifests, with every blob in the store.

use super::image::BuiltImage;
use super::manifest::Desc;
use crate::digest::Digest;
use crate::store::WrittenBlob;

#[derive(Debug, Clone)]
pub(crate) struct Tagged {
    /// The media type of `root`: a manifest's or an index's.
    pub media_type: String,
    /// The manifest (one image) or the index.
    pub root: WrittenBlob,
    /// The images, one per platform (one for a plain manifest, none for
    /// an artifact).
    pub images: Vec<BuiltImage>,
    /// Other manifests an index lists (attestations), kept byte for byte.
    pub extras: Vec<Extra>,
}

/// A manifest of an index that is not an image compose-img opens, and the
/// blobs (config and layers) it names, all in the store.
#[derive(Debug, Clone)]
pub(crate) struct Extra {
    pub manifest: Desc,
    pub blobs: Vec<Desc>,
}

impl Tagged {
    pub(crate) fn single(image: BuiltImage) -> Tagged {
        Tagged {
            media_type: image.media_type.clone(),
            root: image.manifest.clone(),
            images: vec![image],
            extras: Vec::new(),
        }
    }

    /// Whether the root is an index (else a manifest: an image's, or an
    /// artifact's, held in `extras`).
    pub(crate) fn is_index(&self) -> bool {
        matches!(self.media_type.as_str(), super::media::INDEX | super::media::DOCKER_LIST)
    }

    /// A manifest that is not an image (a Helm chart, an SBOM): its bytes
    /// can be copied and shown, never opened.
    pub(crate) fn is_artifact(&self) -> bool {
        self.images.is_empty() && !self.is_index()
    }

    /// Every blob it needs, each once, the root last.
    pub(crate) fn blobs(&self) -> Vec<&Digest> {
        let mut seen = std::collections::BTreeSet::new();
        self.images
            .iter()
            .flat_map(|image| image.blobs())
            .chain(self.extras.iter().flat_map(|e| e.blobs.iter().chain([&e.manifest]).map(|d| &d.digest)))
            .chain([&self.root.digest])
            .filter(|d| seen.insert(*d))
            .collect()
    }
}
