//! `compose-img lock`: one line per change on stdout (`LOCKFILE: added REF
//! DIGEST`, `moved REF OLD -> NEW`, `removed REF`, `not locked REF`);
//! `--check` fails (exit 1) when it finds a moved or missing reference.

use super::args::LockArgs;
use crate::Error;
use crate::compose::{self, ChangeKind, LockAction, LockChange, LockRequest};
use crate::text::escape;

pub(super) fn run(args: &LockArgs, quiet: bool) -> Result<(), Error> {
    let action = match (&args.update, args.check) {
        (_, true) => LockAction::Check,
        (Some(references), false) => LockAction::Update(references.clone()),
        (None, false) => LockAction::Add,
    };
    let store = super::access::store_dir(args.access.store.as_ref())?;
    let registry = args.access.registry();
    let vars = super::settings::vars(&args.vars)?;
    let request = LockRequest { recipes: &args.recipes, vars: &vars, store: &store, registry: &registry, action };
    let changes = compose::lock(&request)?;
    for change in &changes {
        println!("{}", line(change));
    }
    if args.check {
        let stale: Vec<&str> = changes
            .iter()
            .filter(|c| matches!(c.kind, ChangeKind::Moved { .. } | ChangeKind::Unlocked))
            .map(|c| c.reference.as_str())
            .collect();
        if !stale.is_empty() {
            let what = if stale.len() == 1 { "1 reference" } else { "references" };
            return Err(Error::Failed(format!(
                "{what} moved or not locked: {}; run `compose-img lock --update` and commit the lock files",
                escape(&stale.join(", "))
            )));
        }
    }
    if changes.is_empty() && !quiet {
        eprintln!("lock files up to date");
    }
    Ok(())
}

fn line(change: &LockChange) -> String {
    let LockChange { lock, reference, kind } = change;
    let text = match kind {
        ChangeKind::Added(digest) => format!("{lock}: added {reference} {digest}"),
        ChangeKind::Moved { old, new } => format!("{lock}: moved {reference} {old} -> {new}"),
        ChangeKind::Removed => format!("{lock}: removed {reference}"),
        ChangeKind::Unlocked => format!("{lock}: not locked {reference}"),
    };
    escape(&text).into_owned()
}
