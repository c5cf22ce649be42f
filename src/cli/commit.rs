//! `compose-img commit DIR --parent REF --output REF`: prints `REF DIGEST`
//! on stdout, and what changed on stderr.

use super::access::{registry_options, store_dir};
use super::args::CommitArgs;
use super::settings::{platforms, settings};
use crate::Error;
use crate::commit::CommitRequest;
use crate::oci::reference::ImageRef;
use crate::store::Store;

pub(super) fn run(args: &CommitArgs, quiet: bool) -> Result<(), Error> {
    let parent = ImageRef::parse(&args.parent).map_err(|e| Error::Usage(e.to_string()))?;
    let output = ImageRef::parse_output(&args.output).map_err(|e| Error::Usage(e.to_string()))?;
    let platforms = platforms(&args.layers)?;
    if platforms.len() > 1 {
        return Err(Error::Usage("commit takes one --platform".into()));
    }
    let request = CommitRequest {
        dir: &args.dir,
        parent: &parent,
        output: &output,
        message: args.message.as_deref(),
        allow_empty: args.allow_empty,
        platform: platforms.first(),
        settings: settings(&args.layers)?,
        registry: registry_options(&args.registry),
    };
    let store = Store::open(&store_dir(args.layers.store.as_ref())?)?;
    let committed = crate::commit::commit(&request, &store)?;
    println!("{output} {}", committed.manifest);
    if !quiet {
        eprintln!("committed {} added or changed, {} removed", committed.added, committed.removed);
    }
    Ok(())
}
