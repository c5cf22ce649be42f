//! The text of a lock file: parsed with every mistake located (file, line,
//! column, caret, as for recipes), and written one way only (sorted, fixed
//! layout), so that the same resolutions give the same bytes everywhere.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::Locked;
use crate::digest::Digest;
use crate::oci::platform::parse_platform;
use crate::oci::reference::ImageRef;
use crate::recipe::{Loc, LocatedError, SourceFile};

/// The format version this compose-img reads and writes.
pub(crate) const VERSION: u32 = 1;

const HEADER: &str = "\
# compose-img lock file: the digest of every image its recipe names.
# Written by `compose-img lock`; commit it. `build --locked` fetches by
# these digests and refuses a reference this file lacks.
";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLock {
    version: Spanned<u32>,
    #[serde(default)]
    image: Vec<Spanned<RawEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    reference: Spanned<String>,
    digest: Spanned<String>,
    #[serde(default)]
    platforms: BTreeMap<Spanned<String>, Spanned<String>>,
}

/// The entries of the lock file `file`, by reference as written.
pub(crate) fn parse(file: &Arc<SourceFile>) -> Result<BTreeMap<String, Locked>, Vec<LocatedError>> {
    let raw: RawLock = toml::from_str(&file.text).map_err(|e| vec![crate::recipe::syntax_error(file, &e)])?;
    let loc = |span: std::ops::Range<usize>| Loc { file: Arc::clone(file), span };
    let mut errors = Vec::new();
    if *raw.version.get_ref() != VERSION {
        let message =
            format!("lock file version {} is not one this compose-img reads ({VERSION})", raw.version.get_ref());
        errors.push(loc(raw.version.span()).error(message, "unknown version"));
    }
    let mut entries = BTreeMap::new();
    let mut seen: BTreeMap<String, std::ops::Range<usize>> = BTreeMap::new();
    for entry in raw.image {
        let span = entry.span();
        let RawEntry { reference, digest, platforms } = entry.into_inner();
        if let Err(e) = ImageRef::parse(reference.get_ref()) {
            errors.push(loc(reference.span()).error(e.to_string(), "expected an image reference"));
        }
        if let Some(first) = seen.get(reference.get_ref()) {
            let again = loc(reference.span());
            errors.push(again.error_with(
                "the reference is locked twice",
                "again here",
                &loc(first.clone()),
                "first here",
            ));
        }
        seen.insert(reference.get_ref().clone(), reference.span());
        let digest = parse_digest(&digest, &loc, &mut errors);
        if platforms.is_empty() {
            errors.push(loc(span).error("the entry locks no platform", "expected [image.platforms]"));
        }
        let mut locked = BTreeMap::new();
        for (platform, manifest) in platforms {
            let manifest = parse_digest(&manifest, &loc, &mut errors);
            match parse_platform(platform.get_ref()) {
                Ok(parsed) => {
                    locked.insert(parsed, manifest);
                }
                Err(e) => errors.push(loc(platform.span()).error(e.to_string(), "expected OS/ARCH[/VARIANT]")),
            }
        }
        if let Some(digest) = digest {
            let platforms = locked.into_iter().filter_map(|(p, d)| Some((p, d?))).collect();
            entries.insert(reference.into_inner(), Locked { digest, platforms });
        }
    }
    if errors.is_empty() { Ok(entries) } else { Err(errors) }
}

fn parse_digest(
    text: &Spanned<String>,
    loc: &dyn Fn(std::ops::Range<usize>) -> Loc,
    errors: &mut Vec<LocatedError>,
) -> Option<Digest> {
    Digest::parse(text.get_ref())
        .map_err(|e| errors.push(loc(text.span()).error(e.to_string(), "expected sha256:<64 hex digits>")))
        .ok()
}

/// The text of a lock file with `entries`: sorted by reference, platforms
/// sorted, strings quoted as TOML.
pub(crate) fn render(entries: &BTreeMap<String, Locked>) -> String {
    let mut out = format!("{HEADER}version = {VERSION}\n");
    for (reference, locked) in entries {
        out.push_str(&format!(
            "\n[[image]]\nreference = {}\ndigest = {}\n",
            quote(reference),
            quote(&locked.digest.to_string())
        ));
        out.push_str("\n[image.platforms]\n");
        for (platform, digest) in &locked.platforms {
            out.push_str(&format!("{} = {}\n", quote(&platform.to_string()), quote(&digest.to_string())));
        }
    }
    out
}

fn quote(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> Arc<SourceFile> {
        Arc::new(SourceFile { name: "app.toml.lock".into(), text: text.into() })
    }

    #[test]
    fn writes_sorted_and_reads_back() {
        let (a, b) = (format!("sha256:{}", "a".repeat(64)), format!("sha256:{}", "b".repeat(64)));
        // Written out of order, with a quote in a path.
        let text = format!(
            "version = 1\n[[image]]\nreference = 'oci:we\"ird'\ndigest = \"{a}\"\n\
             platforms = {{ \"linux/arm64\" = \"{b}\", \"linux/amd64\" = \"{a}\" }}\n\
             [[image]]\nreference = \"docker://h/b:1\"\ndigest = \"{b}\"\nplatforms = {{ \"linux/amd64\" = \"{b}\" }}\n"
        );
        let entries = parse(&file(&text)).unwrap();
        let written = render(&entries);
        assert_eq!(
            written,
            format!(
                "{HEADER}version = 1\n\n[[image]]\nreference = \"docker://h/b:1\"\ndigest = \"{b}\"\n\n\
                 [image.platforms]\n\"linux/amd64\" = \"{b}\"\n\n[[image]]\nreference = 'oci:we\"ird'\n\
                 digest = \"{a}\"\n\n[image.platforms]\n\"linux/amd64\" = \"{a}\"\n\"linux/arm64\" = \"{b}\"\n"
            )
        );
        assert_eq!(parse(&file(&written)).unwrap(), entries);
    }

    #[test]
    fn duplicates_are_located() {
        let a = format!("sha256:{}", "a".repeat(64));
        let entry = format!(
            "[[image]]\nreference = \"oci:x\"\ndigest = \"{a}\"\n[image.platforms]\n\"linux/amd64\" = \"{a}\"\n"
        );
        let errors = parse(&file(&format!("version = 1\n{entry}{entry}"))).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].to_string(), "the reference is locked twice");
    }
}
