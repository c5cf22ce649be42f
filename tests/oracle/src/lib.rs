//! Nothing here: this package exists for its tests (`tests/cosign.rs`),
//! which check compose-img's signatures with the `sigstore` crate's cosign
//! code, an implementation independent of compose-img's. It is a package of
//! its own so the main crate's build never pays for sigstore.
