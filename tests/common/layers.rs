//! Layers of a layout read back uncompressed, for the main suite only:
//! the oracle crate, which shares `common`, links neither codec.

use std::path::Path;

use crate::common::blob;

/// The uncompressed tar of the layer a manifest describes with `layer`
/// (its size checked; a media type other than tar, tar+gzip and tar+zstd
/// fails the test).
pub fn layer_tar(layout: &Path, layer: &serde_json::Value) -> Vec<u8> {
    let bytes = blob(layout, layer["digest"].as_str().unwrap());
    assert_eq!(bytes.len() as u64, layer["size"].as_u64().unwrap());
    match layer["mediaType"].as_str().unwrap() {
        "application/vnd.oci.image.layer.v1.tar+zstd" => zstd::decode_all(&bytes[..]).unwrap(),
        "application/vnd.oci.image.layer.v1.tar+gzip" => {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut out).unwrap();
            out
        }
        "application/vnd.oci.image.layer.v1.tar" => bytes,
        other => panic!("unexpected media type {other}"),
    }
}
