//! `compose-img copy SRC DST`: prints `DST DIGEST` on stdout, and for a
//! registry what happened to the blobs on stderr.

use super::args::CopyArgs;
use super::build::{push_line, registry_options};
use crate::Error;
use crate::oci::reference::ImageRef;
use crate::store::Store;
use crate::transport;

pub fn run(args: &CopyArgs, quiet: bool) -> Result<(), Error> {
    let source = ImageRef::parse(&args.source).map_err(Error::Usage)?;
    let destination = ImageRef::parse(&args.destination).map_err(Error::Usage)?;
    let store = Store::open(&super::store::store_dir(args.store.as_ref())?)?;
    let (tagged, written) = transport::copy(&source, &destination, &store, &registry_options(&args.registry))?;
    println!("{destination} {}", tagged.root.digest);
    if let (Some(push), false) = (written.push, quiet) {
        eprintln!("{}", push_line(&destination.to_string(), &push));
    }
    Ok(())
}
