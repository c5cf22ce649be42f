//! Media types compose-img writes and reads.

pub(crate) const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub(crate) const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub(crate) const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub(crate) const LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub(crate) const INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub(crate) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub(crate) const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
pub(crate) const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub(crate) const DOCKER_LAYER_ZSTD: &str = "application/vnd.docker.image.rootfs.diff.tar.zstd";
/// Layers that may not be pushed to other registries (Windows base
/// layers): read like the others when their blob is there.
pub(crate) const NONDIST_TAR: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar";
pub(crate) const NONDIST_GZIP: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
pub(crate) const NONDIST_ZSTD: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
pub(crate) const DOCKER_FOREIGN_TAR: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar";
pub(crate) const DOCKER_FOREIGN_GZIP: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/// The OCI media type of a layer of `media_type` (OCI or Docker;
/// non-distributable and foreign layers stay so), or `None` for a layer
/// compose-img cannot stack on (encrypted, or not a layer).
pub(crate) fn oci_layer(media_type: &str) -> Option<&'static str> {
    match media_type {
        LAYER_TAR | DOCKER_LAYER_TAR => Some(LAYER_TAR),
        LAYER_GZIP | DOCKER_LAYER_GZIP => Some(LAYER_GZIP),
        LAYER_ZSTD | DOCKER_LAYER_ZSTD => Some(LAYER_ZSTD),
        NONDIST_TAR | DOCKER_FOREIGN_TAR => Some(NONDIST_TAR),
        NONDIST_GZIP | DOCKER_FOREIGN_GZIP => Some(NONDIST_GZIP),
        NONDIST_ZSTD => Some(NONDIST_ZSTD),
        _ => None,
    }
}

/// The layer media type of a blob, from its first bytes.
pub(crate) fn sniff_layer(head: &[u8]) -> &'static str {
    if head.starts_with(&[0x1f, 0x8b]) {
        LAYER_GZIP
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        LAYER_ZSTD
    } else {
        LAYER_TAR
    }
}
/// The one layer of a cosign signature manifest: the simple-signing payload.
pub(crate) const SIMPLESIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

/// The media type of a blob compose-img can read as a layer of an image
/// or of a signature manifest.
pub(crate) fn readable_layer(media_type: &str) -> Option<&'static str> {
    oci_layer(media_type).or((media_type == SIMPLESIGNING).then_some(SIMPLESIGNING))
}
/// The empty descriptor's media type: the config of an artifact manifest
/// (image-spec 1.1), whose blob is `{}`.
pub(crate) const EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// A Sigstore bundle v0.3 (cosign 3's signatures): the artifact type of
/// its referrer manifest and the media type of its one layer.
pub(crate) const SIGSTORE_BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
