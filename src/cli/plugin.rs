//! `compose-img plugin test SCRIPT [--with KEY=VALUE]… [--lower REF]`: runs
//! a layer hook on the merged files of an image (or on nothing) and prints
//! the entries it would add, one a line (with `--content`, each file's
//! text below it), or as JSON; what the hook prints
//! goes to stderr. Nothing is built and nothing is written but the store's
//! copy of `--lower`.

use std::path::PathBuf;
use std::sync::Arc;

use super::args::PluginTestArgs;
use super::human::human_bytes;
use crate::Error;
use crate::inspect;
use crate::oci::platform::parse_platform;
use crate::oci::reference::ImageRef;
use crate::plugins::ctx::Setting;
use crate::plugins::lower::{LowerFs, LowerLayer};
use crate::recipe::{EntryKind, Loc, PluginUse, SourceFile};
use crate::text::escape;

pub(super) fn test(args: &PluginTestArgs) -> Result<(), Error> {
    let with = with_table(&args.with)?;
    let mut text = format!("compose-img plugin test {}", args.script);
    for pair in &args.with {
        text.push_str(&format!(" --with {pair}"));
    }
    let file = Arc::new(SourceFile { name: "the command line".into(), text: text.as_str().into() });
    let span = "compose-img plugin test ".len()..text.len();
    let entry =
        PluginUse { script: PathBuf::from(&args.script), shown: args.script.clone(), with, loc: Loc { file, span } };
    let (lower, platform) = lower(args, &entry)?;
    let setting =
        Setting { recipe_dir: PathBuf::new(), platform, source_date_epoch: args.epoch, lower: Some(Arc::new(lower)) };
    let (result, log) = crate::plugins::run_layer_alone(&entry, setting);
    for line in log {
        eprintln!("plugin {}: {}", args.script, escape(&line));
    }
    let entries = result.map_err(Error::Plugin)?;
    if args.read.json {
        let rows: Vec<serde_json::Value> = entries.iter().map(json_row).collect();
        let text = serde_json::to_string_pretty(&rows).map_err(|e| Error::Failed(e.to_string()))?;
        println!("{text}");
    } else {
        for entry in &entries {
            println!("{}", escape(&line(entry)));
            if let (true, EntryKind::File { content, .. }) = (args.content, entry) {
                print_content(content);
            }
        }
    }
    Ok(())
}

/// The `--with` pairs as a table: each VALUE a TOML value, or else a string.
fn with_table(pairs: &[String]) -> Result<serde_json::Value, Error> {
    let mut table = serde_json::Map::new();
    for pair in pairs {
        let (key, value) = pair
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| Error::Usage(format!("--with {pair}: write KEY=VALUE")))?;
        let parsed: Option<serde_json::Value> = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|t| t.get("v").and_then(|v| serde_json::to_value(v).ok()));
        if table.insert(key.to_owned(), parsed.unwrap_or_else(|| value.into())).is_some() {
            return Err(Error::Usage(format!("--with {key}: given twice")));
        }
    }
    Ok(serde_json::Value::Object(table))
}

/// The merged files of `--lower` (or none) and the platform the hook sees.
fn lower(args: &PluginTestArgs, entry: &PluginUse) -> Result<(LowerFs, crate::oci::platform::Platform), Error> {
    let wanted = args
        .read
        .platform
        .as_deref()
        .map(|p| parse_platform(p).map_err(|e| Error::Usage(format!("--platform: {e}"))))
        .transpose()?;
    let Some(reference) = &args.lower else {
        return Ok((LowerFs::empty(), wanted.unwrap_or_else(inspect::default_platform)));
    };
    let reference = ImageRef::parse(reference).map_err(|e| Error::Usage(format!("--lower: {e}")))?;
    let store = args.read.access.open_store()?;
    let opened = inspect::open(&reference, wanted.as_ref(), &store, &args.read.access.registry())
        .map_err(|e| if e.is_usage() { Error::Usage(e.to_string()) } else { Error::Inspect(e) })?;
    let image = opened.image();
    let layers = image.layers.iter().map(|l| LowerLayer {
        path: store.blob_path(&l.digest),
        media_type: l.media_type,
        diff_id: l.diff_id.clone(),
    });
    let lower = LowerFs::open(layers.collect()).map_err(|e| Error::Plugin(entry.loc.error(e.to_string(), "plugin")))?;
    Ok((lower, image.platform.clone()))
}

/// The largest content `--content` prints.
const MAX_SHOWN: usize = 64 << 10;

/// A file's content under its line, control characters made visible.
fn print_content(content: &[u8]) {
    match std::str::from_utf8(content) {
        Ok(text) if text.len() <= MAX_SHOWN => {
            for line in text.lines() {
                println!("  | {}", escape(line));
            }
        }
        Ok(_) => println!("  | (over {} KiB: not shown)", MAX_SHOWN >> 10),
        Err(_) => println!("  | (binary: not shown)"),
    }
}

fn owner(uid: u32, gid: u32) -> String {
    format!("{uid}:{gid}")
}

/// One entry as a line: `file /etc/passwd 0644 0:0 120 B sha256:…`.
fn line(entry: &EntryKind) -> String {
    match entry {
        EntryKind::File { path, content, mode, owner: o } => format!(
            "file     /{} {mode:04o} {} {} {}",
            path.as_str(),
            owner(o.uid, o.gid),
            human_bytes(content.len() as u64),
            crate::digest::Digest::of(content)
        ),
        EntryKind::Dir { path, mode, owner: o } => {
            format!("dir      /{} {mode:04o} {}", path.as_str(), owner(o.uid, o.gid))
        }
        EntryKind::Symlink { path, target, owner: o } => {
            format!("symlink  /{} -> {target} {}", path.as_str(), owner(o.uid, o.gid))
        }
        EntryKind::Hardlink { path, target } => format!("hardlink /{} => /{}", path.as_str(), target.as_str()),
        EntryKind::Remove { path, opaque: false } => format!("remove   /{}", path.as_str()),
        EntryKind::Remove { path, opaque: true } => format!("remove   /{}/*", path.as_str()),
        EntryKind::Copy(copy) => {
            format!("copy     {} -> /{}{}", copy.src, copy.dest.as_str(), if copy.dest_is_dir { "/" } else { "" })
        }
        EntryKind::Plugin(p) => format!("plugin   {}", p.shown),
    }
}

fn json_row(entry: &EntryKind) -> serde_json::Value {
    use serde_json::json;
    match entry {
        EntryKind::File { path, content, mode, owner: o } => json!({
            "kind": "file", "path": format!("/{}", path.as_str()), "mode": format!("{mode:04o}"), "uid": o.uid,
            "gid": o.gid, "size": content.len(), "digest": crate::digest::Digest::of(content).to_string(),
        }),
        EntryKind::Dir { path, mode, owner: o } => {
            json!({ "kind": "dir", "path": format!("/{}", path.as_str()), "mode": format!("{mode:04o}"), "uid": o.uid, "gid": o.gid })
        }
        EntryKind::Symlink { path, target, owner: o } => {
            json!({ "kind": "symlink", "path": format!("/{}", path.as_str()), "target": target, "uid": o.uid, "gid": o.gid })
        }
        EntryKind::Hardlink { path, target } => {
            json!({ "kind": "hardlink", "path": format!("/{}", path.as_str()), "target": format!("/{}", target.as_str()) })
        }
        EntryKind::Remove { path, opaque } => {
            json!({ "kind": "remove", "path": format!("/{}", path.as_str()), "opaque": opaque })
        }
        EntryKind::Copy(copy) => json!({ "kind": "copy", "src": copy.src, "dest": format!("/{}", copy.dest.as_str()) }),
        EntryKind::Plugin(p) => json!({ "kind": "plugin", "script": p.shown }),
    }
}
