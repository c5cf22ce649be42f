//! `compose-img lock`: every image the recipes (and their parent recipes)
//! name, resolved and recorded in each recipe's lock file; `--update`
//! re-resolves all or some, `--check` compares without writing.

use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::lock::{Lock, Locked, Resolver};
use crate::recipe::Recipe;
use crate::recipe::vars::Given;
use crate::registry::ClientOptions;
use crate::store::Store;

use super::{ComposeError, load};

/// What `compose-img lock` does to each reference.
#[derive(Clone, Debug)]
pub(crate) enum LockAction {
    /// Lock what the lock files lack; keep what they have.
    Add,
    /// Resolve these references again (every one when empty).
    Update(Vec<String>),
    /// Resolve every reference and compare; write nothing.
    Check,
}

pub(crate) struct LockRequest<'a> {
    pub recipes: &'a [PathBuf],
    /// `--var NAME=VALUE`: the recipes' variables.
    pub vars: &'a Given,
    pub store: &'a Path,
    pub registry: &'a ClientOptions,
    pub action: LockAction,
}

/// One change to (or, for `--check`, found in) a lock file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct LockChange {
    /// The lock file, as messages name it.
    pub lock: String,
    /// The reference as the recipe writes it.
    pub reference: String,
    pub kind: ChangeKind,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ChangeKind {
    /// Locked for the first time (or for more platforms).
    Added(Digest),
    /// The reference names something else now.
    Moved { old: Digest, new: Digest },
    /// No recipe names it any more.
    Removed,
    /// `--check`: the lock file lacks it (or some of its platforms).
    Unlocked,
}

/// Runs `compose-img lock`; returns what changed (what would, for `--check`).
pub(crate) fn lock(request: &LockRequest) -> Result<Vec<LockChange>, ComposeError> {
    let graph = load(request.recipes, request.vars)?;
    let named: Vec<&str> =
        graph.recipes.iter().flat_map(|r| super::locks::images_of(r)).map(|(written, _, _)| written).collect();
    if let LockAction::Update(asked) = &request.action
        && let Some(unknown) = asked.iter().find(|r| !named.contains(&r.as_str()))
    {
        let names = if named.is_empty() { "none".to_owned() } else { named.join(", ") };
        return Err(ComposeError::Usage(format!(
            "--update {unknown}: no recipe names this reference (exactly as written; they name: {names})"
        )));
    }
    let store = Store::open(request.store)?;
    let mut resolver = Resolver::new(&store, request.registry);
    let mut changes = Vec::new();
    for recipe in &graph.recipes {
        changes.extend(lock_recipe(recipe, &request.action, &mut resolver)?);
    }
    Ok(changes)
}

/// The lock file of `recipe`, brought up to date as `action` asks.
fn lock_recipe(recipe: &Recipe, action: &LockAction, resolver: &mut Resolver) -> Result<Vec<LockChange>, ComposeError> {
    let mut lock = Lock::beside(&recipe.path, &recipe.file.name)?;
    let name = lock.name.clone();
    let change = |reference: &str, kind| LockChange { lock: name.clone(), reference: reference.to_owned(), kind };
    let mut changes = Vec::new();
    let images = super::locks::images_of(recipe);
    for &(written, reference, _) in &images {
        let platforms = &recipe.image.platforms;
        let fresh = match action {
            LockAction::Add => false,
            LockAction::Update(asked) => asked.is_empty() || asked.iter().any(|a| a == written),
            LockAction::Check => true,
        };
        if fresh {
            let now = Locked::from(resolver.resolve(reference, platforms)?);
            let old = lock.get(written, reference).cloned();
            let missing = !lock.missing(written, reference, platforms).is_empty();
            match (&old, action) {
                (Some(old), _) if old.digest != now.digest => {
                    changes
                        .push(change(written, ChangeKind::Moved { old: old.digest.clone(), new: now.digest.clone() }));
                }
                (_, LockAction::Check) if missing => changes.push(change(written, ChangeKind::Unlocked)),
                (None, _) => changes.push(change(written, ChangeKind::Added(now.digest.clone()))),
                (Some(_), _) => {}
            }
            lock.set(written, now);
        } else if let Some(locked) = lock.resolve(written, reference, platforms, resolver)? {
            changes.push(change(written, ChangeKind::Added(locked.digest)));
        }
    }
    for removed in lock.retain(|r| images.iter().any(|(written, _, _)| *written == r)) {
        changes.push(change(&removed, ChangeKind::Removed));
    }
    if !matches!(action, LockAction::Check) {
        lock.save()?;
    }
    Ok(changes)
}
