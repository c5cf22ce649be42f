//! `compose-img copy SRC DST`: prints `DST:TAG DIGEST` on stdout (the
//! reference of what was written, tag included), and for a
//! registry what happened to the blobs on stderr.

use super::args::CopyArgs;
use super::human::push_line;
use crate::Error;
use crate::copy;
use crate::oci::platform::parse_platform;
use crate::oci::reference::ImageRef;

pub(super) fn run(args: &CopyArgs, quiet: bool) -> Result<(), Error> {
    let source = ImageRef::parse(&args.source).map_err(|e| Error::Usage(e.to_string()))?;
    let destination = ImageRef::parse_output(&args.destination).map_err(|e| Error::Usage(e.to_string()))?;
    let platforms = args
        .platforms
        .iter()
        .map(|p| parse_platform(p).map_err(|e| Error::Usage(e.to_string())))
        .collect::<Result<_, _>>()?;
    let options = copy::CopyOptions { platforms, all: args.all, preserve_digests: args.preserve_digests };
    let store = args.access.open_store()?;
    let copied = copy::copy(&source, &destination, &options, &store, &args.access.registry())?;
    println!("{} {}", copied.reference, copied.tagged.root.digest);
    if let (Some(count), false) = (copied.narrowed_from, quiet) {
        let platform = copied.tagged.images.first().map(|i| i.platform.to_string()).unwrap_or_default();
        eprintln!(
            "note: {source} is an index of {count} images: copied {platform} (this machine's), as skopeo does; --all copies every platform"
        );
    }
    if !quiet {
        if let Some(push) = copied.written.push {
            eprintln!("{}", push_line(&destination.to_string(), &push));
        }
        if copied.signatures > 0 {
            eprintln!("copied {} signature manifest(s)", copied.signatures);
        }
        if copied.attestations > 0 {
            eprintln!("copied {} attestation manifest(s)", copied.attestations);
        }
        if copied.referrers > 0 {
            eprintln!("copied {} referrer(s)", copied.referrers);
        }
    }
    Ok(())
}
