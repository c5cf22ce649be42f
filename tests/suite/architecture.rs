//! Stages only look down: every `crate::…` path in a stage's files names
//! the stage itself or one below it, in the order docs/architecture.md
//! writes down once.

use std::fs;
use std::path::{Path, PathBuf};

fn stage_order(root: &Path) -> Vec<String> {
    let doc = fs::read_to_string(root.join("docs/architecture.md")).expect("docs/architecture.md");
    let start = doc.find("<!-- stages -->").expect("start marker");
    let end = doc.find("<!-- /stages -->").expect("end marker");
    doc[start..end]
        .lines()
        .filter_map(|line| {
            let (_, rest) = line.split_once(". `")?;
            Some(rest.split('`').next()?.to_owned())
        })
        .collect()
}

#[allow(clippy::disallowed_methods, reason = "the findings are sorted before they are shown")]
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The stages a file names: `crate::stage` anywhere outside comments, and
/// each item of `use crate::{a, b::c}`; `crate::Error` is the `error` stage.
fn named_stages(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or_default();
                found.extend(inner.split(',').map(|item| head(item.trim())));
            } else {
                found.push(head(rest));
            }
        }
    }
    found.retain(|s| !s.is_empty() && s != "self");
    found
}

fn head(path: &str) -> String {
    let name: String = path.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    if name == "Error" { "error".to_owned() } else { name }
}

#[test]
fn stages_only_look_down() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let order = stage_order(root);
    assert!(order.len() > 10 && order.contains(&"oci".to_owned()), "stage list not found: {order:?}");
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(root.join("src")).expect("under src");
        let first = rel.components().next().expect("a component").as_os_str().to_string_lossy();
        let stage = first.trim_end_matches(".rs").to_owned();
        if stage == "lib" || stage == "main" {
            continue;
        }
        let Some(rank) = order.iter().position(|s| *s == stage) else {
            wrong.push(format!("{}: stage `{stage}` is not in docs/architecture.md", rel.display()));
            continue;
        };
        let text = fs::read_to_string(file).expect("source");
        for named in named_stages(&text) {
            match order.iter().position(|s| *s == named) {
                None => wrong.push(format!("{}: names `crate::{named}`, which no stage is", rel.display())),
                Some(other) if other < rank => {
                    wrong.push(format!("{}: stage `{stage}` names `{named}`, a stage above it", rel.display()))
                }
                Some(_) => {}
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(wrong.is_empty(), "upward imports:\n{}", wrong.join("\n"));
}

#[test]
fn the_check_sees_grouped_and_inline_paths() {
    let named = named_stages("use crate::{oci::media, Error};\nlet x = crate::plugins::load(y);\n// crate::cli\n");
    assert_eq!(named, ["oci", "error", "plugins"]);
}
