//! `keygen`, `sign` and `verify`, and where a key's password comes from:
//! `$COSIGN_PASSWORD` (even empty), else the terminal, else an error.

use std::io::IsTerminal;
use std::path::Path;

use p256::ecdsa::SigningKey;

use super::args::{KeygenArgs, SignArgs, VerifyArgs};
use crate::Error;
use crate::oci::reference::ImageRef;
use crate::sign::{self, keys};
use crate::text::escape;
use crate::transport;

fn password(confirm: bool) -> Result<Vec<u8>, Error> {
    if let Some(password) = std::env::var_os("COSIGN_PASSWORD") {
        return Ok(password.into_encoded_bytes());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::Usage("no password for the key: set COSIGN_PASSWORD or run on a terminal".into()));
    }
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt).map_err(|e| Error::Usage(format!("cannot read the password: {e}")))
    };
    let first = ask("Enter password for private key: ")?;
    if confirm && ask("Enter password for private key again: ")? != first {
        return Err(Error::Usage("the passwords do not match".into()));
    }
    Ok(first.into_bytes())
}

/// Loads a private key, asking for its password once the key file has
/// been read and checked.
pub(super) fn private_key(path: &Path) -> Result<SigningKey, Error> {
    let key = keys::open_private(path)?;
    Ok(key.decrypt(&password(false)?)?)
}

pub(super) fn keygen(args: &KeygenArgs) -> Result<(), Error> {
    let (private, public) = keys::generate(&password(true)?)?;
    let (key, public_path) = keys::write_pair(&args.output_prefix, &private, &public, args.force)?;
    println!("Private key written to {}", key.display());
    println!("Public key written to {}", public_path.display());
    Ok(())
}

pub(super) fn sign(args: &SignArgs, quiet: bool) -> Result<(), Error> {
    let reference = ImageRef::parse(&args.image).map_err(|e| Error::Usage(e.to_string()))?;
    let options = args.target.access.registry();
    let store = args.target.access.open_store()?;
    let identity = match (&args.target.identity, &reference) {
        (Some(identity), _) => identity.clone(),
        (None, ImageRef::Docker(docker)) => docker.repo_name(),
        (None, reference) if !reference.holds_signatures() => {
            return Err(Error::Usage(format!("{reference} cannot hold signatures")));
        }
        // The name the image was written under, as build signs it.
        (None, reference) => transport::recorded_name(reference, &store)?.ok_or_else(|| {
            Error::Usage(format!(
                "{reference} records no image name (io.containerd.image.name): give --identity REPO, \
                 the repository it will be pushed to"
            ))
        })?,
    };
    let key = private_key(&args.key)?;
    let tagged = transport::fetch(&reference, &transport::Want::All, &store, &options)?;
    let attachments = sign::attachments(&tagged, &reference, &identity, &key, &store, &options)?;
    let mut tags: Vec<String> = reference.tag().map(str::to_owned).into_iter().collect();
    if let ImageRef::OciArchive { file, tag: None } = &reference {
        // An archive is written whole: its one image keeps the tag it has.
        let index = crate::oci::archive::ingest(file, &store).map_err(transport::TransportError::from)?;
        let entry = crate::oci::layout::find_in_index(&index, None, file).map_err(transport::TransportError::from)?;
        tags.extend(entry.ref_name);
    }
    transport::write(&reference, &tagged, &tags, &attachments, &identity, &store, &options)?;
    if !quiet {
        for digest in sign::signed_digests(&tagged) {
            eprintln!("signed {digest} for {}", escape(&identity));
        }
    }
    Ok(())
}

pub(super) fn verify(args: &VerifyArgs) -> Result<(), Error> {
    let reference = ImageRef::parse(&args.image).map_err(|e| Error::Usage(e.to_string()))?;
    let key = keys::load_public(&args.key)?;
    let options = args.target.access.registry();
    let store = args.target.access.open_store()?;
    let shown = reference.to_string();
    for verified in sign::verify(&reference, &key, args.target.identity.as_deref(), &store, &options)? {
        let formats: Vec<String> = verified.formats.iter().map(ToString::to_string).collect();
        println!(
            "verified {} {} (identity {}; {})",
            escape(&shown),
            verified.digest,
            escape(&verified.identity),
            formats.join(", ")
        );
    }
    if args.attestations {
        for verified in crate::attest::attached::verify(&reference, &key, &store, &options)? {
            let kind = escape(&verified.predicate_type);
            println!("verified attestation {} {kind} of {}", verified.digest, verified.manifest);
        }
    }
    Ok(())
}
