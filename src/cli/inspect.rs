//! `inspect`, `history`, `ls`, `diff` and `du`: aligned tables with
//! human-readable sizes, or `--json` for scripts.

use crate::text::escape;
use std::io::Write;

use super::args::{DiffArgs, DuArgs, HistoryArgs, InspectArgs, LsArgs, ReadArgs, UnpackArgs};
use super::human::human_bytes;
use crate::Error;
use crate::inspect::{self, InspectError, Opened, files, unpack, usage};
use crate::oci::platform::parse_platform;
use crate::oci::reference::ImageRef;
use crate::store::Store;

/// An inspect failure as the command's error; a usage-kind one (a bad
/// `--layer`) is a usage error, which exits 2.
fn failed(error: InspectError) -> Error {
    if error.is_usage() { Error::Usage(error.to_string()) } else { Error::Inspect(error) }
}

fn platform(args: &ReadArgs) -> Result<Option<crate::oci::platform::Platform>, Error> {
    args.platform
        .as_deref()
        .map(|p| parse_platform(p).map_err(|e| Error::Usage(format!("--platform: {e}"))))
        .transpose()
}

fn open(text: &str, args: &ReadArgs, store: &Store) -> Result<Opened, Error> {
    let reference = ImageRef::parse(text).map_err(|e| Error::Usage(e.to_string()))?;
    let platform = platform(args)?;
    inspect::open(&reference, platform.as_ref(), store, &args.access.registry()).map_err(failed)
}

fn store(args: &ReadArgs) -> Result<Store, Error> {
    args.access.open_store()
}

fn json(value: &impl serde::Serialize) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|source| failed(InspectError::Json { what: "the report", source }))?;
    println!("{text}");
    Ok(())
}

/// Left-aligned columns, each as wide as its widest cell.
/// Every cell has its control characters written visibly: names, labels
/// and history come from the image.
fn table(rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> =
        rows.iter().map(|row| row.iter().map(|cell| escape(cell).into_owned()).collect()).collect();
    let rows = &rows;
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(
                |(i, cell)| {
                    if i + 1 == row.len() { cell.clone() } else { format!("{cell:<width$}", width = widths[i]) }
                },
            )
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn short(digest: &str) -> String {
    digest.trim_start_matches("sha256:").chars().take(12).collect()
}

pub(super) fn inspect(args: &InspectArgs) -> Result<(), Error> {
    let store = store(&args.read)?;
    if args.raw || args.config {
        let reference = ImageRef::parse(&args.image).map_err(|e| Error::Usage(e.to_string()))?;
        let platform = platform(&args.read)?;
        let registry = args.read.access.registry();
        let bytes =
            inspect::raw_document(&reference, platform.as_ref(), args.config, &store, &registry).map_err(failed)?;
        let _ = std::io::stdout().write_all(&bytes);
        return Ok(());
    }
    let opened = open(&args.image, &args.read, &store)?;
    let report = inspect::inspect(&opened, &store).map_err(failed)?;
    if args.read.json {
        return json(&report);
    }
    let mut out = String::new();
    let mut field = |name: &str, value: String| {
        if !value.is_empty() {
            out.push_str(&format!("{name:<13} {}\n", escape(&value)));
        }
    };
    field("Name", report.reference.clone());
    field("Digest", report.digest.clone());
    field("MediaType", report.media_type.clone());
    for p in &report.platforms {
        field("Platforms", format!("{} {}", p.platform, p.digest));
    }
    if !report.platforms.is_empty() {
        field("Manifest", report.manifest.clone());
    }
    field("Platform", report.platform.clone());
    field("Config", report.config_digest.clone());
    field("Created", report.created.clone().unwrap_or_default());
    let list = |v: &Option<Vec<String>>| v.as_ref().map(|v| format!("{v:?}")).unwrap_or_default();
    field("Entrypoint", list(&report.entrypoint));
    field("Cmd", list(&report.cmd));
    field("User", report.user.clone().unwrap_or_default());
    field("WorkingDir", report.workdir.clone().unwrap_or_default());
    for env in &report.env {
        field("Env", env.clone());
    }
    for (k, v) in &report.labels {
        field("Label", format!("{k}={v}"));
    }
    field("ExposedPorts", report.exposed_ports.join(" "));
    field("Volumes", report.volumes.join(" "));
    field("StopSignal", report.stop_signal.clone().unwrap_or_default());
    for (k, v) in &report.annotations {
        field("Annotation", format!("{k}={v}"));
    }
    print!("{out}");
    let mut rows = vec![["LAYER", "MEDIA TYPE", "SIZE", "UNCOMPRESSED", "CREATED BY"].map(String::from).to_vec()];
    for layer in &report.layers {
        rows.push(vec![
            short(&layer.digest),
            layer.media_type.rsplit('/').next().unwrap_or_default().to_owned(),
            human_bytes(layer.size),
            human_bytes(layer.uncompressed_size),
            layer.created_by.clone(),
        ]);
    }
    print!("\n{}", table(&rows));
    Ok(())
}

pub(super) fn history(args: &HistoryArgs) -> Result<(), Error> {
    let store = store(&args.read)?;
    let opened = open(&args.image, &args.read, &store)?;
    let rows = inspect::history(&opened, &store).map_err(failed)?;
    if args.read.json {
        return json(&rows);
    }
    let mut table_rows = vec![["LAYER", "CREATED", "CREATED BY", "SIZE", "COMMENT"].map(String::from).to_vec()];
    for row in rows {
        let mut created_by = row.created_by.replace('\n', " ");
        if !args.no_trunc && created_by.chars().count() > 45 {
            created_by = created_by.chars().take(44).collect::<String>() + "…";
        }
        table_rows.push(vec![
            row.layer.as_deref().map_or("<missing>".to_owned(), short),
            row.created.unwrap_or_default(),
            created_by,
            human_bytes(row.size),
            row.comment.unwrap_or_default(),
        ]);
    }
    print!("{}", table(&table_rows));
    Ok(())
}

fn mode_string(kind: &str, mode: u32) -> String {
    let first = match kind {
        "dir" => 'd',
        "symlink" => 'l',
        "device" => 'c',
        "fifo" => 'p',
        "whiteout" | "opaque" => 'w',
        _ => '-',
    };
    let mut text = String::from(first);
    for (shift, special, letter) in [(6, 0o4000, 's'), (3, 0o2000, 's'), (0, 0o1000, 't')] {
        let bits = (mode >> shift) & 7;
        text.push(if bits & 4 != 0 { 'r' } else { '-' });
        text.push(if bits & 2 != 0 { 'w' } else { '-' });
        text.push(match (bits & 1 != 0, mode & special != 0) {
            (true, true) => letter,
            (false, true) => letter.to_ascii_uppercase(),
            (true, false) => 'x',
            (false, false) => '-',
        });
    }
    text
}

pub(super) fn ls(args: &LsArgs) -> Result<(), Error> {
    let store = store(&args.read)?;
    let opened = open(&args.image, &args.read, &store)?;
    let rows = files::list(&opened, &store, &args.path, args.layer).map_err(failed)?;
    if args.read.json {
        return json(&rows);
    }
    let mut table_rows = Vec::new();
    for row in rows {
        let name = match &row.link {
            Some(target) if row.kind == "hardlink" => format!("{} link to {target}", row.path),
            Some(target) => format!("{} -> {target}", row.path),
            None if row.kind == "whiteout" => format!("{} (removed)", row.path),
            None if row.kind == "opaque" => format!("{}/* (emptied)", row.path),
            None => row.path.clone(),
        };
        table_rows.push(vec![
            mode_string(row.kind, row.mode),
            format!("{}:{}", row.uid, row.gid),
            human_bytes(row.size),
            format!("layer {}", row.layer),
            name,
        ]);
    }
    print!("{}", table(&table_rows));
    Ok(())
}

pub(super) fn diff(args: &DiffArgs) -> Result<(), Error> {
    let store = store(&args.read)?;
    let second = match (&args.second, &args.other_platform) {
        (Some(second), _) => second,
        (None, Some(_)) => &args.first,
        (None, None) => {
            return Err(Error::Usage("diff: give a second image, or --other-platform to compare two platforms".into()));
        }
    };
    let first = open(&args.first, &args.read, &store)?;
    let second = match &args.other_platform {
        None => open(second, &args.read, &store)?,
        Some(other) => {
            let reference = ImageRef::parse(second).map_err(|e| Error::Usage(e.to_string()))?;
            let platform = parse_platform(other).map_err(|e| Error::Usage(format!("--other-platform: {e}")))?;
            inspect::open(&reference, Some(&platform), &store, &args.read.access.registry()).map_err(failed)?
        }
    };
    let difference = files::diff(&first, &second, &store).map_err(failed)?;
    let differs = difference.differs();
    if args.read.json {
        json(&difference)?;
    } else {
        print_difference(&difference);
    }
    if args.exit_code && differs {
        return Err(Error::Failed(format!("{} and {} differ", escape(&first.reference), escape(&second.reference))));
    }
    Ok(())
}

fn print_difference(difference: &files::Difference) {
    for change in &difference.config {
        println!(
            "~ config {}: {} -> {}",
            change.field,
            escape(&change.first.to_string()),
            escape(&change.second.to_string())
        );
    }
    for path in &difference.added {
        println!("A {}", escape(path));
    }
    for path in &difference.removed {
        println!("D {}", escape(path));
    }
    for changed in &difference.changed {
        println!("C {} ({})", escape(&changed.path), changed.what.join(", "));
    }
    for layer in &difference.layers_only_in_first {
        println!("- layer {layer}");
    }
    for layer in &difference.layers_only_in_second {
        println!("+ layer {layer}");
    }
}

pub(super) fn du(args: &DuArgs) -> Result<(), Error> {
    let store = store(&args.read)?;
    let opened = args.images.iter().map(|image| open(image, &args.read, &store)).collect::<Result<Vec<_>, _>>()?;
    let report = usage::usage(&opened);
    if args.read.json {
        return json(&report);
    }
    let mut rows = vec![["IMAGE", "SIZE", "SHARED", "VIRTUAL SIZE"].map(String::from).to_vec()];
    for image in &report.images {
        rows.push(vec![
            image.reference.clone(),
            human_bytes(image.unique_size),
            human_bytes(image.shared_size),
            human_bytes(image.virtual_size),
        ]);
    }
    rows.push(vec!["total".into(), human_bytes(report.total_size)]);
    print!("{}", table(&rows));
    let mut layers = vec![["BLOB", "SIZE", "USED BY"].map(String::from).to_vec()];
    for layer in &report.layers {
        layers.push(vec![short(&layer.digest), human_bytes(layer.size), layer.used_by.join(", ")]);
    }
    print!("\n{}", table(&layers));
    Ok(())
}

pub(super) fn unpack(args: &UnpackArgs, quiet: bool) -> Result<(), Error> {
    let store = store(&args.read)?;
    let opened = open(&args.image, &args.read, &store)?;
    let report = unpack::unpack(&opened, &store, &args.dir).map_err(failed)?;
    if args.read.json {
        return json(&serde_json::json!({
            "entries": report.entries,
            "skipped": report.skipped,
            "owners": report.owners,
        }));
    }
    if !report.owners.is_empty() {
        let record = unpack::write_owners(&args.dir, &report.owners).map_err(failed)?;
        if !quiet {
            eprintln!(
                "not root: the owners of {} entries are recorded in {}, not applied",
                report.owners.len(),
                record.display()
            );
        }
    }
    if !report.skipped.is_empty() && !quiet {
        eprintln!("warning: device nodes and fifos not created: {}", report.skipped.join(" "));
    }
    println!("unpacked {} entries of {} into {}", report.entries, opened.reference, args.dir.display());
    Ok(())
}
