//! The lock files of a build's recipes (`crate::lock`). They are read
//! first: with `--locked`, a reference one lacks is refused there, pointing
//! at the recipe entry that names it. Once the store is open, what they
//! lack is resolved and every unit's parent image is pinned to the manifest
//! its lock file records; the lock files that changed are written (each
//! change with a note) once the build has succeeded.

use crate::lock::{Lock, Pin, Resolver};
use crate::oci::platform::Platform;
use crate::oci::reference::ImageRef;
use crate::plan::graph::RecipeGraph;
use crate::recipe::{Base, EntryKind, Loc, LocatedError, Recipe};
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
    /// Whether [`Locks::resolve`] ran: the graph and units of a build do
    /// not change, so a second call would find nothing missing.
    resolved: bool,
}

impl Locks {
    /// Reads the lock file of every recipe of `graph` that names an image;
    /// with `locked`, refuses the references they lack for `units`.
    pub(super) fn load(graph: &RecipeGraph, units: &Units, locked: bool) -> Result<Locks, ComposeError> {
        let mut by_recipe = Vec::new();
        for (index, recipe) in graph.recipes.iter().enumerate() {
            let unit_images: Vec<(Platform, Vec<Named<'_>>)> = units.of_recipe[index]
                .iter()
                .map(|&u| {
                    let platform = &units.units[u].platform;
                    (platform.clone(), images_of(graph.recipe_for(index, platform)))
                })
                .collect();
            if unit_images.iter().all(|(_, images)| images.is_empty()) {
                by_recipe.push(None);
                continue;
            }
            let lock = Lock::beside(&recipe.path, &recipe.file.name)?;
            for (platform, images) in &unit_images {
                for (written, reference, loc) in images {
                    let missing = lock.missing(written, reference, std::slice::from_ref(platform));
                    if locked && !missing.is_empty() {
                        let error = unlocked(loc, written, &lock, &missing, &recipe.image.platforms);
                        let errors = vec![error.with_help(format!(
                            "run `compose-img lock {}` and commit {}, or build without --locked",
                            recipe.file.name, lock.name
                        ))];
                        let recipe = recipe.file.name.clone();
                        return Err(crate::lock::LockError::Unlocked { recipe, errors }.into());
                    }
                }
            }
            by_recipe.push(Some(lock));
        }
        Ok(Locks { by_recipe, added: Vec::new(), resolved: false })
    }

    /// Locks what the lock files lack of every image the recipes name
    /// (their `from.image` and copy sources), for the platforms built;
    /// once a build (extracting copy sources resolves them first, before
    /// [`Locks::pin`] would).
    pub(super) fn resolve(
        &mut self,
        graph: &RecipeGraph,
        units: &Units,
        resolver: &mut Resolver,
    ) -> Result<(), ComposeError> {
        if self.resolved {
            return Ok(());
        }
        for (index, recipe) in graph.recipes.iter().enumerate() {
            let Some(lock) = &mut self.by_recipe[index] else { continue };
            for &unit in &units.of_recipe[index] {
                let platform = &units.units[unit].platform;
                // The parent is locked for every platform of the recipe at once.
                let platforms = match &recipe.from {
                    Base::Image { .. } => recipe.image.platforms.clone(),
                    _ => vec![platform.clone()],
                };
                for (written, reference, _) in images_of(graph.recipe_for(index, platform)) {
                    let platforms =
                        if is_parent(recipe, written) { &platforms } else { std::slice::from_ref(platform) };
                    if let Some(locked) = lock.resolve(written, reference, platforms, resolver)? {
                        self.added.push((index, format!("{}: locked {written} at {}", lock.name, locked.digest)));
                    }
                }
            }
        }
        self.resolved = true;
        Ok(())
    }

    /// What to fetch for the copy source `written` of recipe `index` on
    /// `platform` (once [`Locks::resolve`] ran).
    pub(super) fn pin_source(
        &self,
        index: usize,
        written: &str,
        reference: &ImageRef,
        platform: &Platform,
    ) -> Option<Pin> {
        self.by_recipe[index].as_ref()?.pin(written, reference, platform)
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
        self.resolve(graph, units, &mut Resolver::new(store, options))?;
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

/// An image a recipe names: as written, resolved, and where.
pub(super) type Named<'a> = (&'a str, &'a ImageRef, &'a Loc);

/// The images `recipe` names: its `from.image`, then its copy sources.
pub(super) fn images_of(recipe: &Recipe) -> Vec<Named<'_>> {
    let parent = match &recipe.from {
        Base::Image { reference, written, loc, .. } => Some((written.as_str(), reference, loc)),
        _ => None,
    };
    let entries = recipe.layers.iter().flat_map(|layer| &layer.entries);
    let sources = entries.filter_map(|entry| match &entry.kind {
        EntryKind::Copy(copy) => copy
            .from
            .as_ref()
            .filter(|from| from.recipe.is_none())
            .map(|from| (from.name.as_str(), &from.reference, &entry.loc)),
        _ => None,
    });
    parent.into_iter().chain(sources).collect()
}

/// Whether `written` is the `from.image` of `recipe`.
fn is_parent(recipe: &Recipe, written: &str) -> bool {
    matches!(&recipe.from, Base::Image { written: parent, .. } if parent == written)
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
