//! `compose-img copy SRC DST`: prints `DST DIGEST` on stdout, and for a
//! registry what happened to the blobs on stderr.

use super::args::CopyArgs;
use super::human::push_line;
use crate::Error;
use crate::copy;
use crate::oci::reference::ImageRef;

pub(super) fn run(args: &CopyArgs, quiet: bool) -> Result<(), Error> {
    let source = ImageRef::parse(&args.source).map_err(|e| Error::Usage(e.to_string()))?;
    let destination = ImageRef::parse(&args.destination).map_err(|e| Error::Usage(e.to_string()))?;
    let store = args.access.open_store()?;
    let copied = copy::copy(&source, &destination, &store, &args.access.registry())?;
    println!("{destination} {}", copied.tagged.root.digest);
    if !quiet {
        if let Some(push) = copied.written.push {
            eprintln!("{}", push_line(&destination.to_string(), &push));
        }
        if copied.signatures > 0 {
            eprintln!("copied {} signature manifest(s)", copied.signatures);
        }
    }
    Ok(())
}
