//! The lock files of a build's recipes (`crate::lock`). They are read
//! first: with `--locked`, a reference one lacks is refused there, pointing
//! at the recipe entry that names it. Once the store is open, what they
//! lack is resolved and every unit's parent image is pinned to the manifest
//! its lock file records; the lock files that changed are written (each
//! change with a note) once the build has succeeded.

use crate::lock::{Lock, Pin, Resolver};
use crate::oci::platform::Platform;
use crate::plan::graph::RecipeGraph;
use crate::recipe::{Base, LocatedError};
use crate::registry::ClientOptions;
use crate::store::Store;

use super::ComposeError;
use super::units::Units;

/// The lock file of each recipe that names an image (by recipe).
pub(super) struct Locks {
    by_recipe: Vec<Option<Lock>>,
    /// One line per reference locked by [`Locks::pin`], by recipe: what
    /// [`Locks::save`] writes.
    added: Vec<(usize, String)>,
}

impl Locks {
    /// Reads the lock file of every recipe of `graph` that names an image;
    /// with `locked`, refuses the references they lack for `units`.
    pub(super) fn load(graph: &RecipeGraph, units: &Units, locked: bool) -> Result<Locks, ComposeError> {
        let mut by_recipe = Vec::new();
        for (index, recipe) in graph.recipes.iter().enumerate() {
            let Base::Image { reference, written, loc, .. } = &recipe.from else {
                by_recipe.push(None);
                continue;
            };
            let lock = Lock::beside(&recipe.path, &recipe.file.name)?;
            let built: Vec<Platform> =
                units.of_recipe[index].iter().map(|&u| units.units[u].platform.clone()).collect();
            let missing = lock.missing(written, reference, &built);
            if locked && !missing.is_empty() {
                let error = unlocked(loc, written, &lock, &missing, &recipe.image.platforms);
                let errors = vec![error.with_help(format!(
                    "run `compose-img lock {}` and commit {}, or build without --locked",
                    recipe.file.name, lock.name
                ))];
                return Err(crate::lock::LockError::Unlocked { recipe: recipe.file.name.clone(), errors }.into());
            }
            by_recipe.push(Some(lock));
        }
        Ok(Locks { by_recipe, added: Vec::new() })
    }

    /// Locks what the lock files lack (every platform of each recipe, in
    /// memory) and pins each unit's parent image (by unit).
    pub(super) fn pin(
        &mut self,
        graph: &RecipeGraph,
        units: &Units,
        store: &Store,
        options: &ClientOptions,
    ) -> Result<Vec<Option<Pin>>, ComposeError> {
        let mut resolver = Resolver::new(store, options);
        for (index, (recipe, lock)) in graph.recipes.iter().zip(&mut self.by_recipe).enumerate() {
            let (Base::Image { reference, written, .. }, Some(lock)) = (&recipe.from, lock) else { continue };
            if let Some(locked) = lock.resolve(written, reference, &recipe.image.platforms, &mut resolver)? {
                self.added.push((index, format!("{}: locked {written} at {}", lock.name, locked.digest)));
            }
        }
        Ok(units
            .units
            .iter()
            .map(|unit| {
                let recipe = &graph.recipes[unit.recipe];
                match (&recipe.from, &self.by_recipe[unit.recipe]) {
                    (Base::Image { reference, written, .. }, Some(lock)) => {
                        lock.pin(written, reference, &unit.platform)
                    }
                    _ => None,
                }
            })
            .collect())
    }

    /// Writes the lock files [`Locks::pin`] added to; one note per
    /// reference added.
    pub(super) fn save(self) -> Result<Vec<String>, ComposeError> {
        for (index, _) in &self.added {
            if let Some(lock) = &self.by_recipe[*index] {
                lock.save()?;
            }
        }
        Ok(self.added.into_iter().map(|(_, note)| note).collect())
    }
}

/// `written` (at `loc`) lacks `missing` of the recipe's `platforms` in `lock`.
fn unlocked(
    loc: &crate::recipe::Loc,
    written: &str,
    lock: &Lock,
    missing: &[Platform],
    platforms: &[Platform],
) -> LocatedError {
    let message = if lock.references().all(|r| r != written) {
        format!("`{written}` is not in {}", lock.name)
    } else if missing.len() == platforms.len() {
        format!("`{written}` is locked in {} at another digest than it names", lock.name)
    } else {
        let list: Vec<String> = missing.iter().map(Platform::to_string).collect();
        format!("`{written}` is not locked for {} in {}", list.join(", "), lock.name)
    };
    loc.error(message, "not locked")
}
