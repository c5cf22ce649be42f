//! `compose-img build`: flags and environment → a build request; results
//! printed one line per output (`REF DIGEST`) on stdout.

use super::access::{cache_options, registry_options, store_dir};
use super::args::BuildArgs;
use super::human::{human_bytes, push_line};
use super::settings::{platforms, settings, vars};
use crate::Error;
use crate::compose::{self, BuildRequest};
use crate::oci::reference::ImageRef;

pub(super) fn run(args: &BuildArgs, quiet: bool, verbose: bool) -> Result<(), Error> {
    let request = BuildRequest {
        recipes: args.recipes.clone(),
        outputs: args
            .output
            .iter()
            .map(|o| ImageRef::parse_output(o).map_err(|e| Error::Usage(e.to_string())))
            .collect::<Result<_, _>>()?,
        store: store_dir(args.layers.store.as_ref())?,
        settings: settings(&args.layers)?,
        reuse: !args.no_cache,
        registry: registry_options(&args.registry),
        platforms: platforms(&args.layers)?,
        vars: vars(&args.vars)?,
        deny_warnings: args.deny_warnings,
        sign_key: args.sign_key.as_deref().map(super::keys::private_key).transpose()?,
        sbom: args.sbom.as_deref().and_then(crate::recipe::SbomFormat::parse_setting),
        locked: args.locked,
        cache: cache_options(&args.cache)?,
        stages: Vec::new(),
    };
    let started = std::time::Instant::now();
    let summary = compose::build(&request, super::progress::reporter(quiet, verbose).as_ref())?;
    eprint!("{}", super::render::remarks(&summary.remarks, super::color()));
    for report in &summary.images {
        for output in &report.outputs {
            println!("{} {}", output.reference, report.manifest);
            if let (Some(push), false) = (output.push, quiet) {
                eprintln!("{}", push_line(&output.reference, &push));
            }
        }
    }
    for warning in &summary.cache_warnings {
        eprintln!("warning: {}", crate::text::escape(warning));
    }
    for note in &summary.lock_notes {
        eprintln!("note: {}", crate::text::escape(note));
    }
    if !quiet {
        for line in &summary.plugin_log {
            eprintln!("plugin {}", crate::text::escape(line));
        }
        let shared = match (summary.layers_from_cache, summary.cache_published) {
            (0, 0) => String::new(),
            (found, written) => format!(" ({found} from the shared cache, {written} written to it)"),
        };
        eprintln!(
            "layers: {} built, {} reused{shared}; {} written in {:.2}s",
            summary.layers_built,
            summary.layers_reused,
            human_bytes(summary.bytes_written),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
