//! `attestations` (what is attached to an image), `sbom` (the SBOM
//! document attached to it) and `reproduce` (a rebuild compared with a
//! published image).

use super::args::{AttestationsArgs, ReproduceArgs, SbomArgs};
use crate::Error;
use crate::attest::attached;
use crate::oci::platform::parse_platform;
use crate::oci::reference::ImageRef;
use crate::recipe::SbomFormat;
use crate::text::escape;

/// One line per attestation: the platform manifest, its platform, the
/// predicate type, the signer's key id (`unsigned` when none) and the
/// envelope's digest.
pub(super) fn list(args: &AttestationsArgs) -> Result<(), Error> {
    let reference = ImageRef::parse(&args.image).map_err(|e| Error::Usage(e.to_string()))?;
    let store = args.access.open_store()?;
    let found = attached::list(&reference, &store, &args.access.registry())?;
    println!("MANIFEST PLATFORM TYPE SIGNER DIGEST");
    for attestation in found {
        let signer = if attestation.key_ids.is_empty() {
            "unsigned".to_owned()
        } else {
            attestation.key_ids.iter().map(|k| if k.is_empty() { "-" } else { k }).collect::<Vec<_>>().join(",")
        };
        println!(
            "{} {} {} {} {}",
            attestation.manifest,
            attestation.platform,
            escape(&attestation.predicate_type),
            escape(&signer),
            attestation.digest
        );
    }
    Ok(())
}

/// The SBOM document, pretty-printed JSON.
pub(super) fn sbom(args: &SbomArgs) -> Result<(), Error> {
    let reference = ImageRef::parse(&args.image).map_err(|e| Error::Usage(e.to_string()))?;
    let format = SbomFormat::parse_setting(&args.format)
        .and_then(|formats| formats.into_iter().next())
        .ok_or_else(|| Error::Usage(format!("--format {}: expected spdx or cyclonedx", args.format)))?;
    let platform = match &args.platform {
        Some(text) => parse_platform(text).map_err(|e| Error::Usage(format!("--platform {text}: {e}")))?,
        None => crate::inspect::default_platform(),
    };
    let store = args.access.open_store()?;
    let document = attached::sbom(&reference, format, Some(&platform), &store, &args.access.registry())?;
    let text = serde_json::to_string_pretty(&document).map_err(|e| Error::Failed(e.to_string()))?;
    println!("{text}");
    Ok(())
}

/// Rebuilds and compares: `reproduced REF DIGEST` on stdout, or exit 1
/// with what differs.
pub(super) fn reproduce(args: &ReproduceArgs, quiet: bool) -> Result<(), Error> {
    let against = ImageRef::parse(&args.against).map_err(|e| Error::Usage(e.to_string()))?;
    if !args.layers.platforms.is_empty() {
        return Err(Error::Usage("--platform: reproduce rebuilds the platforms the published image has".into()));
    }
    let request = crate::compose::ReproduceRequest {
        recipe: args.recipe.clone(),
        against,
        settings: super::settings::settings(&args.layers)?,
        vars: super::settings::vars(&args.vars)?,
        registry: super::access::registry_options(&args.registry),
    };
    let reproduced = crate::compose::reproduce(&request)?;
    if !quiet && !reproduced.taken.is_empty() {
        eprintln!("from the provenance: {}", escape(&reproduced.taken.join(", ")));
    }
    if reproduced.differences.is_empty() {
        println!("reproduced {} {}", escape(&args.against), reproduced.published);
        return Ok(());
    }
    let differences: Vec<String> = reproduced.differences.iter().map(|d| escape(d).into_owned()).collect();
    Err(Error::Failed(format!(
        "{} does not reproduce: published {}, rebuilt {}\n  {}",
        escape(&args.against),
        reproduced.published,
        reproduced.rebuilt,
        differences.join("\n  ")
    )))
}
