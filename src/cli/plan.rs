//! `compose-img plan`: the resolved graph as a tree, JSON or Graphviz.

use std::fmt::Write as _;

use super::access::{cache_options, registry_options, store_dir};
use super::args::PlanArgs;
use super::settings::{platforms, settings, vars};
use crate::Error;
use crate::compose::{self, PlanRequest, PlannedImage, PlannedLayer};

pub(super) fn run(args: &PlanArgs) -> Result<(), Error> {
    let settings = settings(&args.layers)?;
    let store = store_dir(args.layers.store.as_ref())?;
    let request = PlanRequest {
        recipes: &args.recipes,
        vars: &vars(&args.vars)?,
        store: &store,
        settings: &settings,
        platforms: &platforms(&args.layers)?,
        registry: &registry_options(&args.registry),
        locked: args.locked,
        cache: &cache_options(&args.cache)?,
    };
    let compose::Planned { images, notes, remarks, cache_warnings } = compose::plan_only(&request)?;
    for warning in &cache_warnings {
        eprintln!("warning: {}", crate::text::escape(warning));
    }
    for note in &notes {
        eprintln!("note: {}", crate::text::escape(note));
    }
    let text = if args.json {
        json(&images)
    } else if args.dot {
        dot(&images)
    } else {
        tree(&images)
    };
    eprint!("{}", super::render::remarks(&remarks, super::color()));
    print!("{text}");
    Ok(())
}

/// Where a build would get the layer: the store (`cached`), the shared
/// cache (`remote`), or neither (`build`).
fn state(layer: &PlannedLayer) -> &'static str {
    match (layer.key_known, layer.cached, layer.remote) {
        (false, ..) => "reads layers below",
        (true, true, _) => "cached",
        (true, false, Some(true)) => "remote",
        (true, false, _) => "build",
    }
}

fn tree(images: &[PlannedImage]) -> String {
    let mut out = String::new();
    for image in images {
        let base = match (image.parent, &image.parent_image) {
            (Some(p), _) => format!("from {}", images[p].recipe),
            (None, Some(reference)) => match &image.parent_digest {
                Some(digest) => format!("from image {reference}@{digest}"),
                None => format!("from image {reference}"),
            },
            (None, None) => "scratch".to_owned(),
        };
        let _ = writeln!(out, "{}  {} {} ({base})", image.recipe, image.image, image.platform);
        for (i, layer) in image.layers.iter().enumerate() {
            let branch = if i + 1 == image.layers.len() { "└─" } else { "├─" };
            let short = &layer.key.hex()[..12];
            let _ = writeln!(
                out,
                "{branch} {:<20} {:>6} entries  {:<6}  key {short}",
                layer.name,
                layer.entries,
                state(layer)
            );
        }
    }
    out
}

fn json(images: &[PlannedImage]) -> String {
    let value: Vec<serde_json::Value> = images
        .iter()
        .map(|image| {
            serde_json::json!({
                "recipe": image.recipe,
                "image": image.image,
                "platform": image.platform,
                "parent": image.parent.map(|p| images[p].recipe.clone()),
                "parent_image": image.parent_image,
                "parent_digest": image.parent_digest.as_ref().map(ToString::to_string),
                "layers": image.layers.iter().map(|l| serde_json::json!({
                    "name": l.name,
                    "entries": l.entries,
                    "key": l.key.to_string(),
                    "cached": l.cached,
                    "remote": l.remote,
                    "reads_lower": l.reads_lower,
                    "key_known": l.key_known,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    format!("{}\n", serde_json::Value::Array(value))
}

fn dot(images: &[PlannedImage]) -> String {
    let mut out = String::from("digraph compose_img {\n  rankdir=LR;\n");
    for (i, image) in images.iter().enumerate() {
        let _ = writeln!(out, "  image{i} [shape=box, label={:?}];", format!("{}\n{}", image.image, image.recipe));
        if let Some(parent) = image.parent {
            let _ = writeln!(out, "  image{parent} -> image{i};");
        }
        if let Some(reference) = &image.parent_image {
            let _ = writeln!(out, "  parent{i} [shape=cylinder, label={reference:?}];");
            let _ = writeln!(out, "  parent{i} -> image{i};");
        }
        for (j, layer) in image.layers.iter().enumerate() {
            let style = if layer.cached { "dashed" } else { "solid" };
            let label = format!("{} ({})", layer.name, state(layer));
            let _ = writeln!(out, "  layer{i}_{j} [label={label:?}, style={style}];");
            let _ = writeln!(out, "  layer{i}_{j} -> image{i};");
            if layer.reads_lower {
                for below in 0..j {
                    let _ = writeln!(out, "  layer{i}_{below} -> layer{i}_{j} [style=dotted];");
                }
                if let Some(parent) = image.parent {
                    let _ = writeln!(out, "  image{parent} -> layer{i}_{j} [style=dotted];");
                } else if image.parent_image.is_some() {
                    let _ = writeln!(out, "  parent{i} -> layer{i}_{j} [style=dotted];");
                }
            }
        }
    }
    out.push_str("}\n");
    out
}
