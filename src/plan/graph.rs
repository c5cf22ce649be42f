//! The recipe graph: the recipes named on the command line and, through
//! `from.recipe`, their parents, each loaded once however many children
//! name it, ordered parents first. A cycle is an error that names every
//! recipe on it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::oci::platform::Platform;
use crate::recipe::vars::Given;
use crate::recipe::{self, Base, Loc, Recipe, RecipeError};

#[derive(Debug)]
pub(crate) struct RecipeGraph {
    /// Every recipe, each parent before its children.
    pub recipes: Vec<Arc<Recipe>>,
    /// Index (into `recipes`) of each recipe's parent recipe.
    pub parents: Vec<Option<usize>>,
    /// The recipes named on the command line, in that order, without repeats.
    pub roots: Vec<usize>,
    /// By recipe: when it uses a per-platform variable (`${arch}`, ...),
    /// the recipe loaded for each of its other platforms (`recipes` holds
    /// it for its first).
    pub variants: Vec<Vec<(Platform, Arc<Recipe>)>>,
}

impl RecipeGraph {
    /// Tells every recipe which host paths no copy takes
    /// ([`Recipe::never_copied`]); only the first call counts.
    pub(crate) fn never_copy(&self, paths: Arc<[PathBuf]>) {
        let all = self.recipes.iter().chain(self.variants.iter().flatten().map(|(_, recipe)| recipe));
        for recipe in all {
            let _ = recipe.never_copied.set(Arc::clone(&paths));
        }
    }

    /// Recipe `index` as loaded for `platform`.
    pub(crate) fn recipe_for(&self, index: usize, platform: &Platform) -> &Arc<Recipe> {
        self.variants[index].iter().find(|(p, _)| p == platform).map_or(&self.recipes[index], |(_, recipe)| recipe)
    }
}

/// Loads `paths` and their parent recipes with the variables `given`
/// (`--var`), each of which some recipe must declare. Every recipe that
/// fails to load is reported.
pub(crate) fn load(paths: &[PathBuf], given: &Given) -> Result<RecipeGraph, Vec<RecipeError>> {
    let mut loader = Loader { given: given.clone(), ..Loader::default() };
    let mut roots = Vec::new();
    for path in paths {
        if let Some(index) = loader.visit(path, &mut Vec::new())
            && !roots.contains(&index)
        {
            roots.push(index);
        }
    }
    if loader.errors.is_empty() {
        loader.undeclared(paths);
    }
    if loader.errors.is_empty() {
        let Loader { recipes, parents, variants, .. } = loader;
        Ok(RecipeGraph { recipes, parents, roots, variants })
    } else {
        Err(loader.errors)
    }
}

#[derive(Default)]
struct Loader {
    given: Given,
    recipes: Vec<Arc<Recipe>>,
    variants: Vec<Vec<(Platform, Arc<Recipe>)>>,
    parents: Vec<Option<usize>>,
    by_path: BTreeMap<PathBuf, usize>,
    /// Recipes that failed, so each is reported once.
    failed: BTreeSet<PathBuf>,
    errors: Vec<RecipeError>,
}

/// A recipe being loaded: its identity, how it was named, and the
/// `from.recipe` entry that leads on to the next one on the stack.
struct Step {
    key: PathBuf,
    shown: String,
    edge: Option<Loc>,
}

impl Loader {
    fn visit(&mut self, path: &Path, stack: &mut Vec<Step>) -> Option<usize> {
        let key = match std::fs::canonicalize(path) {
            Ok(key) => key,
            Err(source) => {
                self.fail(path.to_owned(), RecipeError::Read { path: path.to_owned(), source });
                return None;
            }
        };
        if let Some(&index) = self.by_path.get(&key) {
            return Some(index);
        }
        if self.failed.contains(&key) {
            return None;
        }
        if let Some(start) = stack.iter().position(|s| s.key == key) {
            self.cycle(&stack[start..], path);
            return None;
        }
        let recipe = match recipe::load(path, &self.given, None) {
            Ok(recipe) => recipe,
            Err(e) => {
                self.fail(key, e);
                return None;
            }
        };
        let parent = match &recipe.from {
            Base::Recipe { path: parent, loc } => {
                stack.push(Step { key: key.clone(), shown: recipe.file.name.clone(), edge: Some(loc.clone()) });
                let parent = self.visit(parent, stack);
                stack.pop();
                Some(parent?)
            }
            _ => None,
        };
        let variants = match self.variants_of(&recipe, path) {
            Ok(variants) => variants,
            Err(e) => {
                self.fail(key, e);
                return None;
            }
        };
        let index = self.recipes.len();
        self.recipes.push(Arc::new(recipe));
        self.variants.push(variants);
        self.parents.push(parent);
        self.by_path.insert(key, index);
        Some(index)
    }

    /// `recipe` loaded again for each platform but its first, when it
    /// uses a per-platform variable.
    fn variants_of(&self, recipe: &Recipe, path: &Path) -> Result<Vec<(Platform, Arc<Recipe>)>, RecipeError> {
        if !recipe.per_platform {
            return Ok(Vec::new());
        }
        let others = recipe.image.platforms.iter().skip(1);
        others.map(|p| Ok((p.clone(), Arc::new(recipe::load(path, &self.given, Some(p))?)))).collect()
    }

    /// An error for each `--var` that no recipe of the graph declares.
    fn undeclared(&mut self, paths: &[PathBuf]) {
        for name in self.given.0.keys() {
            if !self.recipes.iter().any(|r| r.vars.declared.contains_key(name)) {
                let recipes = paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
                self.errors.push(RecipeError::Undeclared { name: name.clone(), recipes });
            }
        }
    }

    fn fail(&mut self, key: PathBuf, error: RecipeError) {
        if self.failed.insert(key) {
            self.errors.push(error);
        }
    }

    /// Reports the cycle `steps[0] → ... → steps[n-1] → again`.
    fn cycle(&mut self, steps: &[Step], again: &Path) {
        let names: Vec<&str> = steps.iter().map(|s| s.shown.as_str()).collect();
        let chain = format!("{} → {}", names.join(" → "), again.display());
        let Some(edge) = steps.last().and_then(|s| s.edge.as_ref()) else { return };
        let error = if steps.len() == 1 {
            edge.error(format!("recipe cycle: {chain} (the recipe names itself)"), "closes the cycle")
        } else {
            edge.error(format!("recipe cycle: {chain}"), "closes the cycle")
        };
        self.errors.push(RecipeError::Invalid { file: steps[steps.len() - 1].shown.clone(), errors: vec![error] });
        for step in steps {
            self.failed.insert(step.key.clone());
        }
    }
}
